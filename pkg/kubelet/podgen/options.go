package podgen

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Node defaults used when NodeConfig leaves a field empty.
const (
	// DefaultNodeMemoryCapacity stands in for the node's MemTotal in the
	// Burstable oom_score_adj formula.
	DefaultNodeMemoryCapacity int64 = 16 << 30
	DefaultKubeletRootDir           = "/var/lib/kubelet"
	DefaultClusterDomain            = "cluster.local"

	CgroupDriverSystemd  = "systemd"
	CgroupDriverCgroupfs = "cgroupfs"
)

// defaultHugePageSizes are an x86-64 host's page sizes in the order the
// kubelet lists them (sorted directory names under /sys/kernel/mm/hugepages).
var defaultHugePageSizes = []string{"1GB", "2MB"}

// NodeConfig is what the kubelet knows about its node and its own settings
// that shows in the CRI configs. The zero value is a cgroup v2, systemd
// node with 16 GiB, no cluster DNS and seccompDefault off.
type NodeConfig struct {
	Name           string          // for spec.nodeName when the pod has none
	MemoryCapacity int64           // bytes; 0 -> DefaultNodeMemoryCapacity
	Allocatable    v1.ResourceList // for resourceFieldRef limits the container leaves unset
	HugePageSizes  []string        // nil -> 1GB, 2MB (an x86-64 host); empty -> none
	CgroupDriver   string          // systemd (default) | cgroupfs
	// CgroupVersion is 1 or 2; 0 means 2.
	CgroupVersion        int
	SingleProcessOOMKill bool
	SeccompDefault       bool
	RootDir              string // kubelet --root-dir; "" -> DefaultKubeletRootDir
	ClusterDNS           []string
	ClusterDomain        string // "" -> DefaultClusterDomain
	// HostDNS is the node's resolv.conf as the kubelet reads it; nil when
	// unknown.
	HostDNS *runtimeapi.DNSConfig
	PodIPs  []string // for status.podIP(s)
	HostIPs []string // for status.hostIP(s)
	// FeatureGates overrides the kubelet's feature gates by name; a gate
	// left out has its default in the target release (DefaultFeatureGates).
	FeatureGates map[string]bool
}

// Kubelet feature gates that change the CRI configs.
const (
	// ContainerStopSignals: lifecycle.stopSignal becomes ContainerConfig.stop_signal.
	FeatureContainerStopSignals = "ContainerStopSignals"
	// MemoryQoS: on cgroup v2, memory.min and memory.low (and memory.high
	// with a throttling factor) in the unified map; off, memory.high=max.
	FeatureMemoryQoS = "MemoryQoS"
)

// DefaultFeatureGates are the defaults of kubelet v1.37.2
// (pkg/features/kube_features.go) for the gates generate models:
// ContainerStopSignals is alpha and off, MemoryQoS beta and on.
func DefaultFeatureGates() map[string]bool {
	return map[string]bool{FeatureContainerStopSignals: false, FeatureMemoryQoS: true}
}

// ParseFeatureGates reads the kubelet's --feature-gates syntax,
// "Name=bool,Name=bool", for the gates in DefaultFeatureGates.
func ParseFeatureGates(s string) (map[string]bool, error) {
	known := DefaultFeatureGates()
	out := map[string]bool{}
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, val, ok := strings.Cut(kv, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return nil, fmt.Errorf("%q: want Name=true or Name=false", kv)
		}
		if _, ok := known[name]; !ok {
			return nil, unknownFeatureGate(name)
		}
		b, err := strconv.ParseBool(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: want true or false, got %q", name, val)
		}
		out[name] = b
	}
	return out, nil
}

func unknownFeatureGate(name string) error {
	names := slices.Sorted(maps.Keys(DefaultFeatureGates()))
	return fmt.Errorf("%q: unknown feature gate (known: %s)", name, strings.Join(names, ", "))
}

// Validate reports every field GenerateConfigs cannot use, joined; empty
// fields are valid and take the defaults above.
func (n *NodeConfig) Validate() error {
	var errs []error
	if n.MemoryCapacity < 0 {
		errs = append(errs, fmt.Errorf("NodeConfig.MemoryCapacity: want a non-negative byte count, got %d", n.MemoryCapacity))
	}
	for _, name := range slices.Sorted(maps.Keys(n.Allocatable)) {
		if q := n.Allocatable[name]; q.Sign() < 0 {
			errs = append(errs, fmt.Errorf("NodeConfig.Allocatable[%s]: want a non-negative quantity, got %s", name, q.String()))
		}
	}
	if n.CgroupDriver != "" && n.CgroupDriver != CgroupDriverSystemd && n.CgroupDriver != CgroupDriverCgroupfs {
		errs = append(errs, fmt.Errorf("NodeConfig.CgroupDriver: want systemd or cgroupfs, got %q", n.CgroupDriver))
	}
	if n.CgroupVersion < 0 || n.CgroupVersion > 2 {
		errs = append(errs, fmt.Errorf("NodeConfig.CgroupVersion: want 1 or 2 (0 for 2), got %d", n.CgroupVersion))
	}
	known := DefaultFeatureGates()
	for _, name := range slices.Sorted(maps.Keys(n.FeatureGates)) {
		if _, ok := known[name]; !ok {
			errs = append(errs, fmt.Errorf("NodeConfig.FeatureGates: %w", unknownFeatureGate(name)))
		}
	}
	return errors.Join(errs...)
}

// featureEnabled is the gate's value: the override if given, else the
// release default.
func (n *NodeConfig) featureEnabled(name string) bool {
	if v, ok := n.FeatureGates[name]; ok {
		return v
	}
	return DefaultFeatureGates()[name]
}

func (n *NodeConfig) memoryCapacity() int64 {
	if n.MemoryCapacity > 0 {
		return n.MemoryCapacity
	}
	return DefaultNodeMemoryCapacity
}

func (n *NodeConfig) hugePageSizes() []string {
	if n.HugePageSizes == nil {
		return defaultHugePageSizes // read only: HugepageLimits does not write it
	}
	return n.HugePageSizes
}

func (n *NodeConfig) cgroupV2() bool { return n.CgroupVersion != 1 }

func (n *NodeConfig) rootDir() string {
	if n.RootDir == "" {
		return DefaultKubeletRootDir
	}
	return n.RootDir
}

func (n *NodeConfig) clusterDomain() string {
	if n.ClusterDomain == "" {
		return DefaultClusterDomain
	}
	return n.ClusterDomain
}

// ImageUser is the image's configured USER as the runtime reports it.
type ImageUser struct {
	Known bool   // false: the image was not inspected
	UID   *int64 // numeric user, 0 for an image without USER
	Name  string // non-numeric user name
}

// ParseImageUser reads an image config's User field the way containerd
// does: "" means root, "uid[:gid]" a numeric user, anything else a name.
func ParseImageUser(user string) ImageUser {
	if user == "" {
		var root int64
		return ImageUser{Known: true, UID: &root}
	}
	name, _, _ := strings.Cut(user, ":")
	if uid, err := strconv.ParseInt(name, 10, 64); err == nil {
		return ImageUser{Known: true, UID: &uid}
	}
	return ImageUser{Known: true, Name: name}
}

// Warning is something GenerateConfigs could not derive from the manifest
// and what it did instead.
type Warning struct {
	Field   string // manifest field path, e.g. spec.containers[0].env[2]
	Message string
}

func (w Warning) String() string {
	if w.Field == "" {
		return w.Message
	}
	return w.Field + ": " + w.Message
}
