package engine

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/policy"
)

func cgroupRule(allow bool, typ string, major, minor int64, access string) *api.LinuxDeviceCgroup {
	d := &api.LinuxDeviceCgroup{Allow: allow, Type: typ, Access: access}
	if major != anyNumber {
		d.Major = api.Int64(major)
	}
	if minor != anyNumber {
		d.Minor = api.Int64(minor)
	}
	return d
}

func allowRule(typ string, major, minor int64, access string) *api.LinuxDeviceCgroup {
	return cgroupRule(true, typ, major, minor, access)
}

func TestDeviceRuleHostAccess(t *testing.T) {
	const wild = anyNumber
	for name, tc := range map[string]struct {
		rule  *api.LinuxDeviceCgroup
		text  string
		opens bool // opens devices beyond the runtime's defaults
	}{
		"everything":                       {allowRule("a", wild, wild, "rwm"), "a *:* rwm", true},
		"containerd's privileged rule":     {allowRule("", wild, wild, "rwm"), "a *:* rwm", true},
		"every block device of major 8":    {allowRule("b", 8, wild, "rwm"), "b 8:* rwm", true},
		"/dev/mem":                         {allowRule("c", 1, 1, "rwm"), "c 1:1 rwm", true},
		"/dev/mem read-only":               {allowRule("c", 1, 1, "r"), "c 1:1 r", true},
		"every minor of major 1":           {allowRule("c", 1, wild, "rw"), "c 1:* rw", true},
		"any major, minor 3":               {allowRule("c", wild, 3, "rw"), "c *:3 rw", true},
		"a negative major is any":          {allowRule("c", -5, 3, "rw"), "c *:3 rw", true},
		"block 1:3 is a ramdisk":           {allowRule("b", 1, 3, "rw"), "b 1:3 rw", true},
		"an unknown type is read as all":   {allowRule("x", 1, 3, "rw"), "a 1:3 rw", true},
		"an unknown access is read as rwm": {allowRule("c", 1, 1, "m?"), "c 1:1 m?", true},
		"empty access is read as rwm":      {allowRule("c", 1, 1, ""), "c 1:1", true},
		"/dev/null":                        {allowRule("c", 1, 3, "rwm"), "c 1:3 rwm", false},
		"/dev/zero, /dev/full":             {allowRule("c", 1, 5, "rw"), "c 1:5 rw", false},
		"/dev/random":                      {allowRule("c", 1, 8, "rwm"), "c 1:8 rwm", false},
		"/dev/urandom":                     {allowRule("c", 1, 9, "rwm"), "c 1:9 rwm", false},
		"/dev/tty":                         {allowRule("c", 5, 0, "rwm"), "c 5:0 rwm", false},
		"/dev/console":                     {allowRule("c", 5, 1, "rwm"), "c 5:1 rwm", false},
		"/dev/ptmx":                        {allowRule("c", 5, 2, "rwm"), "c 5:2 rwm", false},
		"the pty slaves":                   {allowRule("c", 136, wild, "rwm"), "c 136:* rwm", false},
		"one pty slave":                    {allowRule("c", 136, 4, "rw"), "c 136:4 rw", false},
		"/dev/net/tun":                     {allowRule("c", 10, 200, "rwm"), "c 10:200 rwm", false},
		"runc's mknod of any char device":  {allowRule("c", wild, wild, "m"), "c *:* m", false},
		"runc's mknod of any block device": {allowRule("b", wild, wild, "m"), "b *:* m", false},
		"mknod of anything opens nothing":  {allowRule("a", wild, wild, "m"), "a *:* m", false},
		"containerd's deny of everything":  {cgroupRule(false, "", wild, wild, "rwm"), "a *:* rwm", false},
		"a deny rule never opens":          {cgroupRule(false, "b", 8, wild, "rwm"), "b 8:* rwm", false},
	} {
		t.Run(name, func(t *testing.T) {
			r := parseDeviceRule(tc.rule)
			if got := r.String(); got != tc.text {
				t.Errorf("String() = %q, want %q", got, tc.text)
			}
			if got := r.opensDevices() && !r.withinRuntimeDefaults(); got != tc.opens {
				t.Errorf("opens devices beyond the defaults = %v, want %v", got, tc.opens)
			}
		})
	}
}

func TestGrantsNode(t *testing.T) {
	fuse := &api.LinuxDevice{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}
	for name, tc := range map[string]struct {
		rule *api.LinuxDeviceCgroup
		node *api.LinuxDevice
		want bool
	}{
		"the node's own rule":       {allowRule("c", 10, 229, "rwm"), fuse, true},
		"another minor":             {allowRule("c", 10, 228, "rwm"), fuse, false},
		"another type":              {allowRule("b", 10, 229, "rwm"), fuse, false},
		"a wildcard minor":          {allowRule("c", 10, anyNumber, "rwm"), fuse, false},
		"all devices":               {allowRule("a", anyNumber, anyNumber, "rwm"), fuse, false},
		"an unbuffered char device": {allowRule("c", 10, 229, "rw"), &api.LinuxDevice{Path: "/dev/x", Type: "u", Major: 10, Minor: 229}, true},
		"a node being removed":      {allowRule("c", 10, 229, "rw"), &api.LinuxDevice{Path: api.MarkForRemoval("/dev/fuse"), Type: "c", Major: 10, Minor: 229}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := grantsNodeIn(parseDeviceRule(tc.rule), []*api.LinuxDevice{tc.node}) != nil; got != tc.want {
				t.Errorf("grants the node = %v, want %v", got, tc.want)
			}
			// The set checkDeviceRules uses must agree with grantsNodeIn.
			if got := deviceNodeSet([]*api.LinuxDevice{tc.node}).granted(parseDeviceRule(tc.rule)); got != tc.want {
				t.Errorf("deviceNodeSet: grants the node = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFilesystemHostAccess(t *testing.T) {
	mnt := func(typ, dst string, opts ...string) *api.Mount {
		return &api.Mount{Destination: dst, Type: typ, Source: typ, Options: opts}
	}
	for name, tc := range map[string]struct {
		m    *api.Mount
		want string // the start of what it is; "": harmless
	}{
		// What containerd v2.4.2's CRI gives an ordinary container.
		"proc at /proc":            {mnt("proc", "/proc", "nosuid", "noexec", "nodev"), ""},
		"tmpfs at /dev":            {mnt("tmpfs", "/dev", "nosuid", "strictatime", "mode=755", "size=65536k"), ""},
		"devpts":                   {mnt("devpts", "/dev/pts", "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"), ""},
		"mqueue":                   {mnt("mqueue", "/dev/mqueue", "nosuid", "noexec", "nodev"), ""},
		"sysfs read-only at /sys":  {mnt("sysfs", "/sys", "nosuid", "noexec", "nodev", "ro"), ""},
		"cgroup read-only":         {mnt("cgroup", "/sys/fs/cgroup", "nosuid", "noexec", "nodev", "relatime", "ro"), ""},
		"cgroup2 read-only":        {mnt("cgroup2", "/sys/fs/cgroup", "ro"), ""},
		"a tmpfs anywhere":         {mnt("tmpfs", "/scratch"), ""},
		"sysfs at /sys/ (unclean)": {mnt("sysfs", "/sys/", "ro"), ""},

		"sysfs read-write":                   {mnt("sysfs", "/sys", "nosuid", "noexec", "nodev", "rw"), "sysfs read-write"},
		"sysfs without ro":                   {mnt("sysfs", "/sys", "nosuid"), "sysfs read-write"},
		"sysfs ro then rw":                   {mnt("sysfs", "/sys", "ro", "rw"), "sysfs read-write"},
		"sysfs read-only elsewhere":          {mnt("sysfs", "/host-sys", "ro"), "sysfs outside /sys"},
		"proc elsewhere":                     {mnt("proc", "/host-proc"), "proc outside /proc"},
		"cgroup (v1) read-write":             {mnt("cgroup", "/sys/fs/cgroup", "rw"), "cgroup read-write"},
		"cgroup2 read-write":                 {mnt("cgroup2", "/sys/fs/cgroup"), "cgroup2 read-write"},
		"debugfs":                            {mnt("debugfs", "/sys/kernel/debug"), "debugfs"},
		"debugfs read-only is still debugfs": {mnt("debugfs", "/sys/kernel/debug", "ro"), "debugfs"},
		"tracefs":                            {mnt("tracefs", "/sys/kernel/tracing"), "tracefs"},
		"securityfs":                         {mnt("securityfs", "/sys/kernel/security"), "securityfs"},
		"bpf":                                {mnt("bpf", "/sys/fs/bpf"), "bpf"},
		"devtmpfs":                           {mnt("devtmpfs", "/dev"), "devtmpfs"},
		"configfs":                           {mnt("configfs", "/sys/kernel/config"), "configfs"},
		"efivarfs":                           {mnt("efivarfs", "/sys/firmware/efi/efivars"), "efivarfs"},
		"pstore":                             {mnt("pstore", "/sys/fs/pstore"), "pstore"},
		"binfmt_misc":                        {mnt("binfmt_misc", "/proc/sys/fs/binfmt_misc"), "binfmt_misc"},
		"a disk":                             {&api.Mount{Destination: "/data", Type: "ext4", Source: "/dev/sda1"}, `filesystem type "ext4"`},
		"no type and no bind":                {&api.Mount{Destination: "/x", Source: "/etc"}, `filesystem type ""`},
	} {
		t.Run(name, func(t *testing.T) {
			fs, host := filesystemHostAccess(tc.m)
			if tc.want == "" {
				if host {
					t.Fatalf("host access: %s %s", fs.what, fs.why)
				}
				return
			}
			if !host {
				t.Fatalf("harmless; want host access (%s)", tc.want)
			}
			if !strings.HasPrefix(fs.what, tc.want) || fs.why == "" {
				t.Errorf("= %q %q, want it to start %q and say why", fs.what, fs.why, tc.want)
			}
		})
	}
}

func TestOverlayHostPaths(t *testing.T) {
	for name, tc := range map[string]struct {
		opts []string
		want []overlayPath
	}{
		"layers, upper and work": {
			[]string{"lowerdir=/etc:/usr", "upperdir=/var/up", "workdir=/var/work", "index=off"},
			[]overlayPath{{"lowerdir", "/etc"}, {"lowerdir", "/usr"}, {"upperdir", "/var/up"}, {"workdir", "/var/work"}},
		},
		"an escaped colon": {
			[]string{`lowerdir=/a\:b:/c`},
			[]overlayPath{{"lowerdir", "/a:b"}, {"lowerdir", "/c"}},
		},
		"data-only layers after ::": {
			[]string{"lowerdir=/l1::/data1", "lowerdir+=/l2", "datadir+=/data2"},
			[]overlayPath{{"lowerdir", "/l1"}, {"lowerdir", "/data1"}, {"lowerdir+", "/l2"}, {"datadir+", "/data2"}},
		},
		"no directories": {[]string{"ro", "redirect_dir=on"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			got := overlayHostPaths(&api.Mount{Type: "overlay", Destination: "/x", Source: "overlay", Options: tc.opts})
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("= %v, want %v", got, tc.want)
			}
		})
	}
}

// criShaped gives secContainer what containerd v2.4.2's CRI puts in every
// ordinary container's NRI view besides (seen on the real runtime, see
// TestHostAccess in test/e2e): a device cgroup denying everything and the
// runtime's own filesystems.
func criShaped(c *api.Container) {
	c.Linux.Resources.Devices = []*api.LinuxDeviceCgroup{cgroupRule(false, "", anyNumber, anyNumber, "rwm")}
	c.Mounts = append(c.Mounts,
		&api.Mount{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		&api.Mount{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		&api.Mount{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	)
}

// privileged turns it into what containerd gives a privileged container:
// every device allowed, host device nodes, /sys and /sys/fs/cgroup
// read-write.
func privileged(c *api.Container) {
	c.Linux.Resources.Devices = []*api.LinuxDeviceCgroup{allowRule("", anyNumber, anyNumber, "rwm")}
	c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
	for _, m := range c.Mounts {
		if m.Type == "sysfs" || m.Type == "cgroup" {
			m.Options = []string{"nosuid", "noexec", "nodev", "rw"}
		}
	}
}

func addRule(rule *api.LinuxDeviceCgroup) func(*api.Container) {
	return func(c *api.Container) { c.Linux.Resources.Devices = append(c.Linux.Resources.Devices, rule) }
}

func addMount(m *api.Mount) func(*api.Container) {
	return func(c *api.Container) { c.Mounts = append(c.Mounts, m) }
}

func setMount(dst string, opts ...string) func(*api.Container) {
	return func(c *api.Container) {
		for _, m := range c.Mounts {
			if m.Destination == dst {
				m.Options = opts
			}
		}
	}
}

func TestHostAccessChecks(t *testing.T) {
	const (
		both      = "      devices: deny\n      hostPaths: {deny: [\"/etc/**\"]}\n"
		fuse      = "      devices: deny\n      allowedDevices: [/dev/fuse]\n"
		pathsOnly = "      hostPaths: {deny: [\"/etc/**\"]}\n"
		allowSrv  = "      hostPaths: {allow: [\"/srv/**\"]}\n"
	)
	kernelFS := func(typ, dst string) func(*api.Container) {
		return addMount(&api.Mount{Destination: dst, Type: typ, Source: typ, Options: []string{"nosuid", "noexec", "nodev"}})
	}
	overlay := func(opts ...string) func(*api.Container) {
		return addMount(&api.Mount{Destination: "/merged", Type: "overlay", Source: "overlay", Options: opts})
	}
	kubelet := "/var/lib/kubelet/pods/" + secPod().Uid
	for name, tc := range map[string]struct {
		security string
		mutate   []func(*api.Container)
		refuse   []string // one per refusal, in order; nil: allowed
	}{
		"an ordinary container as containerd makes it": {security: both},
		"the runtime's default device rules": {security: both, mutate: []func(*api.Container){
			addRule(allowRule("c", 1, 3, "rwm")), addRule(allowRule("c", 136, anyNumber, "rwm")),
			addRule(allowRule("c", anyNumber, anyNumber, "m")), addRule(allowRule("b", anyNumber, anyNumber, "m")),
		}},
		"a device rule for an allowed device node": {security: fuse, mutate: []func(*api.Container){
			func(c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
			},
			addRule(allowRule("c", 10, 229, "rwm")),
		}},
		"a device rule for a denied device node is refused once, as the node": {security: fuse, mutate: []func(*api.Container){
			func(c *api.Container) { c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}} },
			addRule(allowRule("b", 8, 0, "rwm")),
		}, refuse: []string{`rule "sec": devices: device /dev/sda (b 8:0) is not in allowedDevices [/dev/fuse`}},
		"a *:* rwm": {security: both, mutate: []func(*api.Container){addRule(allowRule("a", anyNumber, anyNumber, "rwm"))},
			refuse: []string{`rule "sec": devices: device cgroup rule "a *:* rwm" allows host devices (no allowedDevices)`}},
		"b 8:* rwm": {security: fuse, mutate: []func(*api.Container){addRule(allowRule("b", 8, anyNumber, "rwm"))},
			refuse: []string{`rule "sec": devices: device cgroup rule "b 8:* rwm" allows host devices (no allowedDevices matches)`}},
		"c 1:1 rwm (/dev/mem)": {security: both, mutate: []func(*api.Container){addRule(allowRule("c", 1, 1, "rwm"))},
			refuse: []string{`rule "sec": devices: device cgroup rule "c 1:1 rwm" allows host devices (no allowedDevices)`}},
		"sysfs read-write": {security: both, mutate: []func(*api.Container){setMount("/sys", "nosuid", "rw")},
			refuse: []string{`rule "sec": hostPaths: mount /sys: sysfs read-write exposes the host's kernel, device and firmware settings`}},
		"debugfs": {security: both, mutate: []func(*api.Container){kernelFS("debugfs", "/sys/kernel/debug")},
			refuse: []string{`rule "sec": hostPaths: mount /sys/kernel/debug: debugfs exposes the host kernel's debug interface`}},
		"securityfs": {security: pathsOnly, mutate: []func(*api.Container){kernelFS("securityfs", "/sys/kernel/security")},
			refuse: []string{`hostPaths: mount /sys/kernel/security: securityfs exposes the host's security modules`}},
		"cgroup (v1) read-write": {security: both, mutate: []func(*api.Container){setMount("/sys/fs/cgroup", "nosuid", "rw")},
			refuse: []string{`hostPaths: mount /sys/fs/cgroup: cgroup read-write exposes cgroup limits above the container's own (cgroup v1: release_agent runs a program on the host)`}},
		"bpf": {security: both, mutate: []func(*api.Container){kernelFS("bpf", "/sys/fs/bpf")},
			refuse: []string{`hostPaths: mount /sys/fs/bpf: bpf exposes the host's pinned BPF programs and maps`}},
		"devtmpfs": {security: both, mutate: []func(*api.Container){kernelFS("devtmpfs", "/host-dev")},
			refuse: []string{`hostPaths: mount /host-dev: devtmpfs exposes every host device node`}},
		"a second proc": {security: both, mutate: []func(*api.Container){kernelFS("proc", "/host-proc")},
			refuse: []string{`hostPaths: mount /host-proc: proc outside /proc escapes the runtime's masked and read-only /proc paths`}},
		"an unknown filesystem": {security: both, mutate: []func(*api.Container){addMount(&api.Mount{Destination: "/data", Type: "ext4", Source: "/dev/sda1"})},
			refuse: []string{`hostPaths: mount /data: filesystem type "ext4" is not known to be harmless`}},
		"overlay lowerdir=/etc": {security: both, mutate: []func(*api.Container){overlay("lowerdir=/etc", "upperdir=/tmp/u", "workdir=/tmp/w")},
			refuse: []string{`hostPaths: mount /merged: overlay lowerdir host path /etc contains paths denied by "/etc/**"`}},
		"overlay of a directory below a denied one": {security: both, mutate: []func(*api.Container){overlay("lowerdir=/usr:/etc/ssl")},
			refuse: []string{`overlay lowerdir host path /etc/ssl is denied by "/etc/**"`}},
		"overlay with directories outside the allowed ones": {security: allowSrv, mutate: []func(*api.Container){overlay("lowerdir=/srv/a", "upperdir=/var/u", "workdir=/srv/w")},
			refuse: []string{`overlay upperdir host path /var/u is not in the allowed host paths [/srv/**]`}},
		"overlay of allowed directories": {security: allowSrv, mutate: []func(*api.Container){overlay("lowerdir=/srv/a:/srv/b", "upperdir=/srv/u", "workdir=/srv/w")}},
		"overlay of this pod's own directories": {security: allowSrv, mutate: []func(*api.Container){
			overlay("lowerdir="+kubelet+"/volumes/a", "upperdir="+kubelet+"/volumes/u", "workdir="+kubelet+"/volumes/w")}},
		"overlay with a relative directory": {security: pathsOnly, mutate: []func(*api.Container){overlay("lowerdir=etc")},
			refuse: []string{`overlay lowerdir "etc" is not an absolute host path`}},
		"overlay without directories": {security: pathsOnly, mutate: []func(*api.Container){overlay("ro")},
			refuse: []string{`hostPaths: mount /merged: an overlay naming no host directory (no lowerdir) is not known to be harmless`}},
		"a privileged container is refused by devices: deny, its /sys left to it": {security: both, mutate: []func(*api.Container){privileged},
			refuse: []string{`devices: device cgroup rule "a *:* rwm" allows host devices (no allowedDevices)`,
				`devices: device /dev/sda (b 8:0) is denied (no allowedDevices)`}},
		"a privileged container passes hostPaths when devices are allowed": {security: pathsOnly, mutate: []func(*api.Container){privileged}},
		"read-write /sys without every device allowed is not privileged": {security: pathsOnly, mutate: []func(*api.Container){
			privileged, func(c *api.Container) { c.Linux.Resources.Devices[0] = allowRule("b", 8, anyNumber, "rwm") },
		}, refuse: []string{"mount /sys: sysfs read-write", "mount /sys/fs/cgroup: cgroup read-write"}},
		"a privileged container's extra debugfs is still refused": {security: pathsOnly, mutate: []func(*api.Container){
			privileged, kernelFS("debugfs", "/sys/kernel/debug"),
		}, refuse: []string{"mount /sys/kernel/debug: debugfs"}},
		"devices: allow does not look at device rules": {security: pathsOnly, mutate: []func(*api.Container){addRule(allowRule("a", anyNumber, anyNumber, "rwm"))}},
		"no hostPaths does not look at filesystems":    {security: "      devices: deny\n", mutate: []func(*api.Container){kernelFS("debugfs", "/sys/kernel/debug")}},
	} {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, securityRule(tc.security))
			pod, c := secPod(), secContainer()
			criShaped(c)
			for _, m := range tc.mutate {
				m(c)
			}
			d := Decide(p, &Request{Pod: pod, Container: c})
			if tc.refuse == nil {
				if !d.Allowed {
					t.Fatalf("refused: %s", d.Reason)
				}
				return
			}
			if d.Allowed {
				t.Fatalf("allowed; want refusals %q", tc.refuse)
			}
			if len(d.Refusals) != len(tc.refuse) {
				t.Errorf("refusals = %v, want %d", d.Refusals, len(tc.refuse))
			}
			for i, w := range tc.refuse {
				if i < len(d.Refusals) && !strings.Contains(`rule "`+d.Refusals[i].Rule+`": `+d.Refusals[i].Message, w) {
					t.Errorf("refusal %d = %q, want it to contain %q", i, d.Refusals[i].Message, w)
				}
			}
		})
	}
}

// In audit mode the new checks report in the violations annotation and
// change nothing, like every other check.
func TestHostAccessAudit(t *testing.T) {
	p := mustPolicy(t, `  rules:
  - name: watch
    mode: audit
    security:
      devices: deny
      hostPaths: {deny: ["/etc/**"]}
`)
	pod, c := secPod(), secContainer()
	criShaped(c)
	addRule(allowRule("b", 8, anyNumber, "rwm"))(c)
	addMount(&api.Mount{Destination: "/sys/kernel/debug", Type: "debugfs", Source: "debugfs"})(c)
	d := Decide(p, &Request{Pod: pod, Container: c})
	if !d.Allowed {
		t.Fatalf("audit refused: %s", d.Reason)
	}
	v, _ := annotation(d, "specguard.io/violations")
	for _, want := range []string{`watch: devices: device cgroup rule "b 8:* rwm" allows host devices`,
		"watch: hostPaths: mount /sys/kernel/debug: debugfs exposes"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations lack %q:\n%s", want, v)
		}
	}
	if len(d.Violations) != 2 {
		t.Errorf("violations = %v, want 2", d.Violations)
	}
}

func (a *adjusted) deviceRule(rule *api.LinuxDeviceCgroup) *adjusted {
	if a.req.Adjust.Linux == nil {
		a.req.Adjust.Linux = &api.LinuxContainerAdjustment{}
	}
	if a.req.Adjust.Linux.Resources == nil {
		a.req.Adjust.Linux.Resources = &api.LinuxResources{}
	}
	a.req.Adjust.Linux.Resources.Devices = append(a.req.Adjust.Linux.Resources.Devices, rule)
	return a
}

// consulted lists the plugins the runtime called, as "<index>-<name>".
func (a *adjusted) consulted(names ...string) *adjusted {
	for _, n := range names {
		idx, name, _ := strings.Cut(n, "-")
		a.req.AddPlugin(name, idx)
	}
	return a
}

func TestValidateHostAccess(t *testing.T) {
	p := mustPolicy(t, validationPolicy)
	b8 := allowRule("b", 8, anyNumber, "rwm")
	kfs := func(typ, dst string, opts ...string) *api.Mount {
		return &api.Mount{Destination: dst, Type: typ, Source: typ, Options: opts}
	}
	kubelet := "/var/lib/kubelet/pods/" + secPod().Uid
	for name, tc := range map[string]struct {
		self  string
		build func(*adjusted)
		want  []string // one per finding; nil: allowed
	}{
		"a device rule, one untrusted plugin consulted": {self: "90-specguard",
			build: func(a *adjusted) { a.consulted("10-evil", "90-specguard").deviceRule(b8) },
			want: []string{`plugin "10-evil" adds device cgroup rule "b 8:* rwm", which allows host devices ` +
				`(NRI records no owner for linux.resources.devices; the only untrusted plugin consulted) (linux.resources.devices, validation.denyDevices)`},
		},
		"a device rule after specguard": {self: "90-specguard",
			build: func(a *adjusted) {
				a.consulted("05-gpu-plugin", "90-specguard", "95-late").deviceRule(allowRule("c", 1, 1, "rwm"))
			},
			want: []string{`plugin "95-late" adds device cgroup rule "c 1:1 rwm"`},
		},
		"a device rule, several untrusted plugins consulted": {self: "90-specguard",
			build: func(a *adjusted) {
				a.consulted("10-a", "90-specguard", "95-b").deviceRule(allowRule("a", anyNumber, anyNumber, "rwm"))
			},
			want: []string{`plugin "10-a or 95-b" adds device cgroup rule "a *:* rwm", which allows host devices (NRI records no owner for linux.resources.devices; one of the untrusted plugins consulted)`},
		},
		"a device rule when only trusted plugins were consulted": {self: "90-specguard",
			build: func(a *adjusted) { a.consulted("05-gpu-plugin", "30-dra", "90-specguard").deviceRule(b8) },
		},
		"specguard is a suspect when it does not know its name": {
			build: func(a *adjusted) { a.consulted("05-gpu-plugin", "90-specguard").deviceRule(b8) },
			want:  []string{`plugin "90-specguard" adds device cgroup rule "b 8:* rwm"`},
		},
		"a device rule without the list of plugins": {self: "90-specguard",
			build: func(a *adjusted) { a.deviceRule(b8) },
			want:  []string{`plugin "<unknown plugin>" adds device cgroup rule "b 8:* rwm", which allows host devices (NRI records no owner for linux.resources.devices)`},
		},
		"the runtime's defaults, mknod and deny rules": {self: "90-specguard",
			build: func(a *adjusted) {
				a.consulted("10-evil").deviceRule(allowRule("c", 1, 3, "rwm")).deviceRule(allowRule("c", 136, anyNumber, "rwm")).
					deviceRule(allowRule("b", anyNumber, anyNumber, "m")).deviceRule(cgroupRule(false, "a", anyNumber, anyNumber, "rwm"))
			},
		},
		"the rule of a device node a trusted plugin adds": {self: "90-specguard",
			build: func(a *adjusted) {
				a.consulted("05-gpu-plugin", "10-evil").device("05-gpu-plugin", &api.LinuxDevice{Path: "/dev/nvidia0", Type: "c", Major: 195}).
					deviceRule(allowRule("c", 195, 0, "rw"))
			},
		},
		"the rule of a device node an untrusted plugin adds is judged as the node": {self: "90-specguard",
			build: func(a *adjusted) {
				a.consulted("10-evil").device("10-evil", &api.LinuxDevice{Path: "/dev/sda", Type: "b", Major: 8}).
					deviceRule(allowRule("b", 8, 0, "rwm"))
			},
			want: []string{`plugin "10-evil" adds device /dev/sda (b 8:0) (devices[/dev/sda], validation.denyDevices)`},
		},
		"a rule the container had already": {self: "90-specguard",
			build: func(a *adjusted) {
				c := a.req.Container
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
				c.Linux.Resources.Devices = []*api.LinuxDeviceCgroup{allowRule("c", 10, anyNumber, "rw")}
				a.consulted("10-evil").deviceRule(allowRule("c", 10, 229, "rwm")).deviceRule(allowRule("c", 10, 1, "r"))
			},
		},
		"any rule on a container that allows every device (privileged)": {self: "90-specguard",
			build: func(a *adjusted) {
				privileged(a.req.Container)
				a.consulted("10-evil").deviceRule(b8)
			},
		},

		"debugfs": {build: func(a *adjusted) { a.mount("10-m", kfs("debugfs", "/sys/kernel/debug")) },
			want: []string{`plugin "10-m" mounts debugfs, which exposes the host kernel's debug interface (mounts[/sys/kernel/debug], validation.denyHostMounts)`}},
		"sysfs read-write": {build: func(a *adjusted) { a.mount("95-m", kfs("sysfs", "/sys", "rw")) },
			want: []string{`plugin "95-m" mounts sysfs read-write, which exposes the host's kernel, device and firmware settings (mounts[/sys]`}},
		"securityfs": {build: func(a *adjusted) { a.mount("10-m", kfs("securityfs", "/sys/kernel/security")) },
			want: []string{`plugin "10-m" mounts securityfs, which exposes the host's security modules`}},
		"cgroup read-write": {build: func(a *adjusted) { a.mount("10-m", kfs("cgroup", "/sys/fs/cgroup", "rw")) },
			want: []string{`plugin "10-m" mounts cgroup read-write, which exposes cgroup limits`}},
		"bpf": {build: func(a *adjusted) { a.mount("10-m", kfs("bpf", "/sys/fs/bpf")) },
			want: []string{`plugin "10-m" mounts bpf, which exposes the host's pinned BPF programs and maps`}},
		"devtmpfs": {build: func(a *adjusted) { a.mount("10-m", kfs("devtmpfs", "/dev")) },
			want: []string{`plugin "10-m" mounts devtmpfs, which exposes every host device node (mounts[/dev]`}},
		"an unknown filesystem": {build: func(a *adjusted) { a.mount("10-m", kfs("xfs", "/data")) },
			want: []string{`plugin "10-m" mounts filesystem type "xfs", which is not known to be harmless`}},
		"overlay lowerdir=/etc": {build: func(a *adjusted) {
			a.mount("10-m", kfs("overlay", "/merged", "lowerdir=/etc", "upperdir="+kubelet+"/volumes/u", "workdir=/tmp/w"))
		}, want: []string{`plugin "10-m" mounts an overlay of host paths /etc (lowerdir), /tmp/w (workdir) (mounts[/merged], validation.denyHostMounts)`}},
		"overlay of this pod's own directories": {build: func(a *adjusted) {
			a.mount("10-m", kfs("overlay", "/merged", "lowerdir="+kubelet+"/volumes/l", "upperdir="+kubelet+"/volumes/u", "workdir="+kubelet+"/volumes/w"))
		}},
		"read-only sysfs, proc and tmpfs": {build: func(a *adjusted) {
			a.mount("10-m", kfs("sysfs", "/sys", "ro")).mount("10-m", kfs("proc", "/proc")).mount("10-m", kfs("tmpfs", "/run"))
		}},
		"a mount the container had already": {build: func(a *adjusted) {
			privileged(a.req.Container)
			a.mount("10-m", kfs("sysfs", "/sys", "nosuid", "noexec", "nodev", "rw"))
		}},
		"a trusted plugin's debugfs": {build: func(a *adjusted) { a.mount("05-gpu-plugin", kfs("debugfs", "/sys/kernel/debug")) }},
		"specguard's own masks":      {build: func(a *adjusted) { a.specguardOwn(t) }},
		"a removed mount":            {build: func(a *adjusted) { a.req.Adjust.RemoveMount("/sys/kernel/debug") }},
	} {
		t.Run(name, func(t *testing.T) {
			c := unconfinedContainer()
			criShaped(c)
			a := newAdjusted(c)
			tc.build(a)
			findings, err := ValidateAdjustmentAs(p, a.req, Validator{Self: tc.self, Node: testNode})
			if tc.want == nil {
				if err != nil || len(findings) > 0 {
					t.Fatalf("refused: %v %v", err, findings)
				}
				return
			}
			var refused *Refusal
			if !errors.As(err, &refused) {
				t.Fatalf("err = %v, want *Refusal", err)
			}
			if len(findings) != len(tc.want) {
				t.Errorf("findings = %v, want %d", findings, len(tc.want))
			}
			for i, w := range tc.want {
				if i < len(findings) && !strings.Contains(findings[i].String(), w) {
					t.Errorf("finding %d = %q, want it to contain %q", i, findings[i].String(), w)
				}
			}
		})
	}
}

// Host access checks need their switch: denyHooks alone lets them pass.
func TestValidateHostAccessSwitches(t *testing.T) {
	p := mustPolicy(t, "  validation: {denyHooks: true}\n")
	a := newAdjusted(unconfinedContainer()).consulted("10-evil").deviceRule(allowRule("a", anyNumber, anyNumber, "rwm")).
		mount("10-evil", &api.Mount{Destination: "/sys/kernel/debug", Type: "debugfs", Source: "debugfs"})
	if findings, err := ValidateAdjustmentAs(p, a.req, Validator{Self: "90-specguard"}); err != nil || len(findings) > 0 {
		t.Fatalf("findings %v, err %v", findings, err)
	}
}

// FuzzValidateAdjustment: validation requests decoded from arbitrary
// protobuf bytes, as a hostile or buggy runtime could send them. No
// panic, and in enforce mode an error exactly when there are findings
// that are not audit-mode rules' reports.
func FuzzValidateAdjustment(f *testing.F) {
	p, err := policy.Parse("fuzz.yaml", []byte(header+validationPolicy))
	if err != nil {
		f.Fatal(err)
	}
	mask, _ := MaskMount("/etc/shadow")
	a := newAdjusted(unconfinedContainer()).consulted("10-evil", "90-specguard").mount("90-specguard", mask).
		deviceRule(allowRule("b", 8, anyNumber, "rwm")).hook("10-evil", "/x").
		mount("10-evil", &api.Mount{Destination: "/m", Type: "overlay", Options: []string{"lowerdir=/etc:rel", "workdir=/w"}}).
		mount("10-evil", &api.Mount{Destination: "/sys", Type: "sysfs"})
	b, _ := proto.Marshal(a.req)
	f.Add(b)
	// The final container: bounds, sysctls, forged annotations, fields no
	// rule judges.
	a.req.Adjust.SetLinuxMemoryLimit(-1)
	a.req.Adjust.SetLinuxSysctl("kernel.core_pattern", "|/x")
	a.req.Adjust.RemoveAnnotation("specguard.io/restart-count")
	a.req.Adjust.AddAnnotation("specguard.io/restart-count", "7")
	a.req.Adjust.SetLinuxCgroupsPath("/")
	a.req.Adjust.AddLinuxUnified("memory.max", "max")
	a.req.Owners.ClaimAnnotation(a.id(), "specguard.io/restart-count", "10-evil")
	b, _ = proto.Marshal(a.req)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		req := &api.ValidateContainerAdjustmentRequest{}
		if proto.Unmarshal(b, req) != nil {
			return
		}
		findings, err := ValidateAdjustmentAs(p, req, Validator{Self: "90-specguard"})
		refusing := 0
		for _, f := range findings {
			if !f.Audit {
				refusing++
			}
		}
		if (err != nil) != (refusing > 0) {
			t.Fatalf("err %v with %d findings that refuse", err, refusing)
		}
	})
}
