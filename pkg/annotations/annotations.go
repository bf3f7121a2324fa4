// Package annotations names the OCI annotations specguard writes on the
// containers it adjusts, and reads back when it recovers its state.
package annotations

const (
	// RestartCount is the decimal restart count specguard assigned.
	RestartCount = "specguard.io/restart-count"
	// LogPath is the absolute container log file path.
	LogPath = "specguard.io/log-path"
	// QOSClass is Guaranteed, Burstable or BestEffort.
	QOSClass = "specguard.io/qos-class"
	// Rules lists, comma-separated, the rules that changed something.
	Rules = "specguard.io/rules"
	// Violations holds audit-mode findings, "rule: message" joined by "; ".
	Violations = "specguard.io/violations"
)
