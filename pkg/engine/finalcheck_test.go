package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/restarts"
)

const finalPolicy = `  validation: {trustedPlugins: ["96-trusted"]}
  rules:
  - name: cap
    match: {namespaces: [team-a]}
    env: [{name: RESTART_COUNT, value: "{{ .RestartCount }}"}]
    resources:
      memory: {limit: {default: 256Mi, max: 2Gi}}
      pids: {limit: {max: 4096}}
    security:
      sysctls: {}
      maskedPaths: [/etc/shadow]
  - name: watch
    mode: audit
    match: {namespaces: [team-a]}
    resources:
      oomScoreAdj: {min: -500}
`

// withSpecguard is a validation request whose merged adjustment holds
// what specguard's own decision (restart count 3) gave the container, each
// field claimed by 90-specguard, as the runtime records it.
func withSpecguard(t *testing.T, spec string) (*adjusted, string) {
	t.Helper()
	p := mustPolicy(t, spec)
	c := secContainer()
	c.Linux.Resources = &api.LinuxResources{Pids: &api.LinuxPids{Limit: 100}} // within the max: specguard leaves it
	a := newAdjusted(c)
	a.req.Plugins = []*api.PluginInstance{{Name: "specguard", Index: "90"}, {Name: "late", Index: "95"}, {Name: "trusted", Index: "96"}}
	d := Decide(p, &Request{Pod: a.req.Pod, Container: c, Facts: Facts{Restart: restarts.Assignment{Count: 3}}})
	if !d.Allowed {
		t.Fatalf("specguard refuses the pristine container: %s", d.Reason)
	}
	a.req.Adjust = proto.Clone(d.Adjustment).(*api.ContainerAdjustment)
	o, id := a.req.Owners, a.id()
	for k := range a.req.Adjust.GetAnnotations() {
		o.ClaimAnnotation(id, k, "90-specguard")
	}
	for _, e := range a.req.Adjust.GetEnv() {
		o.ClaimEnv(id, e.Key, "90-specguard")
	}
	for _, m := range a.req.Adjust.GetMounts() {
		o.ClaimMount(id, m.Destination, "90-specguard")
	}
	if a.req.Adjust.GetLinux().GetResources().GetMemory().GetLimit() != nil {
		o.ClaimMemLimit(id, "90-specguard")
	}
	return a, spec
}

func TestValidateFinalContainer(t *testing.T) {
	for name, tc := range map[string]struct {
		spec  string // the policy; finalPolicy when empty
		build func(a *adjusted)
		want  []string // substrings of the one finding; nil: none
		audit bool     // the findings only report
	}{
		"specguard's own decision": {build: func(*adjusted) {}},
		"a pids limit past the max": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxPidLimits(1 << 20)
				a.req.Owners.ClaimPidsLimit(a.id(), "95-late")
			},
			want: []string{`plugin "95-late" sets resources.pids.limit to 1048576, which the policy holds at 4096 (resources.pids.limit, rule "cap")`},
		},
		"a trusted plugin's pids limit": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxPidLimits(1 << 20)
				a.req.Owners.ClaimPidsLimit(a.id(), "96-trusted")
			},
		},
		"the trusted name at another index": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxPidLimits(1 << 20)
				a.req.Owners.ClaimPidsLimit(a.id(), "97-trusted")
			},
			want: []string{`plugin "97-trusted" sets resources.pids.limit`},
		},
		"a sysctl outside the safe set": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxSysctl("kernel.core_pattern", "|/x")
				a.req.Owners.ClaimSysctl(a.id(), "kernel.core_pattern", "95-late")
			},
			want: []string{`plugin "95-late" makes the container fail the rule: sysctls: kernel.core_pattern is not an allowed sysctl`},
		},
		"a memory limit from a plugin before specguard, within the max": {
			build: func(a *adjusted) {
				// specguard's decision on the pristine container defaults the
				// limit; at CreateContainer it saw 1Gi and left it.
				a.req.Adjust.SetLinuxMemoryLimit(1 << 30)
				a.req.Owners = api.NewOwningPlugins()
				a.req.Owners.ClaimMemLimit(a.id(), "10-early")
				for k := range a.req.Adjust.GetAnnotations() {
					a.req.Owners.ClaimAnnotation(a.id(), k, "90-specguard")
				}
				for _, e := range a.req.Adjust.GetEnv() {
					a.req.Owners.ClaimEnv(a.id(), e.Key, "90-specguard")
				}
				for _, m := range a.req.Adjust.GetMounts() {
					a.req.Owners.ClaimMount(a.id(), m.Destination, "90-specguard")
				}
			},
		},
		"a memory limit from a plugin before specguard, past the max": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxMemoryLimit(64 << 30)
				a.req.Owners.ClearMemLimit(a.id(), "10-early")
				a.req.Owners.ClaimMemLimit(a.id(), "10-early")
			},
			want: []string{`plugin "10-early" sets resources.memory.limit to 64Gi, which the policy holds at 2Gi (resources.memory.limit, rule "cap")`},
		},
		"a forged restart count": {
			build: func(a *adjusted) {
				a.req.Adjust.AddAnnotation(annotations.RestartCount, "0")
				a.req.Owners.ClearAnnotation(a.id(), annotations.RestartCount, "95-late")
				a.req.Owners.ClaimAnnotation(a.id(), annotations.RestartCount, "95-late")
			},
			want: []string{`plugin "95-late" changes specguard's annotations[specguard.io/restart-count] from "3" to "0" (annotations[specguard.io/restart-count], rule "metadata")`},
		},
		"specguard's env removed": {
			build: func(a *adjusted) {
				a.req.Adjust.Env = nil
				a.req.Owners.ClearEnv(a.id(), "RESTART_COUNT", "95-late")
			},
			want: []string{`plugin "95-late" changes specguard's env[RESTART_COUNT] from "3" to nothing`},
		},
		"specguard's annotation removed, owner not recorded": {
			build: func(a *adjusted) { a.req.Adjust.RemoveAnnotation(annotations.LogPath) },
			want:  []string{`plugin "95-late" removes specguard's annotations[specguard.io/log-path]`, "the only untrusted plugin consulted"},
		},
		"a mask replaced": {
			build: func(a *adjusted) {
				a.req.Adjust.AddMount(bindMount("/etc/shadow", "/srv/shadow"))
				a.req.Owners.ClearMount(a.id(), "/etc/shadow", "95-late")
				a.req.Owners.ClaimMount(a.id(), "/etc/shadow", "95-late")
			},
			want: []string{`plugin "95-late" changes specguard's mounts[/etc/shadow] from bind /dev/null`},
		},
		"a cgroup file standing for the memory limit": {
			build: func(a *adjusted) {
				a.req.Adjust.AddLinuxUnified("memory.max", "max")
				a.req.Owners.ClaimCgroupsUnified(a.id(), "memory.max", "95-late")
			},
			want: []string{`plugin "95-late" sets the cgroup file memory.max="max", which bypasses the rule's resources.memory.limit (resources.unified[memory.max], rule "cap")`},
		},
		"a cgroup file standing for a hugepage bound": {
			spec: strings.Replace(finalPolicy, "      pids: {limit: {max: 4096}}\n", "      pids: {limit: {max: 4096}}\n      hugepages: [{pageSize: 2MB, limit: {max: 1Gi}}]\n", 1),
			build: func(a *adjusted) {
				a.req.Adjust.AddLinuxUnified("hugetlb.2MB.rsvd.max", "max")
				a.req.Owners.ClaimCgroupsUnified(a.id(), "hugetlb.2MB.rsvd.max", "95-late")
			},
			want: []string{`plugin "95-late" sets the cgroup file hugetlb.2MB.rsvd.max="max", which bypasses the rule's resources.hugepages[2MB] (resources.unified[hugetlb.2MB.rsvd.max], rule "cap")`},
		},
		"memory.min standing for the reservation": {
			spec: strings.Replace(finalPolicy, "memory: {limit: {default: 256Mi, max: 2Gi}}", "memory: {limit: {default: 256Mi, max: 2Gi}, reservation: {max: 1Gi}}", 1),
			build: func(a *adjusted) {
				a.req.Adjust.AddLinuxUnified("memory.min", "68719476736")
				a.req.Owners.ClaimCgroupsUnified(a.id(), "memory.min", "95-late")
			},
			want: []string{`plugin "95-late" sets the cgroup file memory.min="68719476736", which bypasses the rule's resources.memory.reservation (resources.unified[memory.min], rule "cap")`},
		},
		"a field no rule judges": {
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxCgroupsPath("/")
				a.req.Owners.ClaimCgroupsPath(a.id(), "95-late")
			},
			want: []string{`plugin "95-late" moves the container to cgroup "/", a field no rule judges (linux.cgroupsPath, validation.allowFields)`},
		},
		"a field allowFields lists": {
			spec: strings.Replace(finalPolicy, `trustedPlugins: ["96-trusted"]`, `allowFields: [linux.cgroupsPath]`, 1),
			build: func(a *adjusted) {
				a.req.Adjust.SetLinuxCgroupsPath("/")
				a.req.Owners.ClaimCgroupsPath(a.id(), "95-late")
			},
		},
		"an audit rule reports": {
			build: func(a *adjusted) {
				n := -1000
				a.req.Adjust.SetLinuxOomScoreAdj(&n)
				a.req.Owners.ClaimOomScoreAdj(a.id(), "95-late")
			},
			want:  []string{`plugin "95-late" makes the container fail the rule (audit): would clamp resources.oomScoreAdj from -1000 to -500 (resources.oomScoreAdj, rule "watch")`},
			audit: true,
		},
		// A cgroup file no plugin claims is blamed on the untrusted plugins
		// consulted; under an audit-mode rule that is a report, not a
		// refusal.
		"an unclaimed cgroup file under an audit rule": {
			spec: strings.Replace(finalPolicy, "      oomScoreAdj: {min: -500}\n", "      oomScoreAdj: {min: -500}\n      cpu: {shares: {max: 1024}}\n", 1),
			build: func(a *adjusted) {
				a.req.Adjust.AddLinuxUnified("cpu.weight", "10000")
			},
			want:  []string{`sets the cgroup file cpu.weight="10000", which bypasses the rule's resources.cpu.shares`, `rule "watch"`},
			audit: true,
		},
	} {
		t.Run(name, func(t *testing.T) {
			spec := tc.spec
			if spec == "" {
				spec = finalPolicy
			}
			a, _ := withSpecguard(t, spec)
			tc.build(a)
			p := mustPolicy(t, spec)
			findings, err := ValidateAdjustmentAs(p, a.req, Validator{Self: "90-specguard"})
			var text []string
			for _, f := range findings {
				text = append(text, f.String())
			}
			all := strings.Join(text, "\n")
			if n := len(tc.want); (n == 0) != (len(findings) == 0) || len(findings) > 1 {
				t.Fatalf("findings = %v, want one with %q (err %v)", findings, tc.want, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("finding lacks %q:\n%s", w, all)
				}
			}
			if tc.audit && (len(findings) != 1 || !findings[0].Audit) {
				t.Errorf("findings = %v, want an audit finding", findings)
			}
			var refused *Refusal
			switch {
			case tc.want == nil || tc.audit:
				if err != nil {
					t.Errorf("refused: %v", err)
				}
			case !errors.As(err, &refused):
				t.Errorf("err = %v, want a refusal", err)
			}
		})
	}
}

// Without its own name specguard cannot tell its values from NRI's
// owners: the integrity check is skipped, the rules still judge.
func TestValidateFinalContainerWithoutSelf(t *testing.T) {
	a, spec := withSpecguard(t, finalPolicy)
	a.req.Adjust.RemoveAnnotation(annotations.LogPath)
	a.req.Adjust.SetLinuxPidLimits(1 << 20)
	a.req.Owners.ClaimPidsLimit(a.id(), "95-late")
	findings, err := ValidateAdjustment(mustPolicy(t, spec), a.req)
	if err == nil || len(findings) != 1 || findings[0].Field != "resources.pids.limit" {
		t.Fatalf("findings = %v, err %v", findings, err)
	}
}

func TestFinalContainer(t *testing.T) {
	c := secContainer()
	c.Annotations = map[string]string{"a": "1", "b": "2"}
	c.Env = []string{"A=1", "B=2"}
	pristine := proto.Clone(c).(*api.Container)
	adj := &api.ContainerAdjustment{}
	adj.RemoveAnnotation("a")
	adj.RemoveAnnotation("b")
	adj.AddAnnotation("b", "3") // removed and set again: set
	adj.RemoveEnv("A")
	adj.AddEnv("C", "4")
	adj.RemoveMount("/proc")
	adj.AddMount(bindMount("/x", "/srv"))
	adj.SetLinuxMemoryLimit(1 << 30)
	adj.AddLinuxUnified("memory.high", "1")
	adj.RemoveNamespace(&api.LinuxNamespace{Type: "network"})
	adj.AddRlimit("RLIMIT_NOFILE", 10, 5)
	adj.SetArgs([]string{"sh"})
	f := FinalContainer(c, adj)
	if !proto.Equal(c, pristine) {
		t.Fatal("the pristine container was changed")
	}
	if f.Annotations["b"] != "3" || len(f.Annotations) != 1 {
		t.Errorf("annotations = %v", f.Annotations)
	}
	if strings.Join(f.Env, " ") != "B=2 C=4" {
		t.Errorf("env = %v", f.Env)
	}
	if hasMount(f, "/proc") || !hasMount(f, "/x") {
		t.Errorf("mounts = %v", f.Mounts)
	}
	if f.Linux.Resources.Memory.Limit.GetValue() != 1<<30 || f.Linux.Resources.Unified["memory.high"] != "1" {
		t.Errorf("resources = %v", f.Linux.Resources)
	}
	for _, ns := range f.Linux.Namespaces {
		if ns.Type == "network" {
			t.Errorf("namespaces = %v", f.Linux.Namespaces)
		}
	}
	if len(f.Rlimits) != 1 || f.Rlimits[0].Soft != 5 || strings.Join(f.Args, " ") != "sh" {
		t.Errorf("rlimits %v, args %v", f.Rlimits, f.Args)
	}
}

// TestHugetlbShadow: the cgroup v2 hugetlb files that set a page size's
// limit, and names that only look like them.
func TestHugetlbShadow(t *testing.T) {
	for k, want := range map[string]string{
		"hugetlb.2MB.max": "2MB", "hugetlb.1GB.rsvd.max": "1GB",
		"hugetlb.2MB.current": "", "hugetlb.max": "", "hugetlb..max": "", "hugetlb.2MB.events.max": "", "memory.max": "",
	} {
		got, ok := hugetlbShadow(k)
		if got != want || ok != (want != "") {
			t.Errorf("hugetlbShadow(%q) = %q, %v; want %q", k, got, ok, want)
		}
	}
}
