package engine

import (
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
)

// FuzzOverridePrivilege: random rules bounding oom_score_adj, the CFS
// quota and period (any subset of min/max, any subset of overrides
// allowed, clamp or reject) x random override annotations x random
// container values. Whatever loads, an annotation never takes a field in
// its privileged direction past the rule's bound there, or past where the
// container would be without the annotation when the rule has none:
// oom_score_adj never below the rule's min, the period never below its
// min, and the CPU count quota/period never above quota.max/period.min.
func FuzzOverridePrivilege(f *testing.F) {
	// The attacks of issue 17: -1000 under a max-only rule, and a period
	// of 1000 under a quota max of 100000 (100 CPUs).
	f.Add(uint8(0b0010_0010), int64(0), int64(1000), int64(0), int64(0), int64(0), "-1000", "", "", int64(0), uint64(0), int64(0), false)
	f.Add(uint8(0b0101_1000), int64(0), int64(0), int64(0), int64(1000000), int64(100000), "", "1000", "", int64(0), uint64(100000), int64(100000), false)
	// A container without a period runs at the kernel's 100000, below
	// this rule's min.
	f.Add(uint8(0b0001_1100), int64(0), int64(0), int64(200000), int64(1000000), int64(400000), "", "", "", int64(0), uint64(0), int64(-1), false)
	f.Add(uint8(0b1111_1111), int64(-500), int64(1000), int64(50000), int64(1000000), int64(100000), "-1000", "1000", "1e9", int64(0), uint64(0), int64(0), true)
	f.Fuzz(func(t *testing.T, flags uint8, oomMin, oomMax, periodMin, periodMax, quotaMax int64,
		oomAnn, periodAnn, quotaAnn string, ctrOOM int64, ctrPeriod uint64, ctrQuota int64, reject bool) {
		has := func(bit uint) bool { return flags&(1<<bit) != 0 }
		bounds := func(kv ...any) string {
			var parts []string
			for i := 0; i+3 <= len(kv); i += 3 {
				if kv[i+2].(bool) {
					parts = append(parts, kv[i].(string)+": "+strconv.FormatInt(kv[i+1].(int64), 10))
				}
			}
			if len(parts) == 0 {
				return ""
			}
			return "{" + strings.Join(parts, ", ") + "}"
		}
		var res, cpu, allow []string
		if b := bounds("min", oomMin, has(0), "max", oomMax, has(1)); b != "" {
			res = append(res, "oomScoreAdj: "+b)
		}
		if b := bounds("min", periodMin, has(2), "max", periodMax, has(3)); b != "" {
			cpu = append(cpu, "period: "+b)
		}
		if b := bounds("max", quotaMax, has(4)); b != "" {
			cpu = append(cpu, "quota: "+b)
		}
		if len(cpu) > 0 {
			res = append(res, "cpu: {"+strings.Join(cpu, ", ")+"}")
		}
		if len(res) == 0 {
			return
		}
		if reject {
			res = append(res, "onViolation: reject")
		}
		for i, name := range []string{"resources.oomScoreAdj", "resources.cpu.period", "resources.cpu.quota"} {
			if has(uint(5 + i)) {
				allow = append(allow, name)
			}
		}
		doc := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: r\n    resources: {" + strings.Join(res, ", ") + "}\n"
		if len(allow) > 0 {
			doc += "    overrides: {allow: [" + strings.Join(allow, ", ") + "]}\n"
		}
		p, err := policy.Parse("fuzz.yaml", []byte(doc))
		if err != nil {
			return
		}
		r := p.Rules[0]
		oomB, periodB, quotaB := r.Resources.Bounds[policy.OOMScoreAdj], r.Resources.Bounds[policy.CPUPeriod], r.Resources.Bounds[policy.CPUQuota]
		// What loads bounds every overridable field in its privileged direction.
		if r.Overrides[policy.OOMScoreAdj] && !oomB.HasMin {
			t.Fatalf("loaded an oomScoreAdj override without a min:\n%s", doc)
		}
		if r.Overrides[policy.CPUPeriod] && (!periodB.HasMin || quotaB == nil || (!quotaB.HasMax && !quotaB.HasSet)) {
			t.Fatalf("loaded a cpu.period override without a period min and a quota max:\n%s", doc)
		}

		container := func() *api.Container {
			c := &api.Container{Name: "app", Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{}}}}
			if ctrOOM >= -1000 && ctrOOM <= 1000 {
				c.Linux.OomScoreAdj = api.Int(int(ctrOOM))
			}
			if ctrPeriod != 0 {
				c.Linux.Resources.Cpu.Period = api.UInt64(ctrPeriod)
			}
			if ctrQuota != 0 {
				c.Linux.Resources.Cpu.Quota = api.Int64(ctrQuota)
			}
			return c
		}
		pod := func(ann map[string]string) *api.PodSandbox {
			return &api.PodSandbox{Name: "p", Namespace: "n", Uid: "u", Annotations: ann}
		}
		with := Decide(p, &Request{Pod: pod(map[string]string{
			"oomscoreadj.specguard.io/container.app": oomAnn,
			"cpu.period.specguard.io/pod":            periodAnn,
			"cpu.quota.specguard.io/pod":             quotaAnn,
		}), Container: container()})
		without := Decide(p, &Request{Pod: pod(nil), Container: container()})
		if !with.Allowed {
			return // a refusal gives nothing away
		}
		oom, period, quota := effectiveCPU(with.Adjustment, container())
		if oomB != nil && oomB.HasMin && oom < oomB.Min {
			t.Fatalf("oom_score_adj %d below the rule's min %d:\n%s", oom, oomB.Min, doc)
		}
		if periodB != nil && periodB.HasMin && period < periodB.Min {
			t.Fatalf("period %d below the rule's min %d:\n%s", period, periodB.Min, doc)
		}
		if quotaB != nil && quotaB.HasMax && (quota <= 0 || quota > quotaB.Max) {
			t.Fatalf("quota %d unlimited or above the rule's max %d:\n%s", quota, quotaB.Max, doc)
		}
		if quotaB != nil && quotaB.HasMax && periodB != nil && periodB.HasMin {
			// quota/period <= max/min, in integers that cannot overflow.
			lhs := new(big.Int).Mul(big.NewInt(quota), big.NewInt(periodB.Min))
			rhs := new(big.Int).Mul(big.NewInt(quotaB.Max), big.NewInt(period))
			if lhs.Cmp(rhs) > 0 {
				t.Fatalf("%d/%d CPUs is above the rule's quota.max/period.min %d/%d:\n%s", quota, period, quotaB.Max, periodB.Min, doc)
			}
		}
		if !without.Allowed {
			return
		}
		// Where the rule has no bound in the privileged direction, the
		// annotation moves nothing that way.
		oom0, period0, _ := effectiveCPU(without.Adjustment, container())
		if (oomB == nil || !oomB.HasMin) && oom < oom0 {
			t.Fatalf("an annotation lowered oom_score_adj from %d to %d with no min in the rule:\n%s", oom0, oom, doc)
		}
		if (periodB == nil || !periodB.HasMin) && period < period0 {
			t.Fatalf("an annotation shortened the period from %d to %d with no min in the rule:\n%s", period0, period, doc)
		}
	})
}

// effectiveCPU is what the container runs with after the adjustment:
// oom_score_adj (unset: 0, inherited), the CFS period (unset: the
// kernel's 100000) and the quota (<= 0: none).
func effectiveCPU(adj *api.ContainerAdjustment, c *api.Container) (oom, period, quota int64) {
	if o := adj.GetLinux().GetOomScoreAdj(); o != nil {
		oom = o.GetValue()
	} else if o := c.GetLinux().GetOomScoreAdj(); o != nil {
		oom = o.GetValue()
	}
	cpu, orig := adj.GetLinux().GetResources().GetCpu(), c.GetLinux().GetResources().GetCpu()
	period = kubelet.QuotaPeriod
	if v := cpu.GetPeriod(); v != nil {
		period = int64(v.GetValue())
	} else if v := orig.GetPeriod().GetValue(); v != 0 {
		period = int64(min(v, 1<<62))
	}
	if v := cpu.GetQuota(); v != nil {
		quota = v.GetValue()
	} else {
		quota = orig.GetQuota().GetValue()
	}
	return oom, period, quota
}
