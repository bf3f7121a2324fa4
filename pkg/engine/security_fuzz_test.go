package engine

import (
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/policy"
)

// FuzzDevices: random allowedDevices lists (bare names and mappings, any
// type, numbers or none) x a random device node. A policy that loads
// admits the device exactly when some entry's path glob matches its
// cleaned path and the entry's type and numbers are the device's, with a
// bare name standing for the numbers the kernel gives that device: never
// a disk or another device under an allowed name.
func FuzzDevices(f *testing.F) {
	// The attack of issue 17: a disk under /dev/fuse.
	f.Add([]byte{0x80, 0, 0, 0}, "/dev/fuse", "b", int64(8), int64(0))
	f.Add([]byte{0x80, 0, 0, 0}, "/dev/fuse", "c", int64(10), int64(229))
	f.Add([]byte{3, 0, 195, 255, 0x81, 0, 0, 0}, "/dev/nvidia0", "c", int64(195), int64(7))
	f.Add([]byte{3, 0, 195, 255}, "/dev/nvidia0/../sda", "b", int64(8), int64(0))
	f.Add([]byte{5, 3, 0, 0}, "/dev/sda", "p", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, entries []byte, devPath, devType string, major, minor int64) {
		paths := []string{"/dev/fuse", "/dev/null", "/dev/kvm", "/dev/nvidia*", "/dev/dri/*", "/dev/sda", "/dev/*", "/dev/net/tun"}
		// What the kernel numbers these devices, for bare names.
		known := map[string][2]int64{"/dev/fuse": {10, 229}, "/dev/null": {1, 3}, "/dev/kvm": {10, 232}, "/dev/net/tun": {10, 200}}
		type entry struct {
			glob, typ    string
			major, minor int64
			anyMinor     bool
		}
		var want []entry
		var yaml []string
		bareUnknown := false
		for i := 0; i+4 <= len(entries) && i < 16; i += 4 {
			p := paths[int(entries[i]&0x7f)%len(paths)]
			if entries[i]&0x80 != 0 {
				yaml = append(yaml, fmt.Sprintf("%q", p))
				if n, ok := known[p]; ok {
					want = append(want, entry{p, "c", n[0], n[1], false})
				} else {
					bareUnknown = true
				}
				continue
			}
			typ := []string{"c", "b", "u", "p"}[entries[i+1]%4]
			e := entry{glob: p, typ: typ, major: int64(entries[i+2]), minor: int64(entries[i+3]), anyMinor: entries[i+3] == 255}
			m := fmt.Sprintf("{path: %q, type: %s", p, typ)
			if typ != "p" {
				m += fmt.Sprintf(", major: %d", e.major)
				if !e.anyMinor {
					m += fmt.Sprintf(", minor: %d", e.minor)
				}
			}
			yaml = append(yaml, m+"}")
			if typ == "u" {
				e.typ = "c"
			}
			want = append(want, e)
		}
		doc := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: dev\n    security:\n      devices: deny\n      allowedDevices: [" + strings.Join(yaml, ", ") + "]\n"
		p, err := policy.Parse("fuzz.yaml", []byte(doc))
		if bareUnknown {
			if err == nil {
				t.Fatalf("a bare name the kernel does not number loaded:\n%s", doc)
			}
			return
		}
		if err != nil {
			t.Fatalf("a valid list was refused: %v\n%s", err, doc)
		}
		typ := devType
		if typ == "u" {
			typ = "c"
		}
		clean := path.Clean(devPath)
		admit := false
		for _, e := range want {
			if ok, _ := path.Match(e.glob, clean); ok && typ == e.typ &&
				(e.typ == "p" || (major == e.major && (e.anyMinor || minor == e.minor))) {
				admit = true
			}
		}
		c := &api.Container{Name: "app", Linux: &api.LinuxContainer{Devices: []*api.LinuxDevice{{Path: devPath, Type: devType, Major: major, Minor: minor}}}}
		d := Decide(p, &Request{Pod: &api.PodSandbox{Name: "p", Namespace: "n", Uid: "u"}, Container: c})
		if d.Allowed != admit {
			t.Fatalf("device %q %q %d:%d admitted=%v, want %v under %v (reason %q)", devPath, devType, major, minor, d.Allowed, admit, yaml, d.Reason)
		}
		checkReply(t, d)
	})
}

// FuzzSysctlNames: a random sysctl name under a random allow pattern. A
// name that is admitted is a path the runtime cannot resolve elsewhere:
// written the way runc writes it (/proc/sys/<dots as slashes>), and the
// way the kubelet reads a slash-first name (/proc/sys/<name>), the path is
// already clean and lies in the subtree the pattern names.
func FuzzSysctlNames(f *testing.F) {
	f.Add("net.ipv4.conf/../../../kernel/core_pattern", uint8(0))
	f.Add("net/ipv4/../../kernel/core_pattern", uint8(0))
	f.Add("net.ipv4.conf.eth0/100.forwarding", uint8(1))
	f.Add("net/ipv4/conf/eth0.100/forwarding", uint8(1))
	f.Add("net..ipv4", uint8(3))
	f.Add("kernel.shm_rmid_forced", uint8(2))
	f.Add("kernel/shm_rmid_forced", uint8(2))
	f.Fuzz(func(t *testing.T, name string, sel uint8) {
		patterns := []string{"net.ipv4.*", "net.ipv4.conf.*", "kernel.shm_rmid_forced", "net.*", "*"}
		pat := patterns[int(sel)%len(patterns)]
		p, err := policy.Parse("fuzz.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: s\n    security:\n      sysctls: {allow: ["+fmt.Sprintf("%q", pat)+"]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		c := &api.Container{Name: "app", Linux: &api.LinuxContainer{Sysctl: map[string]string{name: "1"}}}
		d := Decide(p, &Request{Pod: &api.PodSandbox{Name: "p", Namespace: "n", Uid: "u"}, Container: c})
		checkReply(t, d)
		if !d.Allowed {
			return
		}
		writes := []string{"/proc/sys/" + strings.ReplaceAll(name, ".", "/")}
		if i := strings.IndexAny(name, "./"); i >= 0 && name[i] == '/' {
			writes = append(writes, "/proc/sys/"+name)
		}
		for _, w := range writes {
			if path.Clean(w) != w || w == "/proc/sys/" {
				t.Fatalf("admitted %q, which the runtime resolves as %s", name, path.Clean(w))
			}
			if prefix, wild := strings.CutSuffix(pat, "*"); wild {
				if !strings.HasPrefix(w, "/proc/sys/"+strings.ReplaceAll(prefix, ".", "/")) {
					t.Fatalf("admitted %q under %q, but it writes %s", name, pat, w)
				}
			} else if w != "/proc/sys/"+strings.ReplaceAll(pat, ".", "/") {
				t.Fatalf("admitted %q under %q, but it writes %s", name, pat, w)
			}
		}
	})
}
