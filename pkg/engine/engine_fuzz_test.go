package engine

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

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
		// NRI delivers only valid UTF-8 (protobuf strings): for such input
		// the reply must be sendable.
		valid := true
		for _, s := range []string{ns, name, ctr, label, memOverride, sharesOverride} {
			valid = valid && utf8.ValidString(s)
		}
		d := Decide(enforce, &Request{Pod: pod, Container: c})
		if valid {
			checkReply(t, d)
		}
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
		if valid {
			checkReply(t, a)
		}
		if !a.Allowed {
			t.Fatalf("audit refused: %s", a.Reason)
		}
		if a.Adjustment.GetLinux() != nil || len(a.Adjustment.GetEnv()) > 0 || len(a.Adjustment.GetRlimits()) > 0 {
			t.Fatalf("audit changed the container: %v", a.Adjustment)
		}
	})
}

// richPolicy exercises every part of a rule: resources of every kind,
// security checks, env and annotation templates.
const richPolicy = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
  - name: everything
    env: [{name: POD, value: "{{ .Pod.Name }}/{{ .Container.Name }}/{{ .RestartCount }}/{{ .LogPath }}/{{ .QOSClass }}"}]
    annotations:
      add: {example.com/owner: "{{ .Pod.Labels.team }}"}
      remove: [example.com/debug]
    resources:
      cpu: {shares: {default: 256, min: 16, max: 2048}, quota: {max: 400000}, period: {set: 100000}, cpus: "0-1"}
      memory: {limit: {default: 256Mi, min: 16Mi, max: 2Gi}, reservation: {max: 1Gi}, swap: {max: 4Gi}}
      pids: {limit: {default: 1024, max: 4096}}
      oomScoreAdj: {min: -500, max: 1000}
      hugepages: [{pageSize: 2MB, limit: {max: 1Gi}}]
      rlimits: [{type: RLIMIT_NOFILE, soft: 1024, hard: 4096}]
      unified: {memory.high: "max"}
    overrides: {allow: [resources.memory.limit, resources.cpu.shares, resources.cpu.quota, resources.pids.limit, resources.oomScoreAdj, resources.memory.swap]}
  - name: guard
    security:
      runAsNonRoot: true
      hostNamespaces: deny
      hostPaths: {allow: ["/var/lib/kubelet/**"]}
      devices: deny
      sysctls: {allow: ["net.ipv4.tcp_*"]}
      seccomp: {unconfined: inject}
      maskedPaths: ["/proc/kcore"]
`

// FuzzDecideNRI: pods and containers decoded from arbitrary protobuf bytes,
// as a hostile or buggy runtime could send them. No panic; every bounded
// value the adjustment sets is within the rule's bounds, and memory.swap is
// never left below the memory limit (runc refuses that); the same policy in
// audit mode changes nothing in the container's resources, env or
// security, and refuses nothing.
func FuzzDecideNRI(f *testing.F) {
	enforce, err := policy.Parse("fuzz.yaml", []byte(richPolicy))
	if err != nil {
		f.Fatal(err)
	}
	audit, err := policy.Parse("fuzz.yaml", []byte(richPolicy+"  mode: audit\n"))
	if err != nil {
		f.Fatal(err)
	}
	// The security rule in audit mode: resources are decided even for
	// containers the security checks would refuse.
	guardAudit, err := policy.Parse("fuzz.yaml", []byte(strings.Replace(richPolicy, "- name: guard\n", "- name: guard\n    mode: audit\n", 1)))
	if err != nil {
		f.Fatal(err)
	}
	bounds := map[string][2]int64{
		"cpu.shares": {16, 2048}, "cpu.quota": {0, 400000}, "cpu.period": {100000, 100000},
		"memory.limit": {16 << 20, 2 << 30}, "memory.reservation": {0, 1 << 30}, "memory.swap": {-1, 4 << 30},
		"pids.limit": {0, 4096}, "oomScoreAdj": {-500, 1000}, "hugepages.2MB": {0, 1 << 30},
	}
	seed := func(pod *api.PodSandbox, c *api.Container) {
		pb, _ := proto.Marshal(pod)
		cb, _ := proto.Marshal(c)
		f.Add(pb, cb)
	}
	pod := &api.PodSandbox{Id: "sb", Name: "web-0", Namespace: "team-a", Uid: "u1", RuntimeHandler: "runc",
		Labels:      map[string]string{"team": "blue"},
		Annotations: map[string]string{"memory.limit.specguard.io/container.app": "64Gi", "cpu.shares.specguard.io/pod": "1"},
		Linux: &api.LinuxPodSandbox{Namespaces: []*api.LinuxNamespace{{Type: "network", Path: "/proc/1/ns/net"}},
			PodResources: &api.LinuxResources{Memory: &api.LinuxMemory{Limit: api.Int64(1 << 40)}}}}
	c := &api.Container{Id: "c", PodSandboxId: "sb", Name: "app", Env: []string{"A=1", "=", "\x00"},
		Labels:      map[string]string{"io.kubernetes.pod.name": "other", "io.kubernetes.container.restartCount": "-3"},
		Annotations: map[string]string{"example.com/debug": "1", "io.kubernetes.container.restartCount": "99999999999999999999"},
		User:        &api.User{Uid: 0},
		Mounts:      []*api.Mount{{Destination: "/host", Source: "/etc", Type: "bind", Options: []string{"rbind"}}},
		Rlimits:     []*api.POSIXRlimit{{Type: "RLIMIT_NOFILE", Hard: 1 << 62, Soft: 1 << 62}},
		Linux: &api.LinuxContainer{
			OomScoreAdj: api.Int(-1000),
			Devices:     []*api.LinuxDevice{{Path: "/dev/mem", Type: "c", Major: 1, Minor: 1}},
			Namespaces:  []*api.LinuxNamespace{{Type: "pid"}},
			Resources: &api.LinuxResources{
				Cpu:            &api.LinuxCPU{Shares: api.UInt64(uint64(1 << 63)), Quota: api.Int64(-1), Period: api.UInt64(0)},
				Memory:         &api.LinuxMemory{Limit: api.Int64(-1), Swap: api.Int64(1 << 62), Reservation: api.Int64(1 << 62)},
				Pids:           &api.LinuxPids{Limit: -1},
				HugepageLimits: []*api.HugepageLimit{{PageSize: "2MB", Limit: 1 << 63}},
				Unified:        map[string]string{"memory.high": "1"},
			},
			Sysctl: map[string]string{"kernel.panic": "1"},
		}}
	seed(pod, c)
	seed(&api.PodSandbox{}, &api.Container{})
	// A swap override below the limit: swap used to stay below it.
	seed(&api.PodSandbox{Name: "p", Namespace: "n", Uid: "u", Annotations: map[string]string{"memory.swap.specguard.io/pod": "1Mi"}},
		&api.Container{Name: "app", Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Memory: &api.LinuxMemory{Limit: api.Int64(1 << 30)}}}})
	seed(&api.PodSandbox{Name: "p", Namespace: "n", Uid: "u"}, &api.Container{Name: "app", Linux: &api.LinuxContainer{}})
	// Host access without device nodes or binds: device cgroup rules and
	// kernel filesystems (hostaccess.go).
	seed(&api.PodSandbox{Name: "p", Namespace: "team-a", Uid: "u"}, &api.Container{Name: "app",
		Mounts: []*api.Mount{{Destination: "/sys", Type: "sysfs", Options: []string{"ro", "rw"}},
			{Destination: "/m", Type: "overlay", Options: []string{`lowerdir=/a\:b::/c\`, "upperdir=rel"}},
			{Destination: "/d", Type: "debugfs"}},
		Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Devices: []*api.LinuxDeviceCgroup{
			{Allow: true, Type: "b", Major: api.Int64(int64(8)), Access: "rwm"},
			{Allow: true, Minor: api.Int64(int64(-7)), Access: "xyz"}}}}})
	f.Fuzz(func(t *testing.T, podBytes, ctrBytes []byte) {
		pod, c := &api.PodSandbox{}, &api.Container{}
		if proto.Unmarshal(podBytes, pod) != nil || proto.Unmarshal(ctrBytes, c) != nil {
			return
		}
		if d := Decide(enforce, &Request{Pod: pod, Container: c}); d.Allowed {
			checkBounds(t, d.Adjustment, bounds)
			checkSwap(t, c, d.Adjustment)
		} else {
			checkReply(t, d)
		}
		d := Decide(guardAudit, &Request{Pod: pod, Container: c})
		checkReply(t, d)
		switch {
		case d.Allowed:
			checkBounds(t, d.Adjustment, bounds)
			checkSwap(t, c, d.Adjustment)
		default:
			// Spoofed labels are always refused, and so is an env value the
			// runtime cannot take (a NUL from the pod's name, say).
			for _, v := range d.Refusals {
				if v.Rule != RuleIdentity && !strings.HasPrefix(v.Message, "env ") {
					t.Fatalf("refused with only clamping rules in force: %s", d.Reason)
				}
			}
		}
		a := Decide(audit, &Request{Pod: pod, Container: c})
		checkReply(t, a)
		if !a.Allowed {
			t.Fatalf("audit refused: %s", a.Reason)
		}
		assertUnchanged(t, a.Adjustment)
	})
}

// FuzzOverrideBounds: for any field, any bounds a policy can state and any
// override annotation, the value set stays within the bounds: an override
// never lifts past a rule's max or below its min.
func FuzzOverrideBounds(f *testing.F) {
	f.Add(uint8(policy.MemoryLimit), "64Mi", "1Gi", "256Mi", "64Gi", int64(0), true)
	f.Add(uint8(policy.CPUShares), "2", "1024", "", "262144", int64(1<<40), false)
	f.Add(uint8(policy.OOMScoreAdj), "-1000", "0", "0", "1000", int64(-1000), false)
	f.Add(uint8(policy.MemorySwap), "", "512Mi", "", "-1", int64(-1), true)
	f.Add(uint8(policy.CPUQuota), "1000", "", "", "1e18", int64(-1), true)
	f.Fuzz(func(t *testing.T, field uint8, min, max, def, override string, current int64, pod bool) {
		fld := policy.Field(field % uint8(policy.NumFields))
		var bounds []string
		for _, kv := range [][2]string{{"min", min}, {"max", max}, {"default", def}} {
			if kv[1] != "" {
				bounds = append(bounds, kv[0]+": "+strconv.Quote(kv[1]))
			}
		}
		if len(bounds) == 0 {
			return
		}
		path := strings.Split(strings.TrimPrefix(fld.String(), "resources."), ".")
		yaml := "{" + strings.Join(bounds, ", ") + "}"
		for i := len(path) - 1; i >= 0; i-- {
			yaml = "{" + path[i] + ": " + yaml + "}"
		}
		p, err := policy.Parse("fuzz.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: r\n    resources: "+
			yaml+"\n    overrides: {allow: ["+fld.String()+"]}\n"))
		if err != nil {
			return
		}
		b := p.Rules[0].Resources.Bounds[fld]
		podKey, prefix := policy.OverrideKeys(fld)
		key := prefix + "app"
		if pod {
			key = podKey
		}
		c := &api.Container{Name: "app", Linux: &api.LinuxContainer{Resources: &api.LinuxResources{
			Cpu: &api.LinuxCPU{}, Memory: &api.LinuxMemory{}}}}
		setField(c, fld, current)
		d := Decide(p, &Request{Pod: &api.PodSandbox{Name: "p", Namespace: "n", Uid: "u",
			Annotations: map[string]string{key: override}}, Container: c})
		if !d.Allowed {
			t.Fatalf("clamp-mode rule refused: %s", d.Reason)
		}
		if v, set := getField(d.Adjustment, fld); set && (!b.Within(v) || (b.HasMax && policy.Unlimited(fld, v))) {
			t.Fatalf("%s = %d outside %+v or unlimited (override %q, current %d)", fld, v, *b, override, current)
		}
	})
}

func setField(c *api.Container, f policy.Field, v int64) {
	r := c.Linux.Resources
	switch f {
	case policy.CPUShares:
		r.Cpu.Shares = api.UInt64(uint64(v))
	case policy.CPUQuota:
		r.Cpu.Quota = api.Int64(v)
	case policy.CPUPeriod:
		r.Cpu.Period = api.UInt64(uint64(v))
	case policy.MemoryLimit:
		r.Memory.Limit = api.Int64(v)
	case policy.MemoryReservation:
		r.Memory.Reservation = api.Int64(v)
	case policy.MemorySwap:
		r.Memory.Swap = api.Int64(v)
	case policy.PidsLimit:
		r.Pids = &api.LinuxPids{Limit: v}
	case policy.OOMScoreAdj:
		c.Linux.OomScoreAdj = api.Int(int(v))
	}
}

func getField(adj *api.ContainerAdjustment, f policy.Field) (int64, bool) {
	r := adj.GetLinux().GetResources()
	switch f {
	case policy.CPUShares:
		return int64(r.GetCpu().GetShares().GetValue()), r.GetCpu().GetShares() != nil
	case policy.CPUQuota:
		return r.GetCpu().GetQuota().GetValue(), r.GetCpu().GetQuota() != nil
	case policy.CPUPeriod:
		return int64(r.GetCpu().GetPeriod().GetValue()), r.GetCpu().GetPeriod() != nil
	case policy.MemoryLimit:
		return r.GetMemory().GetLimit().GetValue(), r.GetMemory().GetLimit() != nil
	case policy.MemoryReservation:
		return r.GetMemory().GetReservation().GetValue(), r.GetMemory().GetReservation() != nil
	case policy.MemorySwap:
		return r.GetMemory().GetSwap().GetValue(), r.GetMemory().GetSwap() != nil
	case policy.PidsLimit:
		return r.GetPids().GetLimit(), r.GetPids() != nil
	case policy.OOMScoreAdj:
		o := adj.GetLinux().GetOomScoreAdj()
		return o.GetValue(), o != nil
	}
	return 0, false
}

// checkReply fails if the decision could not go back over NRI: the
// adjustment must marshal (protobuf strings are valid UTF-8) and so must
// the refusal, which becomes the error status's message.
func checkReply(t *testing.T, d *Decision) {
	t.Helper()
	if _, err := proto.Marshal(d.Adjustment); err != nil {
		t.Fatalf("the adjustment cannot be sent: %v", err)
	}
	if !utf8.ValidString(d.Reason) {
		t.Fatalf("the refusal is not valid UTF-8: %q", d.Reason)
	}
}

// checkBounds fails if a value the adjustment sets is outside its bounds.
func checkBounds(t *testing.T, adj *api.ContainerAdjustment, b map[string][2]int64) {
	t.Helper()
	check := func(field string, v int64, set bool) {
		if lim := b[field]; set && (v < lim[0] || v > lim[1]) {
			t.Fatalf("%s = %d outside [%d, %d]", field, v, lim[0], lim[1])
		}
	}
	for f := policy.Field(0); f < policy.NumFields; f++ {
		v, set := getField(adj, f)
		check(strings.TrimPrefix(f.String(), "resources."), v, set)
	}
	for _, h := range adj.GetLinux().GetResources().GetHugepageLimits() {
		if h.Limit > 1<<62 {
			t.Fatalf("hugepages %s = %d", h.PageSize, h.Limit)
		}
		check("hugepages."+h.PageSize, int64(h.Limit), true)
	}
}

// checkSwap fails if the adjustment leaves memory.swap (memory plus swap)
// below the memory limit: runc refuses such a spec.
func checkSwap(t *testing.T, c *api.Container, adj *api.ContainerAdjustment) {
	t.Helper()
	orig, m := c.GetLinux().GetResources().GetMemory(), adj.GetLinux().GetResources().GetMemory()
	if m.GetLimit() == nil && m.GetSwap() == nil {
		return // the container's own values
	}
	lim, sw := orig.GetLimit().GetValue(), orig.GetSwap().GetValue()
	if m.GetLimit() != nil {
		lim = m.GetLimit().GetValue()
	}
	if m.GetSwap() != nil {
		sw = m.GetSwap().GetValue()
	}
	if lim > 0 && sw > 0 && sw < lim {
		t.Fatalf("memory.swap %d below the memory limit %d", sw, lim)
	}
}

// assertUnchanged fails if an audit-mode decision changes the container.
func assertUnchanged(t *testing.T, adj *api.ContainerAdjustment) {
	t.Helper()
	l := adj.GetLinux()
	if len(adj.GetEnv()) > 0 || len(adj.GetRlimits()) > 0 || len(adj.GetMounts()) > 0 || adj.GetHooks() != nil ||
		l.GetResources() != nil || l.GetOomScoreAdj() != nil || len(l.GetDevices()) > 0 || l.GetSeccompPolicy() != nil ||
		len(l.GetNamespaces()) > 0 || len(l.GetSysctl()) > 0 {
		t.Fatalf("audit changed the container: %v", adj)
	}
}
