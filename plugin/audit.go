package plugin

import (
	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/restarts"
)

// AuditRecord is one decision that changed or refused something, or for
// which an audit-mode rule reported something.
type AuditRecord struct {
	Pod          string              `json:"pod"`
	PodUID       string              `json:"podUID"`
	Container    string              `json:"container"`
	ContainerID  string              `json:"containerID"`
	Allowed      bool                `json:"allowed"`
	Reason       string              `json:"reason,omitempty"`
	RestartCount int                 `json:"restartCount"`
	CountSource  restarts.Source     `json:"restartCountSource"`
	Rules        []string            `json:"rules,omitempty"`
	Trace        []engine.TraceEntry `json:"trace,omitempty"`
	Violations   []engine.Finding    `json:"violations,omitempty"`
	Additions    []engine.Finding    `json:"additions,omitempty"`
}

// countDecision feeds the metrics; it is cheap and runs before the reply,
// so a scrape right after a container was created already counts it.
func (p *Plugin) countDecision(d *engine.Decision) {
	for _, t := range d.Trace {
		if t.Rule != engine.RuleMetadata && t.Action != "match" {
			p.cfg.Recorder.RuleAction(t.Rule, t.Action)
		}
	}
	for _, v := range d.Refusals {
		p.cfg.Recorder.Refusal(v.Rule)
	}
}

// recordLevel is the level of a decision's log line: a refusal is a
// warning and audit-mode findings are news, but a container created the way
// the policy says is routine, and so is one for which audit-mode rules
// report only additions (what enforce would add where the container has
// nothing). At one line per container creation that routine line cost
// ~20 us of CPU next to the runtime, more than the decision
// (docs/performance.md); it is logged at debug, and the audit trail and the rule-action
// metrics keep the record.
func recordLevel(d *engine.Decision) logrus.Level {
	switch {
	case !d.Allowed:
		return logrus.WarnLevel
	case len(d.Violations) > 0:
		return logrus.InfoLevel
	}
	return logrus.DebugLevel
}

// eventful reports whether a decision changed or refused something beyond
// the built-in metadata: what the audit trail records.
func eventful(d *engine.Decision) bool {
	return !d.Allowed || len(d.Rules) > 0 || len(d.Violations) > 0
}

// audited reports whether the audit trail records d: what changed or was
// refused, and what audit-mode rules would have added.
func audited(d *engine.Decision) bool { return eventful(d) || len(d.Additions) > 0 }

// wantsRecord reports whether logDecision would write anything for d, so
// that the handler queues nothing (and wakes no goroutine) otherwise.
func (p *Plugin) wantsRecord(d *engine.Decision) bool {
	return (p.cfg.Audit != nil && audited(d)) || p.cfg.Log.Logger.IsLevelEnabled(recordLevel(d))
}

// logDecision logs a decision once and hands it to the audit trail.
// Decisions that changed nothing beyond the built-in metadata, those that
// applied rules without findings and those with audit additions only are
// logged at debug only (see recordLevel). The line names the rules that
// acted; the trace (what each rule did to each field) goes to the audit
// trail, and into the line at debug level: formatting it is the costliest
// part of a request, more than the decision (docs/performance.md). The plugin runs
// this after the reply.
func (p *Plugin) logDecision(pod *api.PodSandbox, c *api.Container, a restarts.Assignment, d *engine.Decision) {
	podRef := pod.GetNamespace() + "/" + pod.GetName()
	if lvl := recordLevel(d); p.cfg.Log.Logger.IsLevelEnabled(lvl) {
		fields := logrus.Fields{"pod": podRef, "container": c.GetName(), "containerID": c.GetId(),
			"restartCount": a.Count, "restartCountSource": a.Source}
		debug := p.cfg.Log.Logger.IsLevelEnabled(logrus.DebugLevel)
		if eventful(d) && debug {
			fields["trace"] = d.Trace
		}
		if len(d.Additions) > 0 && debug {
			fields["additions"] = d.Additions
		}
		log := p.cfg.Log.WithFields(fields)
		switch {
		case !eventful(d) && len(d.Additions) > 0:
			log.Debug("container created; audit-mode rules would only add")
		case !eventful(d):
			log.Debug("container created with recomputed metadata")
		case !d.Allowed:
			log.WithFields(logrus.Fields{"rules": d.Rules, "reason": d.Reason}).Warn("container refused")
		case len(d.Violations) > 0:
			log.WithFields(logrus.Fields{"rules": d.Rules, "violations": d.Violations}).Info("container adjusted with audit findings")
		default:
			log.WithField("rules", d.Rules).Debug("container adjusted")
		}
	}
	if p.cfg.Audit != nil && audited(d) {
		p.cfg.Audit(AuditRecord{
			Pod: podRef, PodUID: pod.GetUid(), Container: c.GetName(), ContainerID: c.GetId(),
			Allowed: d.Allowed, Reason: d.Reason, RestartCount: a.Count, CountSource: a.Source,
			Rules: d.Rules, Trace: d.Trace, Violations: d.Violations, Additions: d.Additions,
		})
	}
}
