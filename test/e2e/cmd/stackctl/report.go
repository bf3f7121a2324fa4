package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/specguard/specguard/test/e2e/harness"
)

// report prints what the container asked for next to what it runs with, and
// what the running container itself shows.
func report(w io.Writer, s *harness.Stack, ci *harness.ContainerInspect, want harness.Container) {
	spec := ci.Info.RuntimeSpec
	fmt.Fprintf(w, "\nWhat specguard did to container %q of pod demo/shop (id %.13s):\n", want.Name, ci.Status.ID)
	fmt.Fprintf(w, "rules that changed something: %s\n\n", orDash(spec.Annotations["specguard.io/rules"]))

	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\trequested (CRI config)\trunning (OCI runtime spec)")
	fmt.Fprintln(tw, "annotations\t\t")
	var keys []string
	for k := range spec.Annotations {
		if _, asked := want.Annotations[k]; !asked && !strings.HasPrefix(k, "io.kubernetes.cri.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "  %s\t-\t%s\n", k, spec.Annotations[k])
	}

	fmt.Fprintln(tw, "env\t\t")
	env := ci.Env()
	var names []string
	for k := range env {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", k, orDash(want.Env[k]), env[k])
	}

	fmt.Fprintln(tw, "resources\t\t")
	res := &specs.LinuxResources{}
	if spec.Linux != nil && spec.Linux.Resources != nil {
		res = spec.Linux.Resources
	}
	asked := func(key string) string {
		if v, ok := want.Resources[key]; ok {
			return fmt.Sprint(v)
		}
		return "-"
	}
	if res.CPU != nil {
		fmt.Fprintf(tw, "  cpu shares\t%s\t%s\n", asked("cpu_shares"), ptr(res.CPU.Shares))
		fmt.Fprintf(tw, "  cpu quota / period\t%s / %s\t%s / %s\n", asked("cpu_quota"), asked("cpu_period"), ptr(res.CPU.Quota), ptr(res.CPU.Period))
	}
	if res.Memory != nil {
		fmt.Fprintf(tw, "  memory limit\t%s\t%s\n", asked("memory_limit_in_bytes"), bytes(res.Memory.Limit))
	}
	if res.Pids != nil {
		fmt.Fprintf(tw, "  pids limit\t-\t%s\n", ptr(res.Pids.Limit))
	}
	if spec.Process != nil {
		fmt.Fprintf(tw, "  oom_score_adj\t%s\t%s\n", asked("oom_score_adj"), ptr(spec.Process.OOMScoreAdj))
		for _, r := range spec.Process.Rlimits {
			fmt.Fprintf(tw, "  %s\t-\tsoft %d, hard %d\n", r.Type, r.Soft, r.Hard)
		}
	}
	tw.Flush()

	fmt.Fprintln(w, "\nChecked on the running container:")
	if out, err := s.Exec(ci.Status.ID, "sh", "-c", "env | grep -E '^(RESTART_COUNT|POD_|OWNER_|GREETING)' | sort"); err == nil {
		fmt.Fprintf(w, "  $ crictl exec %.13s env\n%s", ci.Status.ID, indent(strings.TrimSpace(out), "    "))
	} else {
		fmt.Fprintf(w, "  crictl exec: %v\n", err)
	}
	if spec.Linux != nil {
		if l, err := harness.ReadCgroupLimits(spec.Linux.CgroupsPath); err == nil {
			fmt.Fprintf(w, "  cgroup v%d %s: cpu shares %d, memory limit %s, pids max %s\n",
				l.Version, spec.Linux.CgroupsPath, l.CPUShares, limit(l.Memory), limit(l.Pids))
		} else {
			fmt.Fprintf(w, "  cgroup: %v\n", err)
		}
	}
	if out, err := s.Exec(ci.Status.ID, "sh", "-c", "echo oom_score_adj $(cat /proc/1/oom_score_adj), ulimit -n $(ulimit -n), ulimit -Hn $(ulimit -Hn)"); err == nil {
		fmt.Fprintf(w, "  in the container: %s\n", strings.TrimSpace(out))
	}
}

func hints(w io.Writer, s *harness.Stack, id, policy string) {
	fmt.Fprintf(w, `
The stack keeps running in the background. Poke at it with crictl:

  alias crictl='%s'
  crictl pods
  crictl ps
  crictl inspect %.13s | grep -A20 '"annotations"'
  crictl exec %.13s env

Logs: %s (specguard), %s (containerd)
Metrics: curl -s http://%s/metrics | grep ^specguard_
Policy: %s (the copy specguard runs: %s/policy.yaml)

Stop it and remove everything: make demo-down
`, s.CrictlCommand(), id, id, s.SpecguardLog(), s.ContainerdLog(), s.MetricsAddr(), policy, s.Dir)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func ptr[T any](p *T) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}

func bytes(p *int64) string {
	if p == nil {
		return "-"
	}
	return limit(*p)
}

func limit(n int64) string {
	switch {
	case n < 0:
		return "max"
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMi", n>>20)
	default:
		return fmt.Sprint(n)
	}
}

func indent(s, prefix string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString(prefix + line + "\n")
	}
	return b.String()
}
