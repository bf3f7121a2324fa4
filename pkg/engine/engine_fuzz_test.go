package engine

import (
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
)

const fuzzPolicy = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
  - name: bounds
    env: [{name: L, value: "{{ .Pod.Labels.x }}"}]
    resources:
      memory: {limit: {default: 256Mi, min: 64Mi, max: 1Gi}}
      cpu: {shares: {default: 256, min: 16, max: 2048}, quota: {max: 200000}}
      pids: {limit: {default: 512, max: 4096}}
      oomScoreAdj: {min: 100, max: 900}
    overrides: {allow: [resources.memory.limit, resources.cpu.shares, resources.pids.limit, resources.oomScoreAdj]}
`

// FuzzDecide: arbitrary pods and containers never panic the engine, every
// bounded value in the adjustment stays within the policy's bounds whatever
// the (untrusted) override annotations say, and an audit-mode policy
// changes nothing.
func FuzzDecide(f *testing.F) {
	enforce, err := policy.Parse("fuzz.yaml", []byte(fuzzPolicy))
	if err != nil {
		f.Fatal(err)
	}
	audit, err := policy.Parse("fuzz.yaml", []byte(fuzzPolicy+"  mode: audit\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add("ns", "pod", "app", "x", "512Mi", "99999", int64(2<<30), uint64(2), int64(0), int64(-1000), uint32(0))
	f.Add("", "", "", "", "", "", int64(-1), uint64(1<<63), int64(-5), int64(5000), uint32(1))
	f.Add("n", "p", "c", "\xff", "64Gi", "1e30", int64(1), uint64(0), int64(1<<40), int64(0), uint32(65534))
	f.Fuzz(func(t *testing.T, ns, name, ctr, label, memOverride, sharesOverride string,
		memLimit int64, shares uint64, pids int64, oom int64, uid uint32) {
		pod := &api.PodSandbox{Name: name, Namespace: ns, Uid: "u",
			Labels: map[string]string{"x": label},
			Annotations: map[string]string{
				"memory.limit.specguard.io/container." + ctr: memOverride,
				"cpu.shares.specguard.io/pod":                sharesOverride,
				"pids.limit.specguard.io/pod":                sharesOverride,
				"oomscoreadj.specguard.io/pod":               memOverride,
			}}
		c := &api.Container{Name: ctr, User: &api.User{Uid: uid}, Linux: &api.LinuxContainer{
			OomScoreAdj: api.Int(int(oom)),
			Resources: &api.LinuxResources{
				Memory: &api.LinuxMemory{Limit: api.Int64(memLimit)},
				Cpu:    &api.LinuxCPU{Shares: api.UInt64(shares)},
				Pids:   &api.LinuxPids{Limit: pids},
			}}}
		d := Decide(enforce, &Request{Pod: pod, Container: c})
		if d.Allowed {
			r := d.Adjustment.GetLinux().GetResources()
			check := func(field string, v, lo, hi int64, set bool) {
				if set && (v < lo || v > hi) {
					t.Fatalf("%s = %d outside [%d, %d]", field, v, lo, hi)
				}
			}
			check("memory.limit", r.GetMemory().GetLimit().GetValue(), 64<<20, 1<<30, r.GetMemory().GetLimit() != nil)
			check("cpu.shares", int64(r.GetCpu().GetShares().GetValue()), 16, 2048, r.GetCpu().GetShares() != nil)
			check("cpu.quota", r.GetCpu().GetQuota().GetValue(), 0, 200000, r.GetCpu().GetQuota() != nil)
			check("pids.limit", r.GetPids().GetLimit(), 0, 4096, r.GetPids() != nil)
			oa := d.Adjustment.GetLinux().GetOomScoreAdj()
			check("oomScoreAdj", oa.GetValue(), 100, 900, oa != nil)
		}
		a := Decide(audit, &Request{Pod: pod, Container: c})
		if !a.Allowed {
			t.Fatalf("audit refused: %s", a.Reason)
		}
		if a.Adjustment.GetLinux() != nil || len(a.Adjustment.GetEnv()) > 0 || len(a.Adjustment.GetRlimits()) > 0 {
			t.Fatalf("audit changed the container: %v", a.Adjustment)
		}
	})
}
