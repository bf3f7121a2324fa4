package podgen

import (
	"flag"
	"fmt"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/specguard/specguard/pkg/quantity"
)

// NodeFlags are the command-line flags that describe a NodeConfig:
// Register adds them to a flag set, NodeConfig reads them back checked.
type NodeFlags struct {
	node         NodeConfig // the flags bound straight to its fields
	featureGates string

	memory, cpu, ephemeral, resolvConf     optionalString
	clusterDNS, hugePages, podIPs, hostIPs optionalString
}

// Register adds the node flags to fs.
func (f *NodeFlags) Register(fs *flag.FlagSet) {
	fs.Var(&f.memory, "node-memory", "node memory capacity in bytes or as a quantity (default 16Gi)")
	fs.Var(&f.cpu, "node-cpu", "node allocatable CPU as a quantity, for resourceFieldRef without a limit")
	fs.Var(&f.ephemeral, "node-ephemeral-storage", "node allocatable ephemeral storage as a quantity, for resourceFieldRef without a limit")
	fs.StringVar(&f.featureGates, "feature-gates", "", "kubelet feature gates that differ from v1.37.2's defaults: Name=bool,... (ContainerStopSignals=false, MemoryQoS=true by default)")
	fs.StringVar(&f.node.Name, "node-name", "", "node name, for spec.nodeName when the pod has none")
	fs.Var(&f.resolvConf, "resolv-conf", "the node's resolv.conf, for dnsPolicy Default and ClusterFirst search paths")
	fs.Var(&f.clusterDNS, "cluster-dns", "comma-separated cluster DNS server IPs")
	fs.StringVar(&f.node.ClusterDomain, "cluster-domain", DefaultClusterDomain, "cluster domain")
	fs.StringVar(&f.node.CgroupDriver, "cgroup-driver", CgroupDriverSystemd, "cgroup driver: systemd or cgroupfs")
	fs.IntVar(&f.node.CgroupVersion, "cgroup-version", 2, "cgroup version: 1 or 2")
	fs.BoolVar(&f.node.SingleProcessOOMKill, "single-process-oom-kill", false, "the kubelet's singleProcessOOMKill setting")
	fs.BoolVar(&f.node.SeccompDefault, "seccomp-default", false, "the kubelet's seccompDefault setting")
	fs.StringVar(&f.node.RootDir, "kubelet-root-dir", DefaultKubeletRootDir, "the kubelet's --root-dir")
	fs.Var(&f.hugePages, "hugepage-sizes", `comma-separated host huge page sizes, e.g. "1GB,2MB" (default "1GB,2MB"; "" for none)`)
	fs.Var(&f.podIPs, "pod-ip", "comma-separated pod IPs, for status.podIP(s)")
	fs.Var(&f.hostIPs, "host-ip", "comma-separated host IPs, for status.hostIP(s)")
}

// FlagError is a node flag whose value is not valid.
type FlagError struct {
	Flag string // the flag's name, without dashes
	Err  error
}

func (e *FlagError) Error() string { return "--" + e.Flag + ": " + e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// NodeConfig is the node the parsed flags describe. It stops at the first
// flag that is not valid, a *FlagError; reading the --resolv-conf file
// fails with an error of another type.
func (f *NodeFlags) NodeConfig() (NodeConfig, error) {
	n := f.node
	if n.CgroupDriver != CgroupDriverSystemd && n.CgroupDriver != CgroupDriverCgroupfs {
		return NodeConfig{}, &FlagError{"cgroup-driver", fmt.Errorf("want systemd or cgroupfs, got %q", n.CgroupDriver)}
	}
	if n.CgroupVersion != 1 && n.CgroupVersion != 2 {
		return NodeConfig{}, &FlagError{"cgroup-version", fmt.Errorf("want 1 or 2, got %d", n.CgroupVersion)}
	}
	if f.memory.set {
		q, err := quantity.Parse(f.memory.value)
		if err != nil || q.Sign() <= 0 {
			return NodeConfig{}, &FlagError{"node-memory", fmt.Errorf("want a positive byte count or quantity (16Gi), got %q", f.memory.value)}
		}
		n.MemoryCapacity = q.Value()
	}
	n.Allocatable = v1.ResourceList{v1.ResourceMemory: *resource.NewQuantity(n.MemoryCapacity, resource.BinarySI)}
	if n.MemoryCapacity == 0 {
		n.Allocatable[v1.ResourceMemory] = *resource.NewQuantity(DefaultNodeMemoryCapacity, resource.BinarySI)
	}
	if f.cpu.set {
		q, err := quantity.Parse(f.cpu.value)
		if err != nil || q.Sign() <= 0 {
			return NodeConfig{}, &FlagError{"node-cpu", fmt.Errorf("want a positive quantity (4, 3500m), got %q", f.cpu.value)}
		}
		n.Allocatable[v1.ResourceCPU] = q
	}
	if f.ephemeral.set {
		q, err := quantity.Parse(f.ephemeral.value)
		if err != nil || q.Sign() <= 0 {
			return NodeConfig{}, &FlagError{"node-ephemeral-storage", fmt.Errorf("want a positive quantity (100Gi), got %q", f.ephemeral.value)}
		}
		n.Allocatable[v1.ResourceEphemeralStorage] = q
	}
	gates, err := ParseFeatureGates(f.featureGates)
	if err != nil {
		return NodeConfig{}, &FlagError{"feature-gates", err}
	}
	n.FeatureGates = gates
	if f.hugePages.set {
		n.HugePageSizes = append([]string{}, splitList(f.hugePages.value)...)
	}
	n.ClusterDNS = splitList(f.clusterDNS.value)
	n.PodIPs = splitList(f.podIPs.value)
	n.HostIPs = splitList(f.hostIPs.value)
	if f.resolvConf.set && f.resolvConf.value != "" {
		if n.HostDNS, err = readResolvConf(f.resolvConf.value); err != nil {
			return NodeConfig{}, err
		}
	}
	return n, nil
}

// optionalString is a flag value that remembers whether it was given, so
// an explicit "" differs from absent.
type optionalString struct {
	value string
	set   bool
}

func (o *optionalString) String() string { return o.value }
func (o *optionalString) Set(s string) error {
	o.value, o.set = s, true
	return nil
}

// splitList is a comma-separated flag's items, blanks dropped; nil when
// there are none.
func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}
