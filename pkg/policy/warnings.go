package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// warnings finds what a valid document asks for that the runtime will not
// do, so that `specguard validate` and the log can say so instead of a
// rule silently doing nothing.
func warnings(doc *Document) []FieldError {
	var out []FieldError
	for i, r := range doc.Spec.Rules {
		if r.Security == nil {
			continue
		}
		for j, mp := range r.Security.MaskedPaths {
			if p := strings.TrimSuffix(mp, "/"); RuncRefusesMount(p) {
				out = append(out, FieldError{
					Path: fmt.Sprintf("spec.rules[%d].security.maskedPaths[%d]", i, j),
					Reason: fmt.Sprintf("%s will not be masked: runc refuses mounts under /proc (but on %s), so the rule skips it; "+
						"the runtime's own maskedPaths already cover the kernel's sensitive /proc entries", truncate(mp, 80), strings.Join(runcProcMountList, ", ")),
				})
			}
		}
	}
	return out
}

// WarningText renders the policy's warnings one per line, as load errors
// are: "file:line: path: warning: reason".
func (p *Policy) WarningText() []string {
	out := make([]string, 0, len(p.Warnings))
	for _, w := range p.Warnings {
		loc := p.Source
		if w.Line > 0 {
			loc += ":" + strconv.Itoa(w.Line)
		}
		out = append(out, loc+": "+w.Path+": warning: "+w.Reason)
	}
	return out
}

// runcProcMountList are the paths under /proc on which runc accepts a
// mount (the ones lxcfs emulates); runc refuses any other mount there.
var runcProcMountList = []string{
	"/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat", "/proc/swaps", "/proc/uptime",
	"/proc/loadavg", "/proc/slabinfo", "/proc/sys/kernel/ns_last_pid", "/proc/sys/crypto/fips_enabled",
}

var runcProcMounts = func() map[string]bool {
	m := make(map[string]bool, len(runcProcMountList))
	for _, p := range runcProcMountList {
		m[p] = true
	}
	return m
}()

// RuncRefusesMount reports whether runc refuses to start a container with
// a mount on p (a clean absolute path): anything under /proc but the
// files lxcfs emulates.
func RuncRefusesMount(p string) bool {
	return (p == "/proc" || strings.HasPrefix(p, "/proc/")) && !runcProcMounts[p]
}
