package engine

import (
	"fmt"
	"strconv"

	"github.com/containerd/nri/pkg/api"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
)

type fieldState struct {
	orig, val       int64
	origSet, valSet bool
	rule            *policy.Rule // last rule that changed it
}

type hugepageState struct {
	size      string
	orig, val int64
	origSet   bool
	rule      *policy.Rule
}

type stringState struct {
	orig, val string
	rule      *policy.Rule
}

// resourceState holds the working value of each resource as rules apply in
// order; the last rule that changes a value wins.
type resourceState struct {
	f            [policy.NumFields]fieldState
	cpus, mems   stringState
	blockio, rdt stringState
	hugepages    []hugepageState
	rlimits      []rlimitState
	unified      []unifiedState
	origRlimits  []*api.POSIXRlimit
	origUnified  map[string]string
	// swapMax is the last enforcing rule's memory.swap max: raising swap
	// to the limit must not pass it.
	swapMax     int64
	swapMaxRule *policy.Rule
}

type rlimitState struct {
	typ        string
	hard, soft uint64
	rule       *policy.Rule
}

type unifiedState struct {
	key, val string
	rule     *policy.Rule
}

func (s *resourceState) init(c *api.Container) {
	lin := c.GetLinux()
	r := lin.GetResources()
	set := func(f policy.Field, v int64, ok bool) {
		if ok {
			s.f[f] = fieldState{orig: v, val: v, origSet: true, valSet: true}
		}
	}
	cpu, mem := r.GetCpu(), r.GetMemory()
	// The kubelet gives a container without a CPU request the minimum
	// shares, so minimum shares count as unset and a default applies.
	set(policy.CPUShares, int64(cpu.GetShares().GetValue()), cpu.GetShares().GetValue() > kubelet.MinShares)
	set(policy.CPUQuota, cpu.GetQuota().GetValue(), cpu.GetQuota() != nil && cpu.GetQuota().GetValue() > 0)
	set(policy.CPUPeriod, int64(cpu.GetPeriod().GetValue()), cpu.GetPeriod() != nil && cpu.GetPeriod().GetValue() > 0)
	set(policy.MemoryLimit, mem.GetLimit().GetValue(), mem.GetLimit() != nil && mem.GetLimit().GetValue() > 0)
	set(policy.MemoryReservation, mem.GetReservation().GetValue(), mem.GetReservation() != nil && mem.GetReservation().GetValue() > 0)
	set(policy.MemorySwap, mem.GetSwap().GetValue(), mem.GetSwap() != nil && mem.GetSwap().GetValue() != 0)
	set(policy.PidsLimit, r.GetPids().GetLimit(), r.GetPids() != nil && r.GetPids().GetLimit() > 0)
	set(policy.OOMScoreAdj, lin.GetOomScoreAdj().GetValue(), lin.GetOomScoreAdj() != nil)
	if lin.GetOomScoreAdj() == nil {
		// An unset oom_score_adj is inherited, 0 on a plain node: bounds apply.
		s.f[policy.OOMScoreAdj] = fieldState{valSet: true}
	}
	s.cpus = stringState{orig: cpu.GetCpus(), val: cpu.GetCpus()}
	s.mems = stringState{orig: cpu.GetMems(), val: cpu.GetMems()}
	s.blockio = stringState{orig: r.GetBlockioClass().GetValue(), val: r.GetBlockioClass().GetValue()}
	s.rdt = stringState{orig: r.GetRdtClass().GetValue(), val: r.GetRdtClass().GetValue()}
	for _, h := range r.GetHugepageLimits() {
		s.hugepages = append(s.hugepages, hugepageState{size: h.GetPageSize(), orig: int64(h.GetLimit()), val: int64(h.GetLimit()), origSet: true})
	}
	s.origRlimits = c.GetRlimits()
	s.origUnified = r.GetUnified()
}

// formatValue renders a field value for traces and messages.
func formatValue(f policy.Field, v int64) string {
	if policy.IsMemoryField(f) && v > 0 {
		return resource.NewQuantity(v, resource.BinarySI).String()
	}
	return strconv.FormatInt(v, 10)
}

// override reads the pod annotation asking for a value of f, if any.
func (x *decider) override(f policy.Field) (string, string, bool) {
	podKey, prefix := policy.OverrideKeys(f)
	ann := x.req.Pod.GetAnnotations()
	if len(ann) == 0 {
		return "", "", false
	}
	key := prefix + x.req.Container.GetName()
	if v, ok := ann[key]; ok {
		return key, v, true
	}
	if v, ok := ann[podKey]; ok {
		return podKey, v, true
	}
	return "", "", false
}

func (x *decider) applyResources(r *policy.Rule) {
	rr := r.Resources
	audit := r.Mode == policy.ModeAudit
	for f := policy.Field(0); f < policy.NumFields; f++ {
		b := rr.Bounds[f]
		if b == nil {
			continue
		}
		if f == policy.MemorySwap && b.HasMax && b.Max >= 0 && !audit {
			x.res.swapMax, x.res.swapMaxRule = b.Max, r
		}
		st := &x.res.f[f]
		v, has := st.val, st.valSet
		action, note := "", ""
		name := f.String()
		if r.Overrides[f] {
			if key, raw, ok := x.override(f); ok {
				ov, err := policy.ParseFieldValue(f, raw)
				unlimited := err == nil && b.HasMax && policy.Unlimited(f, ov)
				switch {
				case err != nil:
					x.trace(r.Name, name, "override-ignored", "annotation "+key+": "+err.Error())
				case (unlimited || !b.Within(ov)) && rr.Reject:
					x.refuse(r.Name, r.Mode, fmt.Sprintf("%s: override annotation %s=%s is outside the rule's bounds", name, key, clip(raw)))
				case unlimited:
					v, has, action = b.Max, true, "override-clamped"
				case !b.Within(ov):
					v, has, action = b.Clamp(ov), true, "override-clamped"
				default:
					v, has, action = ov, true, "override"
				}
			}
		}
		if b.HasSet {
			v, has, action = b.Set, true, "set"
		} else if !has && b.HasDefault {
			v, has, action = b.Default, true, "default"
		}
		// A container without a CFS period runs at the kernel's 100000, and
		// the rule's period bounds apply to that: otherwise a quota max over
		// a period min above it would not bound the CPU count.
		kernelPeriod := false
		if !has && f == policy.CPUPeriod {
			v, has, kernelPeriod = kubelet.QuotaPeriod, true, true
		}
		unlimited := b.HasMax && ((!has && policy.UnlimitedWhenUnset(f)) || (has && policy.Unlimited(f, v)))
		if unlimited || (has && !b.Within(v)) {
			desc := "unlimited"
			if has {
				desc = formatValue(f, v)
				if unlimited {
					desc += " (unlimited)"
				}
				if kernelPeriod {
					desc = "unset (the kernel's " + desc + ")"
				}
			}
			lim := "max " + formatValue(f, b.Max)
			if has && !unlimited && b.HasMin && v < b.Min {
				lim = "min " + formatValue(f, b.Min)
			}
			if rr.Reject {
				verb := "exceeds"
				if lim[0] == 'm' && lim[1] == 'i' {
					verb = "is below"
				}
				x.refuseAt(r.Name, r.Mode, name, fmt.Sprintf("%s: %s %s %s", name, desc, verb, lim))
				continue
			}
			if unlimited {
				v = b.Max
			} else {
				v = b.Clamp(v)
			}
			has, action = true, "clamp"
			note = " (was " + desc + ")"
		}
		if action == "" || (has == st.valSet && v == st.val) {
			continue
		}
		if audit {
			from := "unset"
			if st.valSet {
				from = formatValue(f, st.val)
			}
			// A default, or the pod's own override within bounds, fills in;
			// a clamp, or a set replacing the container's value, changes.
			own := action == "clamp" || action == "override-clamped" || (action == "set" && st.origSet && v != st.orig)
			x.auditChange(r.Name, name, own, fmt.Sprintf("would %s %s from %s to %s", action, name, from, formatValue(f, v)))
			continue
		}
		st.val, st.valSet, st.rule = v, true, r
		x.trace(r.Name, name, action, formatValue(f, v)+note)
	}
	x.applyResourceSettings(r, audit)
}

// applyResourceSettings handles the values a rule sets outright.
func (x *decider) applyResourceSettings(r *policy.Rule, audit bool) {
	rr := r.Resources
	setString := func(field string, st *stringState, v string) {
		if v == "" || v == st.val {
			return
		}
		if audit {
			x.auditChange(r.Name, field, st.orig != "" && st.orig != v, "would set "+field+" to "+v)
			return
		}
		st.val, st.rule = v, r
		x.trace(r.Name, field, "set", v)
	}
	setString("resources.cpu.cpus", &x.res.cpus, rr.CPUs)
	setString("resources.cpu.mems", &x.res.mems, rr.Mems)
	setString("resources.blockioClass", &x.res.blockio, rr.BlockIOClass)
	setString("resources.rdtClass", &x.res.rdt, rr.RDTClass)

	for _, hb := range rr.Hugepages {
		var st *hugepageState
		for i := range x.res.hugepages {
			if x.res.hugepages[i].size == hb.PageSize {
				st = &x.res.hugepages[i]
			}
		}
		if st == nil {
			x.res.hugepages = append(x.res.hugepages, hugepageState{size: hb.PageSize})
			st = &x.res.hugepages[len(x.res.hugepages)-1]
		}
		field := "resources.hugepages[" + hb.PageSize + "]"
		v, action := st.val, ""
		if hb.HasSet {
			v, action = hb.Set, "set"
		} else if !st.origSet && st.rule == nil && hb.HasDefault {
			v, action = hb.Default, "default"
		}
		if !hb.Within(v) {
			if rr.Reject {
				x.refuseAt(r.Name, r.Mode, field, fmt.Sprintf("%s: %s is outside min/max", field, formatValue(policy.MemoryLimit, v)))
				continue
			}
			v, action = hb.Clamp(v), "clamp"
		}
		if action == "" || v == st.val && (st.origSet || st.rule != nil) {
			continue
		}
		if audit {
			x.auditChange(r.Name, field, action == "clamp" || (st.origSet && v != st.orig),
				fmt.Sprintf("would %s %s to %d", action, field, v))
			continue
		}
		st.val, st.rule = v, r
		x.trace(r.Name, field, action, formatValue(policy.MemoryLimit, v))
	}

	for _, rl := range rr.Rlimits {
		if cur := x.currentRlimit(rl.Type); cur != nil && cur.hard == rl.Hard && cur.soft == rl.Soft {
			continue
		}
		val := fmt.Sprintf("soft=%d hard=%d", rl.Soft, rl.Hard)
		if audit {
			x.auditChange(r.Name, "resources.rlimits["+rl.Type+"]", x.ownRlimitDiffers(rl), "would set rlimit "+rl.Type+" "+val)
			continue
		}
		x.setRlimit(rlimitState{typ: rl.Type, hard: rl.Hard, soft: rl.Soft, rule: r})
		x.trace(r.Name, "resources.rlimits["+rl.Type+"]", "set", val)
	}

	for _, kv := range rr.Unified {
		if x.currentUnified(kv.Key) == kv.Value {
			continue
		}
		if audit {
			cur, ok := x.res.origUnified[kv.Key]
			own := ok && cur != kv.Value
			x.auditChange(r.Name, "resources.unified["+kv.Key+"]", own, "would set unified "+kv.Key+"="+kv.Value)
			continue
		}
		x.setUnified(unifiedState{key: kv.Key, val: kv.Value, rule: r})
		x.trace(r.Name, "resources.unified["+kv.Key+"]", "set", kv.Value)
	}
}

// ownRlimitDiffers reports whether the container came with an rlimit of
// rl's type set to other values.
func (x *decider) ownRlimitDiffers(rl policy.Rlimit) bool {
	for _, o := range x.res.origRlimits {
		if o.GetType() == rl.Type {
			return o.GetHard() != rl.Hard || o.GetSoft() != rl.Soft
		}
	}
	return false
}

func (x *decider) currentRlimit(typ string) *rlimitState {
	for i := range x.res.rlimits {
		if x.res.rlimits[i].typ == typ {
			return &x.res.rlimits[i]
		}
	}
	for _, o := range x.res.origRlimits {
		if o.GetType() == typ {
			return &rlimitState{typ: typ, hard: o.GetHard(), soft: o.GetSoft()}
		}
	}
	return nil
}

func (x *decider) setRlimit(s rlimitState) {
	for i := range x.res.rlimits {
		if x.res.rlimits[i].typ == s.typ {
			x.res.rlimits[i] = s
			return
		}
	}
	x.res.rlimits = append(x.res.rlimits, s)
}

func (x *decider) currentUnified(key string) string {
	for _, u := range x.res.unified {
		if u.key == key {
			return u.val
		}
	}
	return x.res.origUnified[key]
}

func (x *decider) setUnified(s unifiedState) {
	for i := range x.res.unified {
		if x.res.unified[i].key == s.key {
			x.res.unified[i] = s
			return
		}
	}
	x.res.unified = append(x.res.unified, s)
}

// apply writes every changed value into the adjustment.
func (s *resourceState) apply(x *decider) {
	adj := x.adj
	changed := func(f policy.Field) bool {
		st := &s.f[f]
		return st.rule != nil && (!st.origSet || st.val != st.orig)
	}
	for f := policy.Field(0); f < policy.NumFields; f++ {
		if !changed(f) {
			continue
		}
		v := s.f[f].val
		switch f {
		case policy.CPUShares:
			adj.SetLinuxCPUShares(uint64(v))
		case policy.CPUQuota:
			adj.SetLinuxCPUQuota(v)
		case policy.CPUPeriod:
			adj.SetLinuxCPUPeriod(v)
		case policy.MemoryLimit:
			adj.SetLinuxMemoryLimit(v)
		case policy.MemoryReservation:
			adj.SetLinuxMemoryReservation(v)
		case policy.MemorySwap:
			adj.SetLinuxMemorySwap(v)
		case policy.PidsLimit:
			adj.SetLinuxPidLimits(v)
		case policy.OOMScoreAdj:
			n := int(v)
			adj.SetLinuxOomScoreAdj(&n)
		}
		x.markChanged(s.f[f].rule)
	}
	// memory.swap is memory+swap: keep it at least the limit (runc refuses
	// a spec with less), and keep "no swap" (swap == limit) when the limit
	// moves. Where a rule's swap max forbids that, refuse with the reason.
	lim, sw := s.f[policy.MemoryLimit], s.f[policy.MemorySwap]
	follow := changed(policy.MemoryLimit) && !changed(policy.MemorySwap) &&
		sw.origSet && sw.orig > 0 && (sw.orig < lim.val || sw.orig == lim.orig)
	raise := changed(policy.MemorySwap) && lim.valSet && lim.val > 0 && sw.val > 0 && sw.val < lim.val
	if follow || raise {
		by := lim.rule
		if raise {
			by = sw.rule
		}
		if r := s.swapMaxRule; r != nil && lim.val > s.swapMax {
			x.refuse(r.Name, r.Mode, fmt.Sprintf("resources.memory.swap: the memory limit %s is above max %s: memory.swap is memory plus swap and cannot be below the limit",
				formatValue(policy.MemoryLimit, lim.val), formatValue(policy.MemorySwap, s.swapMax)))
		} else {
			adj.SetLinuxMemorySwap(lim.val)
			x.trace(by.Name, "resources.memory.swap", "follow-limit", formatValue(policy.MemorySwap, lim.val))
		}
	}
	for _, st := range []*stringState{&s.cpus, &s.mems, &s.blockio, &s.rdt} {
		if st.rule == nil || st.val == st.orig {
			continue
		}
		switch st {
		case &s.cpus:
			adj.SetLinuxCPUSetCPUs(st.val)
		case &s.mems:
			adj.SetLinuxCPUSetMems(st.val)
		case &s.blockio:
			adj.SetLinuxBlockIOClass(st.val)
		case &s.rdt:
			adj.SetLinuxRDTClass(st.val)
		}
		x.markChanged(st.rule)
	}
	for _, h := range s.hugepages {
		if h.rule != nil && (!h.origSet || h.val != h.orig) {
			adj.AddLinuxHugepageLimit(h.size, uint64(h.val))
			x.markChanged(h.rule)
		}
	}
	for _, rl := range s.rlimits {
		adj.AddRlimit(rl.typ, rl.hard, rl.soft)
		x.markChanged(rl.rule)
	}
	for _, u := range s.unified {
		adj.AddLinuxUnified(u.key, u.val)
		x.markChanged(u.rule)
	}
}
