package integration

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

// hostilePlugin is another NRI plugin, run in this process, that makes
// the change named after a container (its name less the plugin's prefix)
// to that container.
type hostilePlugin struct {
	prefix  string
	changes map[string]func(*api.ContainerAdjustment)

	mu   sync.Mutex
	seen map[string]bool
}

func (h *hostilePlugin) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	h.mu.Lock()
	h.seen[c.GetName()] = true
	h.mu.Unlock()
	adj := &api.ContainerAdjustment{}
	if rest, ok := strings.CutPrefix(c.GetName(), h.prefix); ok {
		if change := h.changes[rest]; change != nil {
			change(adj)
		}
	}
	return adj, nil, nil
}

// startHostile connects h as <idx>-<name> and waits until the runtime
// calls it.
func (r *runtime) startHostile(h *hostilePlugin, name, idx string) {
	r.t.Helper()
	h.seen = map[string]bool{}
	s, err := stub.New(h, stub.WithSocketPath(r.socket), stub.WithPluginName(name), stub.WithPluginIdx(idx))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Stop)
	pod := r.addPod("probe", "probe", "uid-probe-"+idx+"-"+name, nil)
	probes := 0
	if !eventually(5*time.Second, func() bool {
		probe := "probe-" + strconv.Itoa(probes)
		probes++
		r.create(pod, probe, nil)
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.seen[probe]
	}) {
		r.t.Fatalf("plugin %s-%s was not called within 5s (%d probes)", idx, name, probes)
	}
}

// runtimeShaped gives a CRI-shaped container (criContainer) the rest of
// what containerd v2.4.2 puts in an ordinary container's NRI view (seen on
// the real runtime, test/e2e TestHostAccess): a device cgroup denying
// everything, devpts, mqueue and a read-only cgroup filesystem.
func runtimeShaped(pod *api.PodSandbox) func(*api.Container) {
	return func(c *api.Container) {
		criContainer(pod)(c)
		c.Linux.Resources.Devices = []*api.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
		c.Mounts = append(c.Mounts,
			&api.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			&api.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			&api.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}})
	}
}

func deviceRule(typ string, major, minor int64, access string) func(*api.ContainerAdjustment) {
	return func(adj *api.ContainerAdjustment) {
		d := &api.LinuxDeviceCgroup{Allow: true, Type: typ, Access: access}
		if major >= 0 {
			d.Major = api.Int64(major)
		}
		if minor >= 0 {
			d.Minor = api.Int64(minor)
		}
		if adj.Linux == nil {
			adj.Linux = &api.LinuxContainerAdjustment{}
		}
		if adj.Linux.Resources == nil {
			adj.Linux.Resources = &api.LinuxResources{}
		}
		adj.Linux.Resources.Devices = append(adj.Linux.Resources.Devices, d)
	}
}

func mountFS(typ, dst string, opts ...string) func(*api.ContainerAdjustment) {
	return func(adj *api.ContainerAdjustment) {
		adj.AddMount(&api.Mount{Destination: dst, Type: typ, Source: typ, Options: opts})
	}
}

// hostileChanges are the changes that give a container the host without
// a device node or a bind mount, with what specguard's refusal says about
// each (the same words in CreateContainer and in the validator).
var hostileChanges = []struct {
	name, rule, mount string // container name suffix, CreateContainer message, validator detail
	change            func(*api.ContainerAdjustment)
}{
	{"all", `devices: device cgroup rule "a *:* rwm" allows host devices (no allowedDevices matches)`,
		`adds device cgroup rule "a *:* rwm", which allows host devices`, deviceRule("a", -1, -1, "rwm")},
	{"disks", `devices: device cgroup rule "b 8:* rwm" allows host devices (no allowedDevices matches)`,
		`adds device cgroup rule "b 8:* rwm", which allows host devices`, deviceRule("b", 8, -1, "rwm")},
	{"mem", `devices: device cgroup rule "c 1:1 rwm" allows host devices (no allowedDevices matches)`,
		`adds device cgroup rule "c 1:1 rwm", which allows host devices`, deviceRule("c", 1, 1, "rwm")},
	{"sysfs-rw", `hostPaths: mount /sys: sysfs read-write exposes the host's kernel, device and firmware settings`,
		`mounts sysfs read-write, which exposes the host's kernel, device and firmware settings (mounts[/sys]`, mountFS("sysfs", "/sys", "nosuid", "rw")},
	{"debugfs", `hostPaths: mount /sys/kernel/debug: debugfs exposes the host kernel's debug interface`,
		`mounts debugfs, which exposes the host kernel's debug interface (mounts[/sys/kernel/debug]`, mountFS("debugfs", "/sys/kernel/debug")},
	{"securityfs", `hostPaths: mount /sys/kernel/security: securityfs exposes the host's security modules`,
		`mounts securityfs, which exposes the host's security modules (AppArmor policy, IMA) (mounts[/sys/kernel/security]`, mountFS("securityfs", "/sys/kernel/security")},
	{"cgroup-rw", `hostPaths: mount /sys/fs/cgroup: cgroup read-write exposes cgroup limits above the container's own (cgroup v1: release_agent runs a program on the host)`,
		`mounts cgroup read-write, which exposes cgroup limits above the container's own (cgroup v1: release_agent runs a program on the host) (mounts[/sys/fs/cgroup]`,
		mountFS("cgroup", "/sys/fs/cgroup", "nosuid", "noexec", "nodev", "rw")},
	{"bpf", `hostPaths: mount /sys/fs/bpf: bpf exposes the host's pinned BPF programs and maps`,
		`mounts bpf, which exposes the host's pinned BPF programs and maps (mounts[/sys/fs/bpf]`, mountFS("bpf", "/sys/fs/bpf")},
	{"devtmpfs", `hostPaths: mount /host-dev: devtmpfs exposes every host device node`,
		`mounts devtmpfs, which exposes every host device node (mounts[/host-dev]`, mountFS("devtmpfs", "/host-dev")},
	{"overlay-etc", `hostPaths: mount /merged: overlay lowerdir host path /etc contains paths denied by "/etc/**"`,
		`mounts an overlay of host paths /etc (lowerdir), /tmp/up (upperdir), /tmp/work (workdir) (mounts[/merged]`,
		mountFS("overlay", "/merged", "lowerdir=/etc", "upperdir=/tmp/up", "workdir=/tmp/work")},
}

// harmlessChanges are what other plugins may do under the same policy:
// rules within the runtime's defaults, a read-only sysfs, a tmpfs, and a
// device with its own rule from a plugin allowed to add devices.
var harmlessChanges = map[string]func(*api.ContainerAdjustment){
	"null-and-ptys": func(adj *api.ContainerAdjustment) {
		deviceRule("c", 1, 3, "rwm")(adj)
		deviceRule("c", 136, -1, "rwm")(adj)
		deviceRule("c", -1, -1, "m")(adj)
	},
	"sysfs-ro": mountFS("sysfs", "/sys", "nosuid", "noexec", "nodev", "ro"),
	"tmpfs":    mountFS("tmpfs", "/scratch", "nosuid", "size=1m"),
}

const hostAccessPolicy = `  validation:
    trustedPlugins: ["96-trusted-*"]
    denyDevices: true
    denyHostMounts: true
  rules:
  - name: no-host-access
    match: {namespaces: [ha]}
    security:
      devices: deny
      allowedDevices: [/dev/fuse]
      hostPaths: {deny: ["/etc/**"]}
      maskedPaths: [/etc/shadow, /sys/firmware]
`

// A plugin before specguard (index 10): specguard's own CreateContainer
// sees the change on the container and refuses it, naming the rule, the
// field and the value; what the runtime and harmless plugins do passes.
func TestHostAccessBeforeSpecguard(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	early := &hostilePlugin{prefix: "early-", changes: map[string]func(*api.ContainerAdjustment){}}
	for _, h := range hostileChanges {
		early.changes[h.name] = h.change
	}
	for k, v := range harmlessChanges {
		early.changes[k] = v
	}
	r.startHostile(early, "early", "10")
	p := r.startPlugin("--config", writePolicy(t, r.dir, hostAccessPolicy))

	create := func(name string, more ...func(*api.Container)) error {
		pod := criPod(r.addPod("p", "ha", "uid-ha-"+name, nil), false)
		_, _, err := r.create(pod, name, func(c *api.Container) {
			runtimeShaped(pod)(c)
			for _, m := range more {
				m(c)
			}
		})
		return err
	}
	if err := create("plain"); err != nil {
		t.Fatalf("an ordinary container is refused: %v", err)
	}
	for _, h := range hostileChanges {
		t.Run(h.name, func(t *testing.T) {
			err := create("early-" + h.name)
			if err == nil {
				t.Fatalf("created; want a refusal: %s", h.rule)
			}
			want := `specguard refused container early-` + h.name + ` of pod ha/p: rule "no-host-access": ` + h.rule
			if !strings.Contains(err.Error(), want) {
				t.Errorf("refusal:\n%v\nwant it to contain\n%s", err, want)
			}
		})
	}
	for name := range harmlessChanges {
		t.Run(name, func(t *testing.T) {
			if err := create("early-" + name); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	t.Run("a device node allowedDevices allows, with its rule", func(t *testing.T) {
		// As containerd's CRI gives a container a device it asks for.
		fuse := func(c *api.Container) {
			c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
			c.Linux.Resources.Devices = append(c.Linux.Resources.Devices,
				&api.LinuxDeviceCgroup{Allow: true, Type: "c", Major: api.Int64(int64(10)), Minor: api.Int64(int64(229)), Access: "rwm"})
		}
		if err := create("fuse", fuse); err != nil {
			t.Fatalf("refused: %v", err)
		}
	})
	if t.Failed() {
		t.Logf("specguard logs:\n%s", p.Logs())
	}
}

// A plugin after specguard (index 95): only the validator sees its change
// and refuses it, naming the plugin, what it did and the field; a trusted
// plugin's changes and harmless ones pass.
func TestHostAccessAfterSpecguard(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	p := r.startPlugin("--config", writePolicy(t, r.dir, hostAccessPolicy))
	late := &hostilePlugin{prefix: "late-", changes: map[string]func(*api.ContainerAdjustment){}}
	for _, h := range hostileChanges {
		late.changes[h.name] = h.change
	}
	for k, v := range harmlessChanges {
		late.changes[k] = v
	}
	r.startHostile(late, "late", "95")
	trusted := &hostilePlugin{prefix: "trusted-", changes: map[string]func(*api.ContainerAdjustment){
		"gpu": func(adj *api.ContainerAdjustment) {
			adj.AddDevice(&api.LinuxDevice{Path: "/dev/nvidia0", Type: "c", Major: 195, Minor: 0})
			deviceRule("c", 195, 0, "rw")(adj)
		},
		"debugfs": mountFS("debugfs", "/sys/kernel/debug"),
	}}
	r.startHostile(trusted, "trusted-tools", "96")

	create := func(ns, name string) error {
		pod := criPod(r.addPod("p", ns, "uid-"+ns+"-"+name, nil), false)
		_, _, err := r.create(pod, name, runtimeShaped(pod))
		return err
	}
	for _, h := range hostileChanges {
		t.Run(h.name, func(t *testing.T) {
			err := create("ha", "late-"+h.name)
			if err == nil {
				t.Fatalf("created; want the validator to refuse: %s", h.mount)
			}
			for _, want := range []string{
				`validator "90-specguard" rejected container adjustment, reason: specguard refused the NRI adjustments to container late-` + h.name + ` of pod ha/p: `,
				`plugin "95-late" ` + h.mount,
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("refusal:\n%v\nwant it to contain\n%s", err, want)
				}
			}
			if strings.HasPrefix(h.mount, "adds device cgroup rule") &&
				!strings.Contains(err.Error(), "(NRI records no owner for linux.resources.devices; the only untrusted plugin consulted) (linux.resources.devices, validation.denyDevices)") {
				t.Errorf("refusal does not say how the owner was found: %v", err)
			}
		})
	}
	for name := range harmlessChanges {
		t.Run(name, func(t *testing.T) {
			if err := create("ha", "late-"+name); err != nil {
				t.Fatalf("refused: %v", err)
			}
		})
	}
	t.Run("a trusted plugin", func(t *testing.T) {
		for _, name := range []string{"trusted-gpu", "trusted-debugfs"} {
			if err := create("other", name); err != nil {
				t.Errorf("%s refused: %v", name, err)
			}
		}
	})
	t.Run("specguard's own masks", func(t *testing.T) {
		// A bind of /dev/null and a tmpfs the validator must not take for
		// another plugin's host access.
		pod := criPod(r.addPod("p", "ha", "uid-ha-masks", nil), false)
		_, adj, err := r.create(pod, "plain", runtimeShaped(pod))
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		if len(adj.GetMounts()) != 2 {
			t.Errorf("mounts = %v, want specguard's two masks", adj.GetMounts())
		}
	})
	if t.Failed() {
		t.Logf("specguard logs:\n%s", p.Logs())
	}
}

// NRI records no owner for linux.resources.devices: with two untrusted
// plugins consulted, the validator names both as the candidates.
func TestHostAccessDeviceRuleOwnerUnknown(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	early := &hostilePlugin{prefix: "early-", changes: map[string]func(*api.ContainerAdjustment){"disks": deviceRule("b", 8, -1, "rwm")}}
	r.startHostile(early, "early", "10")
	r.startPlugin("--config", writePolicy(t, r.dir, hostAccessPolicy))
	r.startHostile(&hostilePlugin{prefix: "late-"}, "late", "95")
	// A namespace no rule matches: only the validator looks.
	pod := criPod(r.addPod("p", "other", "uid-unknown-owner", nil), false)
	_, _, err := r.create(pod, "early-disks", runtimeShaped(pod))
	want := `plugin "10-early or 95-late" adds device cgroup rule "b 8:* rwm", which allows host devices (NRI records no owner for linux.resources.devices; one of the untrusted plugins consulted)`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant it to contain\n%s", err, want)
	}
}
