package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/kubelet/podgen"
	"github.com/specguard/specguard/pkg/quantity"
)

// generateCmd prints the CRI PodSandboxConfig and ContainerConfig the kubelet
// would send for one container of a Pod manifest. Warnings about what needs
// a cluster or a running node go to stderr.
func generateCmd(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "specguard generate: internal error: %v\n", r)
			code = exitInput
		}
	}()
	fs := newFlagSet("generate", stderr)
	var (
		podPath, container, podLogsDir, output string
		restartCount, imageUser, nodeMemory    optionalString
		opts                                   podgen.GenerateOptions
		clusterDNS, hugePages, podIPs, hostIPs optionalString
		nodeCPU, nodeEphemeral, resolvConf     optionalString
		featureGates                           string
		cgroupVersion                          int
		quiet                                  bool
	)
	fs.StringVar(&podPath, "pod", "", "Pod manifest (YAML or JSON), required")
	fs.StringVar(&container, "container", "", "container name (default: the default-container annotation, else the first container)")
	fs.Var(&restartCount, "restart-count", "restart count (default: from the pod log directory, as the kubelet)")
	fs.StringVar(&podLogsDir, "pod-logs-dir", kubelet.DefaultPodLogsDir, "the kubelet's pod logs directory")
	fs.Var(&nodeMemory, "node-memory", "node memory capacity in bytes or as a quantity (default 16Gi)")
	fs.Var(&nodeCPU, "node-cpu", "node allocatable CPU as a quantity, for resourceFieldRef without a limit")
	fs.Var(&nodeEphemeral, "node-ephemeral-storage", "node allocatable ephemeral storage as a quantity, for resourceFieldRef without a limit")
	fs.StringVar(&featureGates, "feature-gates", "", "kubelet feature gates that differ from v1.37.2's defaults: Name=bool,... (ContainerStopSignals=false, MemoryQoS=true by default)")
	fs.Var(&imageUser, "image-user", `the image's USER ("" = none, i.e. root); unset means unknown`)
	fs.StringVar(&opts.Node.Name, "node-name", "", "node name, for spec.nodeName when the pod has none")
	fs.Var(&resolvConf, "resolv-conf", "the node's resolv.conf, for dnsPolicy Default and ClusterFirst search paths")
	fs.Var(&clusterDNS, "cluster-dns", "comma-separated cluster DNS server IPs")
	fs.StringVar(&opts.Node.ClusterDomain, "cluster-domain", podgen.DefaultClusterDomain, "cluster domain")
	fs.StringVar(&opts.Node.CgroupDriver, "cgroup-driver", podgen.CgroupDriverSystemd, "cgroup driver: systemd or cgroupfs")
	fs.IntVar(&cgroupVersion, "cgroup-version", 2, "cgroup version: 1 or 2")
	fs.BoolVar(&opts.Node.SingleProcessOOMKill, "single-process-oom-kill", false, "the kubelet's singleProcessOOMKill setting")
	fs.BoolVar(&opts.Node.SeccompDefault, "seccomp-default", false, "the kubelet's seccompDefault setting")
	fs.StringVar(&opts.Node.RootDir, "kubelet-root-dir", podgen.DefaultKubeletRootDir, "the kubelet's --root-dir")
	fs.Var(&hugePages, "hugepage-sizes", `comma-separated host huge page sizes, e.g. "1GB,2MB" (default "1GB,2MB"; "" for none)`)
	fs.Var(&podIPs, "pod-ip", "comma-separated pod IPs, for status.podIP(s)")
	fs.Var(&hostIPs, "host-ip", "comma-separated host IPs, for status.hostIP(s)")
	fs.StringVar(&output, "o", "json", "output format: json or yaml")
	fs.BoolVar(&quiet, "quiet", false, "do not print warnings")
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "specguard generate: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if podPath == "" {
		return usage("--pod is required")
	}
	if output != "json" && output != "yaml" {
		return usage("-o: want json or yaml, got %q", output)
	}
	if opts.Node.CgroupDriver != podgen.CgroupDriverSystemd && opts.Node.CgroupDriver != podgen.CgroupDriverCgroupfs {
		return usage("--cgroup-driver: want systemd or cgroupfs, got %q", opts.Node.CgroupDriver)
	}
	if cgroupVersion != 1 && cgroupVersion != 2 {
		return usage("--cgroup-version: want 1 or 2, got %d", cgroupVersion)
	}
	opts.Node.CgroupVersion = cgroupVersion
	opts.Container, opts.PodLogsDir = container, podLogsDir
	if restartCount.set {
		n, err := strconv.ParseInt(restartCount.value, 10, 32)
		if err != nil || n < 0 {
			return usage("--restart-count: want a non-negative 32-bit integer, got %q", restartCount.value)
		}
		c := int(n)
		opts.RestartCount = &c
	}
	if nodeMemory.set {
		q, err := quantity.Parse(nodeMemory.value)
		if err != nil || q.Sign() <= 0 {
			return usage("--node-memory: want a positive byte count or quantity (16Gi), got %q", nodeMemory.value)
		}
		opts.Node.MemoryCapacity = q.Value()
	}
	opts.Node.Allocatable = v1.ResourceList{v1.ResourceMemory: *resource.NewQuantity(opts.Node.MemoryCapacity, resource.BinarySI)}
	if opts.Node.MemoryCapacity == 0 {
		opts.Node.Allocatable[v1.ResourceMemory] = *resource.NewQuantity(podgen.DefaultNodeMemoryCapacity, resource.BinarySI)
	}
	if nodeCPU.set {
		q, err := quantity.Parse(nodeCPU.value)
		if err != nil || q.Sign() <= 0 {
			return usage("--node-cpu: want a positive quantity (4, 3500m), got %q", nodeCPU.value)
		}
		opts.Node.Allocatable[v1.ResourceCPU] = q
	}
	if nodeEphemeral.set {
		q, err := quantity.Parse(nodeEphemeral.value)
		if err != nil || q.Sign() <= 0 {
			return usage("--node-ephemeral-storage: want a positive quantity (100Gi), got %q", nodeEphemeral.value)
		}
		opts.Node.Allocatable[v1.ResourceEphemeralStorage] = q
	}
	gates, err := podgen.ParseFeatureGates(featureGates)
	if err != nil {
		return usage("--feature-gates: %v", err)
	}
	opts.Node.FeatureGates = gates
	if imageUser.set {
		opts.ImageUser = podgen.ParseImageUser(imageUser.value)
	}
	if hugePages.set {
		opts.Node.HugePageSizes = append([]string{}, splitList(hugePages.value)...)
	}
	opts.Node.ClusterDNS = splitList(clusterDNS.value)
	opts.Node.PodIPs = splitList(podIPs.value)
	opts.Node.HostIPs = splitList(hostIPs.value)

	if resolvConf.set && resolvConf.value != "" {
		f, err := os.Open(resolvConf.value)
		if err != nil {
			fmt.Fprintf(stderr, "specguard generate: %v\n", err)
			return exitInput
		}
		opts.Node.HostDNS, err = podgen.ParseResolvConf(f)
		_ = f.Close() // read only
		if err != nil {
			fmt.Fprintf(stderr, "specguard generate: %s: %v\n", resolvConf.value, err)
			return exitInput
		}
	}
	data, err := os.ReadFile(podPath)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	pod, err := podgen.DecodePod(podPath, data)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	out, err := podgen.GenerateConfigs(pod, opts)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %s: %v\n", podPath, err)
		return exitInput
	}
	if !quiet {
		for _, w := range out.Warnings {
			fmt.Fprintf(stderr, "specguard generate: warning: %s\n", w)
		}
		if !flagGiven(fs, "cgroup-version") && cgroupVersion == 2 && hostCgroupV1() {
			fmt.Fprintln(stderr, "specguard generate: warning: this host runs cgroup v1 and these configs are for cgroup v2 "+
				"(the default); to run them here pass --cgroup-version 1, and --cgroup-driver cgroupfs if containerd uses it")
		}
	}
	b, err := encodeConfigs(out, output)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "specguard generate: writing the configs: %v\n", err)
		return exitInput
	}
	return exitOK
}

// generateOutput is the printed document: the two CRI configs in the JSON
// form crictl reads (protobuf field names, enums as numbers).
type generateOutput struct {
	PodSandboxConfig *runtimeapi.PodSandboxConfig `json:"podSandboxConfig"`
	ContainerConfig  *runtimeapi.ContainerConfig  `json:"containerConfig"`
}

func encodeConfigs(g *podgen.GeneratedConfigs, format string) ([]byte, error) {
	doc := generateOutput{PodSandboxConfig: g.PodSandboxConfig, ContainerConfig: g.ContainerConfig}
	if format == "yaml" {
		return yaml.Marshal(doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// optionalString is a string flag that remembers whether it was given, so
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

// flagGiven reports whether the command line set the flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// hostCgroupV1 reports whether this host mounts cgroup v1 (no unified
// hierarchy at /sys/fs/cgroup), where v2 settings such as memory.oom.group
// make runc refuse the container.
func hostCgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return errors.Is(err, os.ErrNotExist)
}
