package deploy_test

import (
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
)

// TestSamplePolicyHostPaths: deploy/policy.yaml's tenant safety net
// reports a bind of another pod's kubelet directory (its secrets, its
// volumes) as a host path, and not the pod's own volumes, which specguard
// recognises as the kubelet's without any allow entry. An allow entry
// for /var/lib/kubelet/pods/** let every tenant pod bind every other
// pod's volumes (docs/security.md).
func TestSamplePolicyHostPaths(t *testing.T) {
	p, err := policy.Load("policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	const uid = "5f0c9a2e-0000-4000-8000-000000000001"
	pod := &api.PodSandbox{Id: "sb", Name: "web-0", Namespace: "team-a", Uid: uid}
	bind := func(dst, src string) *api.Mount {
		return &api.Mount{Destination: dst, Source: src, Type: "bind", Options: []string{"rbind", "ro"}}
	}
	for name, tc := range map[string]struct {
		src    string
		report bool
	}{
		"the pod's own secret volume": {"/var/lib/kubelet/pods/" + uid + "/volumes/kubernetes.io~secret/token", false},
		"another pod's secret volume": {"/var/lib/kubelet/pods/0000aaaa-0000-4000-8000-000000000002/volumes/kubernetes.io~secret/token", true},
		"every pod's directories":     {"/var/lib/kubelet/pods", true},
		"a host directory":            {"/srv/data", true},
		"the container runtime":       {"/var/run/containerd.sock", true},
	} {
		t.Run(name, func(t *testing.T) {
			c := &api.Container{Id: "c", Name: "app", User: &api.User{Uid: 1000},
				Mounts: []*api.Mount{bind("/mnt", tc.src)},
				Linux: &api.LinuxContainer{
					Namespaces:     []*api.LinuxNamespace{{Type: "pid"}, {Type: "network", Path: "/proc/42/ns/net"}, {Type: "ipc", Path: "/proc/42/ns/ipc"}},
					SeccompProfile: &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT},
					SeccompPolicy:  &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO"},
				}}
			d := engine.Decide(p, &engine.Request{Pod: pod, Container: c})
			var found []string
			for _, v := range d.Violations {
				if strings.Contains(v.Message, "hostPaths:") {
					found = append(found, v.Rule+": "+v.Message)
				}
			}
			if tc.report && len(found) == 0 {
				t.Errorf("a bind of %s is not reported; violations: %v", tc.src, d.Violations)
			}
			if !tc.report && len(found) > 0 {
				t.Errorf("the pod's own volume is reported: %v", found)
			}
		})
	}
}
