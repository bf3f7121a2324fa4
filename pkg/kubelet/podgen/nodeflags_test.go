package podgen

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// nodeFromFlags parses args as the node flags alone.
func nodeFromFlags(t *testing.T, args ...string) (NodeConfig, error) {
	t.Helper()
	var f NodeFlags
	fs := flag.NewFlagSet("node", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return f.NodeConfig()
}

func TestNodeFlagsDefaults(t *testing.T) {
	n, err := nodeFromFlags(t)
	if err != nil {
		t.Fatal(err)
	}
	want := NodeConfig{
		Allocatable:   v1.ResourceList{v1.ResourceMemory: *resource.NewQuantity(DefaultNodeMemoryCapacity, resource.BinarySI)},
		CgroupDriver:  CgroupDriverSystemd,
		CgroupVersion: 2,
		RootDir:       DefaultKubeletRootDir,
		ClusterDomain: DefaultClusterDomain,
		FeatureGates:  map[string]bool{},
	}
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got %+v\nwant %+v", n, want)
	}
	if err := n.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

func TestNodeFlagsEveryFlag(t *testing.T) {
	resolv := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.168.0.2\nsearch corp.example.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := nodeFromFlags(t, "--node-memory", "1Gi", "--node-cpu", "3500m", "--node-ephemeral-storage", "100Gi",
		"--feature-gates", "MemoryQoS=false", "--node-name", "node-1", "--resolv-conf", resolv,
		"--cluster-dns", "10.96.0.10, 10.96.0.11", "--cluster-domain", "corp.local", "--cgroup-driver", "cgroupfs",
		"--cgroup-version", "1", "--single-process-oom-kill", "--seccomp-default", "--kubelet-root-dir", "/k",
		"--hugepage-sizes", "", "--pod-ip", "10.244.1.7", "--host-ip", "192.168.0.11")
	if err != nil {
		t.Fatal(err)
	}
	want := NodeConfig{
		Name:           "node-1",
		MemoryCapacity: 1 << 30,
		Allocatable: v1.ResourceList{
			v1.ResourceMemory:           *resource.NewQuantity(1<<30, resource.BinarySI),
			v1.ResourceCPU:              resource.MustParse("3500m"),
			v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
		},
		HugePageSizes:        []string{},
		CgroupDriver:         CgroupDriverCgroupfs,
		CgroupVersion:        1,
		SingleProcessOOMKill: true,
		SeccompDefault:       true,
		RootDir:              "/k",
		ClusterDNS:           []string{"10.96.0.10", "10.96.0.11"},
		ClusterDomain:        "corp.local",
		HostDNS:              &runtimeapi.DNSConfig{Servers: []string{"192.168.0.2"}, Searches: []string{"corp.example"}},
		PodIPs:               []string{"10.244.1.7"},
		HostIPs:              []string{"192.168.0.11"},
		FeatureGates:         map[string]bool{FeatureMemoryQoS: false},
	}
	for name, q := range want.Allocatable {
		if got := n.Allocatable[name]; got.Cmp(q) != 0 {
			t.Errorf("Allocatable[%s] = %s, want %s", name, got.String(), q.String())
		}
	}
	n.Allocatable, want.Allocatable = nil, nil
	if !reflect.DeepEqual(n, want) {
		t.Errorf("got %+v\nwant %+v", n, want)
	}
}

// Every message a node flag can fail with: a *FlagError, which the command
// reports as a usage error.
func TestNodeFlagsErrors(t *testing.T) {
	cases := map[string]struct {
		args []string
		want string
	}{
		"cgroup driver":        {[]string{"--cgroup-driver", "x"}, `--cgroup-driver: want systemd or cgroupfs, got "x"`},
		"cgroup version":       {[]string{"--cgroup-version", "3"}, `--cgroup-version: want 1 or 2, got 3`},
		"node memory":          {[]string{"--node-memory", "lots"}, `--node-memory: want a positive byte count or quantity (16Gi), got "lots"`},
		"node cpu":             {[]string{"--node-cpu", "0"}, `--node-cpu: want a positive quantity (4, 3500m), got "0"`},
		"node ephemeral":       {[]string{"--node-ephemeral-storage", "-1Gi"}, `--node-ephemeral-storage: want a positive quantity (100Gi), got "-1Gi"`},
		"feature gate syntax":  {[]string{"--feature-gates", "MemoryQoS"}, `--feature-gates: "MemoryQoS": want Name=true or Name=false`},
		"unknown feature gate": {[]string{"--feature-gates", "Foo=true"}, `--feature-gates: "Foo": unknown feature gate (known: ContainerStopSignals, MemoryQoS)`},
		"feature gate value":   {[]string{"--feature-gates", "MemoryQoS=yes"}, `--feature-gates: MemoryQoS: want true or false, got "yes"`},
		// The first flag that is not valid is the one reported.
		"first of two": {[]string{"--node-memory", "lots", "--cgroup-version", "3"}, `--cgroup-version: want 1 or 2, got 3`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := nodeFromFlags(t, tc.args...)
			var fe *FlagError
			if !errors.As(err, &fe) || err.Error() != tc.want {
				t.Errorf("got %v (%T), want FlagError %q", err, err, tc.want)
			}
		})
	}
}

// A --resolv-conf that cannot be read is not a usage error: it names the file.
func TestNodeFlagsResolvConfErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing")
	cases := map[string]struct {
		path, want string
	}{
		"missing":   {missing, "open " + missing + ": no such file or directory"},
		"directory": {dir, dir + ": read " + dir + ": is a directory"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := nodeFromFlags(t, "--resolv-conf", tc.path)
			var fe *FlagError
			if err == nil || errors.As(err, &fe) || err.Error() != tc.want {
				t.Errorf("got %v (%T), want %q", err, err, tc.want)
			}
		})
	}
}
