package facts

import (
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/specguard/specguard/pkg/engine"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

func TestNewNode(t *testing.T) {
	n := NewNode("node-1")
	if n.Name != "node-1" || n.SeccompErr != nil {
		t.Fatalf("node = %+v", n)
	}
	prof := n.RuntimeDefaultSeccomp
	if prof.GetDefaultAction() != "SCMP_ACT_ERRNO" || len(prof.GetSyscalls()) < 10 || len(prof.GetArchitectures()) == 0 {
		t.Fatalf("the runtime default profile looks wrong: action %s, %d rules, arches %v",
			prof.GetDefaultAction(), len(prof.GetSyscalls()), prof.GetArchitectures())
	}
	allowed := map[string]bool{}
	for _, s := range prof.GetSyscalls() {
		for _, n := range s.GetNames() {
			allowed[n] = allowed[n] || (s.GetAction() == "SCMP_ACT_ALLOW" && len(s.GetArgs()) == 0)
		}
	}
	// containerd's default capability set includes CAP_SYS_CHROOT but not
	// CAP_SYS_ADMIN: the profile is built for it.
	if !allowed["read"] || !allowed["chroot"] || allowed["mount"] || allowed["bpf"] {
		t.Errorf("allowed: read %v chroot %v mount %v bpf %v; want the default-capability profile",
			allowed["read"], allowed["chroot"], allowed["mount"], allowed["bpf"])
	}
}

// counter records what Gather asks of it.
type counter struct {
	key       restarts.Key
	kubelet   int
	has       bool
	podLogDir string
}

func (c *counter) Assign(key restarts.Key, kubeletCount int, hasKubelet bool, podLogDir string) restarts.Assignment {
	c.key, c.kubelet, c.has, c.podLogDir = key, kubeletCount, hasKubelet, podLogDir
	return restarts.Assignment{Count: 7, Source: restarts.SourceTracked}
}

// Gather hands the counter the kubelet's count when the container carries
// it, else the pod's log directory to fall back on.
func TestGather(t *testing.T) {
	pol, err := policy.Parse("p.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec: {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	node := &engine.Node{Name: "node-1"}
	pod := &api.PodSandbox{Name: "web-0", Namespace: "team-a", Uid: "u1"}
	for name, tc := range map[string]struct {
		annotations map[string]string
		want        counter
	}{
		"kubelet's count": {map[string]string{kubelet.ContainerRestartCountAnnotation: "3"},
			counter{key: restarts.Key{PodUID: "u1", Container: "app"}, kubelet: 3, has: true}},
		"none: the log directory": {nil,
			counter{key: restarts.Key{PodUID: "u1", Container: "app"}, podLogDir: "/var/log/pods/team-a_web-0_u1"}},
	} {
		c := &counter{}
		g := Gatherer{Node: node, Counter: c}
		f := g.Gather(pol, pod, &api.Container{Name: "app", Annotations: tc.annotations})
		if *c != tc.want {
			t.Errorf("%s: the counter was asked %+v, want %+v", name, *c, tc.want)
		}
		if f.Restart.Count != 7 || f.Node != node {
			t.Errorf("%s: facts = %+v", name, f)
		}
	}
	if a := Given(4).Assign(restarts.Key{}, 9, true, ""); a.Count != 4 || a.Source != restarts.SourceGiven {
		t.Errorf("Given(4) = %+v", a)
	}
}
