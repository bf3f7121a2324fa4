package podgen

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestNodeConfigValidate(t *testing.T) {
	cases := map[string]struct {
		node NodeConfig
		want string
	}{
		"zero value": {},
		"set": {node: NodeConfig{MemoryCapacity: 1 << 30, CgroupDriver: CgroupDriverCgroupfs, CgroupVersion: 1,
			Allocatable:  v1.ResourceList{v1.ResourceCPU: resource.MustParse("0")},
			FeatureGates: map[string]bool{FeatureMemoryQoS: false}}},
		"memory capacity": {node: NodeConfig{MemoryCapacity: -1}, want: "NodeConfig.MemoryCapacity: want a non-negative byte count, got -1"},
		"allocatable": {node: NodeConfig{Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("-1")}},
			want: "NodeConfig.Allocatable[cpu]: want a non-negative quantity, got -1"},
		"cgroup driver":  {node: NodeConfig{CgroupDriver: "x"}, want: `NodeConfig.CgroupDriver: want systemd or cgroupfs, got "x"`},
		"cgroup version": {node: NodeConfig{CgroupVersion: 3}, want: "NodeConfig.CgroupVersion: want 1 or 2 (0 for 2), got 3"},
		"feature gate": {node: NodeConfig{FeatureGates: map[string]bool{"Foo": true}},
			want: `NodeConfig.FeatureGates: "Foo": unknown feature gate (known: ContainerStopSignals, MemoryQoS)`},
		// Every problem, not the first.
		"joined": {node: NodeConfig{CgroupDriver: "x", CgroupVersion: -1},
			want: "NodeConfig.CgroupDriver: want systemd or cgroupfs, got \"x\"\nNodeConfig.CgroupVersion: want 1 or 2 (0 for 2), got -1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			err := tc.node.Validate()
			if got := errString(err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestGenerateConfigsRefusesAnInvalidNode(t *testing.T) {
	_, err := GenerateConfigs(basePod(), GenerateOptions{RestartCount: intPtr(0), Node: NodeConfig{CgroupVersion: 3}})
	if want := "NodeConfig.CgroupVersion: want 1 or 2 (0 for 2), got 3"; errString(err) != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
