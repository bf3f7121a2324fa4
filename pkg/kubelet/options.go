package kubelet

import (
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

// DefaultHugePageSizes are an x86-64 host's page sizes in the order the
// kubelet lists them (sorted directory names under /sys/kernel/mm/hugepages).
var DefaultHugePageSizes = []string{"1GB", "2MB"}

// NodeConfig is what the kubelet knows about its node and its own settings
// that shows in the CRI configs. The zero value is a cgroup v2, systemd
// node with 16 GiB, no cluster DNS and seccompDefault off.
type NodeConfig struct {
	Name           string          // for spec.nodeName when the pod has none
	MemoryCapacity int64           // bytes; 0 -> DefaultNodeMemoryCapacity
	Allocatable    v1.ResourceList // for resourceFieldRef limits the container leaves unset
	HugePageSizes  []string        // nil -> DefaultHugePageSizes; empty -> none
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
}

func (n *NodeConfig) memoryCapacity() int64 {
	if n.MemoryCapacity > 0 {
		return n.MemoryCapacity
	}
	return DefaultNodeMemoryCapacity
}

func (n *NodeConfig) hugePageSizes() []string {
	if n.HugePageSizes == nil {
		return DefaultHugePageSizes
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
