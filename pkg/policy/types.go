// Package policy is specguard's policy document: its versioned types,
// strict loading that reports every problem with its field path and line,
// and the compiled form the engine evaluates on the request path.
package policy

import (
	"encoding/json"
	"fmt"
	"strconv"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	APIVersion = "specguard.io/v1alpha1"
	Kind       = "Policy"
)

// Document is the policy file as written.
type Document struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       Spec   `json:"spec"`
}

// Mode says whether a rule changes and refuses (enforce), only reports
// (audit), or does nothing (off).
type Mode string

const (
	ModeEnforce Mode = "enforce"
	ModeAudit   Mode = "audit"
	ModeOff     Mode = "off"
)

// FailurePolicy says what an internal error or a missed deadline does.
type FailurePolicy string

const (
	FailureIgnore FailurePolicy = "ignore" // allow the container unchanged
	FailureFail   FailurePolicy = "fail"   // refuse the container
)

type Spec struct {
	Mode          Mode          `json:"mode,omitempty"`
	FailurePolicy FailurePolicy `json:"failurePolicy,omitempty"`
	Node          Node          `json:"node,omitempty"`
	Metadata      Metadata      `json:"metadata,omitempty"`
	Validation    *Validation   `json:"validation,omitempty"`
	Rules         []RuleSpec    `json:"rules,omitempty"`
}

type Node struct {
	PodLogsDir string `json:"podLogsDir,omitempty"`
	Name       string `json:"name,omitempty"`
}

// Metadata switches the built-in kubelet recomputation; each is on unless
// set to false. IdentityCheck says what to do with a container whose
// identity labels contradict its sandbox: refuse it (enforce), report it
// (audit) or nothing (off); unset, it follows spec.mode while identity is
// on and is off while identity is false, as before it existed.
type Metadata struct {
	RestartCount  *bool `json:"restartCount,omitempty"`
	LogPath       *bool `json:"logPath,omitempty"`
	Identity      *bool `json:"identity,omitempty"`
	IdentityCheck Mode  `json:"identityCheck,omitempty"`
	QOSClass      *bool `json:"qosClass,omitempty"`
}

type RuleSpec struct {
	Name        string       `json:"name"`
	Mode        Mode         `json:"mode,omitempty"`
	Match       Match        `json:"match,omitempty"`
	Env         []EnvVar     `json:"env,omitempty"`
	Annotations *Annotations `json:"annotations,omitempty"`
	Resources   *Resources   `json:"resources,omitempty"`
	Security    *Security    `json:"security,omitempty"`
	Overrides   *Overrides   `json:"overrides,omitempty"`
}

// Match selects containers; every field given must match.
type Match struct {
	Namespaces        []string              `json:"namespaces,omitempty"`
	ExcludeNamespaces []string              `json:"excludeNamespaces,omitempty"`
	PodLabels         *metav1.LabelSelector `json:"podLabels,omitempty"`
	Containers        []string              `json:"containers,omitempty"`
	Images            []string              `json:"images,omitempty"`
	RuntimeHandlers   []string              `json:"runtimeHandlers,omitempty"`
}

type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type Annotations struct {
	Add    map[string]string `json:"add,omitempty"`
	Remove []string          `json:"remove,omitempty"`
}

// Value is a number or a Kubernetes quantity ("256Mi", "500m", 1024).
type Value string

func (v *Value) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*v = Value(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a number or a quantity string, got %s", truncate(string(b), 40))
	}
	*v = Value(n.String())
	return nil
}

func (v Value) MarshalJSON() ([]byte, error) {
	if _, err := strconv.ParseInt(string(v), 10, 64); err == nil {
		return []byte(v), nil
	}
	return json.Marshal(string(v))
}

// Bounds constrain one value: default when unset, min and max, or set.
type Bounds struct {
	Default *Value `json:"default,omitempty"`
	Min     *Value `json:"min,omitempty"`
	Max     *Value `json:"max,omitempty"`
	Set     *Value `json:"set,omitempty"`
}

type Resources struct {
	CPU         *CPU              `json:"cpu,omitempty"`
	Memory      *Memory           `json:"memory,omitempty"`
	Pids        *Pids             `json:"pids,omitempty"`
	OOMScoreAdj *Bounds           `json:"oomScoreAdj,omitempty"`
	Hugepages   []Hugepage        `json:"hugepages,omitempty"`
	Rlimits     []Rlimit          `json:"rlimits,omitempty"`
	BlockIO     string            `json:"blockioClass,omitempty"`
	RDT         string            `json:"rdtClass,omitempty"`
	Unified     map[string]string `json:"unified,omitempty"`
	OnViolation string            `json:"onViolation,omitempty"`
}

type CPU struct {
	Shares *Bounds `json:"shares,omitempty"`
	Quota  *Bounds `json:"quota,omitempty"`
	Period *Bounds `json:"period,omitempty"`
	CPUs   string  `json:"cpus,omitempty"`
	Mems   string  `json:"mems,omitempty"`
}

type Memory struct {
	Limit       *Bounds `json:"limit,omitempty"`
	Reservation *Bounds `json:"reservation,omitempty"`
	Swap        *Bounds `json:"swap,omitempty"`
}

type Pids struct {
	Limit *Bounds `json:"limit,omitempty"`
}

type Hugepage struct {
	PageSize string `json:"pageSize"`
	Limit    Bounds `json:"limit"`
}

type Rlimit struct {
	Type string `json:"type"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}

type Security struct {
	RunAsNonRoot bool `json:"runAsNonRoot,omitempty"`
	// RootInUserNamespace (allow | deny, default deny) says whether
	// runAsNonRoot admits uid 0 in a container with its own user namespace.
	RootInUserNamespace string     `json:"rootInUserNamespace,omitempty"`
	HostNamespaces      string     `json:"hostNamespaces,omitempty"`
	HostPaths           *HostPaths `json:"hostPaths,omitempty"`
	Devices             string     `json:"devices,omitempty"`
	AllowedDevices      []Device   `json:"allowedDevices,omitempty"`
	Sysctls             *Sysctls   `json:"sysctls,omitempty"`
	Seccomp             *Seccomp   `json:"seccomp,omitempty"`
	MaskedPaths         []string   `json:"maskedPaths,omitempty"`
}

// Device is a device node a rule admits (allowedDevices). Written as a
// bare path ("/dev/fuse") it names a well-known device, whose type and
// numbers the kernel fixes; written as a mapping it says what the device
// is: a path glob in the container, its type (c, b, u or p) and its major
// and minor numbers (no minor: any). runc makes the node from the type and
// numbers, so a path alone says nothing about what the container gets.
type Device struct {
	Path  string `json:"path"`
	Type  string `json:"type,omitempty"`
	Major *int64 `json:"major,omitempty"`
	Minor *int64 `json:"minor,omitempty"`

	bare bool // written as a bare path
}

func (d *Device) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*d = Device{Path: s, bare: true}
		return nil
	}
	type fields Device // without this method
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*d = Device(f)
	return nil
}

func (d Device) MarshalJSON() ([]byte, error) {
	if d.bare {
		return json.Marshal(d.Path)
	}
	type fields Device
	return json.Marshal(fields(d))
}

type HostPaths struct {
	Allow []string `json:"allow,omitempty"`
	Deny  []string `json:"deny,omitempty"`
}

type Sysctls struct {
	Allow []string `json:"allow,omitempty"`
}

type Seccomp struct {
	Unconfined string `json:"unconfined,omitempty"`
}

type Overrides struct {
	Allow []string `json:"allow,omitempty"`
}

// Validation polices what other plugins' adjustments may do.
type Validation struct {
	Mode           Mode     `json:"mode,omitempty"`
	TrustedPlugins []string `json:"trustedPlugins,omitempty"`
	DenyHooks      bool     `json:"denyHooks,omitempty"`
	DenyHostMounts bool     `json:"denyHostMounts,omitempty"`
	DenyDevices    bool     `json:"denyDevices,omitempty"`
	DenySeccomp    bool     `json:"denySeccomp,omitempty"`
	DenyNamespaces bool     `json:"denyNamespaces,omitempty"`
	AllowFields    []string `json:"allowFields,omitempty"`
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
