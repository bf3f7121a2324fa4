package engine

import (
	"fmt"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
)

// RuleLimits is the pseudo-rule that refuses a request past Limits.
const RuleLimits = "limits"

// Limits are the most of each list in a container that specguard checks.
// Its checks are linear in them (devices against device cgroup rules are
// their product), so these bound a decision's time; a container with more
// is refused, not admitted unchecked when a deadline would otherwise run
// out. The Pod object the API server stores (etcd's 1.5 MiB request
// limit) can carry about 220,000 environment variables or 150,000 volume
// mounts; far fewer run: the kernel's execve takes 2 MiB of arguments and
// environment (a quarter of the default 8 MiB stack), and a mount
// namespace holds at most fs.mount-max (100,000) mounts. See
// docs/reliability.md for the figures.
type Limits struct {
	Env, Mounts, Devices, DeviceRules, Sysctls, Namespaces int
}

// DefaultLimits are the limits Decide applies.
var DefaultLimits = Limits{
	Env:         65536,
	Mounts:      16384,
	Devices:     1024,
	DeviceRules: 1024,
	Sysctls:     1024,
	Namespaces:  32,
}

// Exceeded describes the first list of c that is longer than l allows, or
// returns "".
func (l Limits) Exceeded(c *api.Container) string {
	lin := c.GetLinux()
	for _, f := range [...]struct {
		what   string
		n, max int
	}{
		{"environment variables", len(c.GetEnv()), l.Env},
		{"mounts", len(c.GetMounts()), l.Mounts},
		{"device nodes", len(lin.GetDevices()), l.Devices},
		{"device cgroup rules", len(lin.GetResources().GetDevices()), l.DeviceRules},
		{"sysctls", len(lin.GetSysctl()), l.Sysctls},
		{"namespaces", len(lin.GetNamespaces()), l.Namespaces},
	} {
		if f.n > f.max {
			return fmt.Sprintf("request too large to check: %d %s, more than the %d specguard checks", f.n, f.what, f.max)
		}
	}
	return ""
}

// checkLimits refuses a container past DefaultLimits before any rule
// looks at it, and reports whether the rules may run. The finding refuses
// when any rule enforces: such a container is never admitted unchecked.
// With every rule in audit it is reported and the rules are skipped.
func (x *decider) checkLimits() bool {
	msg := DefaultLimits.Exceeded(x.req.Container)
	if msg == "" {
		return true
	}
	mode := policy.ModeAudit
	for _, r := range x.p.Rules {
		if r.Mode == policy.ModeEnforce {
			mode = policy.ModeEnforce
			break
		}
	}
	x.refuse(RuleLimits, mode, msg)
	return false
}
