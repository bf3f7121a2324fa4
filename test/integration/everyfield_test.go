package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// everyFieldPolicy bounds or checks what a rule can, for containers of
// namespace "ef"; the validation section denies what no rule judges, and
// allows one such field explicitly.
const everyFieldPolicy = `  validation:
    trustedPlugins: ["96-trusted"]
    denyHooks: true
    denyHostMounts: true
    denyDevices: true
    denySeccomp: true
    denyNamespaces: true
    allowFields: [linux.ioPriority]
  rules:
  - name: bounds
    match: {namespaces: [ef]}
    env: [{name: RESTART_COUNT, value: "{{ .RestartCount }}"}]
    annotations: {add: {example.com/owner: team-ef}}
    resources:
      cpu: {shares: {max: 4096}, quota: {max: 400000}, period: {min: 10000}}
      memory: {limit: {default: 256Mi, max: 2Gi}, reservation: {max: 1Gi}, swap: {max: 2Gi}}
      pids: {limit: {default: 1024, max: 4096}}
      oomScoreAdj: {min: -500, max: 1000}
      hugepages: [{pageSize: 2MB, limit: {max: 1Gi}}]
      rlimits: [{type: RLIMIT_NOFILE, soft: 65536, hard: 65536}]
      unified: {memory.high: "1073741824"}
    security:
      hostNamespaces: deny
      hostPaths: {deny: ["/etc/**"]}
      devices: deny
      sysctls: {}
      seccomp: {unconfined: reject}
      maskedPaths: [/etc/shadow]
`

// fieldCase is one hostile change to one field of NRI's
// ContainerAdjustment, made by a plugin at index 95 (after specguard's 90),
// and what the creation must end in: refused with want in the error, or
// allowed (want "") because the policy says so (why).
type fieldCase struct {
	field  string // the field's path in ContainerAdjustment, JSON names
	name   string // the container name suffix
	change func(*api.ContainerAdjustment)
	want   string
	why    string
}

var fieldCases = []fieldCase{
	{field: "annotations", name: "forge-count", change: func(a *api.ContainerAdjustment) {
		a.RemoveAnnotation("specguard.io/restart-count")
		a.AddAnnotation("specguard.io/restart-count", "7")
	}, want: `plugin "95-late" changes specguard's annotations[specguard.io/restart-count] from "0" to "7" (annotations[specguard.io/restart-count], rule "metadata")`},
	{field: "annotations", name: "forge-ns", change: func(a *api.ContainerAdjustment) {
		a.RemoveAnnotation("io.kubernetes.pod.namespace")
		a.AddAnnotation("io.kubernetes.pod.namespace", "kube-system")
	}, want: `plugin "95-late" changes specguard's annotations[io.kubernetes.pod.namespace] from "ef" to "kube-system"`},
	{field: "annotations", name: "forge-logpath", change: func(a *api.ContainerAdjustment) {
		a.RemoveAnnotation("specguard.io/log-path")
		a.AddAnnotation("specguard.io/log-path", "/etc/cron.d/x")
	}, want: `changes specguard's annotations[specguard.io/log-path]`},
	{field: "annotations", name: "drop-rule-annotation", change: func(a *api.ContainerAdjustment) {
		a.RemoveAnnotation("example.com/owner")
	}, want: `plugin "95-late" removes specguard's annotations[example.com/owner] ("team-ef") (NRI records no owner for annotations[example.com/owner]; the only untrusted plugin consulted) (annotations[example.com/owner], rule "bounds")`},
	{field: "annotations", name: "own-annotation", change: func(a *api.ContainerAdjustment) {
		a.AddAnnotation("example.com/late", "x")
	}, why: "an annotation specguard does not write is not the policy's"},
	{field: "mounts", name: "unmask", change: func(a *api.ContainerAdjustment) { a.RemoveMount("/etc/shadow") },
		want: `plugin "95-late" changes specguard's mounts[/etc/shadow] from bind /dev/null`},
	{field: "mounts", name: "host-etc", change: func(a *api.ContainerAdjustment) {
		a.AddMount(&api.Mount{Destination: "/host-etc", Source: "/etc", Type: "bind", Options: []string{"rbind", "ro"}})
	}, want: `plugin "95-late" makes the container fail the rule: hostPaths: mount /host-etc: host path /etc contains paths denied by "/etc/**" (mounts[/host-etc], rule "bounds")`},
	{field: "mounts", name: "overlay", change: mountFS("overlay", "/merged", "lowerdir=/etc", "upperdir=/tmp/u", "workdir=/tmp/w"),
		want: `plugin "95-late" makes the container fail the rule: hostPaths: mount /merged: overlay lowerdir host path /etc`},
	{field: "env", name: "forge-env", change: func(a *api.ContainerAdjustment) {
		a.RemoveEnv("RESTART_COUNT")
		a.AddEnv("RESTART_COUNT", "9")
	}, want: `plugin "95-late" changes specguard's env[RESTART_COUNT] from "0" to "9" (env[RESTART_COUNT], rule "bounds")`},
	{field: "env", name: "own-env", change: func(a *api.ContainerAdjustment) { a.AddEnv("LATE", "1") },
		why: "env the policy does not set is not the policy's"},
	{field: "hooks", name: "hook", change: addHook,
		want: `plugin "95-late" adds OCI hooks (prestart /usr/local/bin/inject) (hooks, validation.denyHooks)`},
	{field: "rlimits", name: "nofile", change: func(a *api.ContainerAdjustment) { a.AddRlimit("RLIMIT_NOFILE", 1<<20, 1<<20) },
		want: `plugins "95-late" and "90-specguard" both tried to set Rlimits RLIMIT_NOFILE`}, // NRI itself: specguard owns it
	{field: "rlimits", name: "nproc", change: func(a *api.ContainerAdjustment) { a.AddRlimit("RLIMIT_NPROC", 4096, 4096) },
		why: "no rule sets RLIMIT_NPROC"},
	{field: "CDIDevices", name: "cdi", change: func(a *api.ContainerAdjustment) { a.AddCDIDevice(&api.CDIDevice{Name: "vendor.com/dev=1"}) },
		want: `plugin "95-late" adds CDI device vendor.com/dev=1 (cdiDevices[vendor.com/dev=1], validation.denyDevices)`},
	{field: "args", name: "args", change: func(a *api.ContainerAdjustment) { a.SetArgs([]string{"/bin/sh", "-c", "id"}) },
		want: `plugin "95-late" replaces the container's command line, a field no rule judges (args, validation.allowFields)`},
	{field: "linux.devices", name: "disk", change: func(a *api.ContainerAdjustment) {
		a.AddDevice(&api.LinuxDevice{Path: "/dev/sda", Type: "b", Major: 8})
	}, want: `plugin "95-late" adds device /dev/sda (b 8:0) (devices[/dev/sda], validation.denyDevices)`},
	{field: "linux.resources.memory.limit", name: "memory", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryLimit(64 << 30) },
		want: `plugin "95-late" sets resources.memory.limit to 64Gi, which the policy holds at 2Gi (resources.memory.limit, rule "bounds")`},
	{field: "linux.resources.memory.reservation", name: "reservation", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryReservation(8 << 30) },
		want: `plugin "95-late" sets resources.memory.reservation to 8Gi, which the policy holds at 1Gi`},
	{field: "linux.resources.memory.swap", name: "swap", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemorySwap(-1) },
		want: `plugin "95-late" sets resources.memory.swap to -1, which the policy holds at 2Gi`},
	{field: "linux.resources.memory.kernel", name: "kmem", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryKernel(1 << 30) },
		want: `(linux.resources.memory.kernel, validation.allowFields)`},
	{field: "linux.resources.memory.kernelTcp", name: "kmemtcp", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryKernelTCP(1 << 30) },
		want: `(linux.resources.memory.kernelTcp, validation.allowFields)`},
	{field: "linux.resources.memory.swappiness", name: "swappiness", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemorySwappiness(100) },
		want: `(linux.resources.memory.swappiness, validation.allowFields)`},
	{field: "linux.resources.memory.disableOomKiller", name: "nooom", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryDisableOomKiller() },
		want: `plugin "95-late" turns the OOM killer off or on, a field no rule judges (linux.resources.memory.disableOomKiller, validation.allowFields)`},
	{field: "linux.resources.memory.useHierarchy", name: "hierarchy", change: func(a *api.ContainerAdjustment) { a.SetLinuxMemoryUseHierarchy() },
		want: `(linux.resources.memory.useHierarchy, validation.allowFields)`},
	{field: "linux.resources.cpu.shares", name: "shares", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPUShares(262144) },
		want: `plugin "95-late" sets resources.cpu.shares to 262144, which the policy holds at 4096`},
	{field: "linux.resources.cpu.quota", name: "quota", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPUQuota(-1) },
		want: `plugin "95-late" sets resources.cpu.quota to -1, which the policy holds at 400000`},
	{field: "linux.resources.cpu.period", name: "period", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPUPeriod(1000) },
		want: `plugin "95-late" sets resources.cpu.period to 1000, which the policy holds at 10000`},
	{field: "linux.resources.cpu.realtimeRuntime", name: "rtruntime", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPURealtimeRuntime(950000) },
		want: `(linux.resources.cpu.realtimeRuntime, validation.allowFields)`},
	{field: "linux.resources.cpu.realtimePeriod", name: "rtperiod", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPURealtimePeriod(1000000) },
		want: `(linux.resources.cpu.realtimePeriod, validation.allowFields)`},
	{field: "linux.resources.cpu.cpus", name: "cpus", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPUSetCPUs("0-1") },
		why: "no rule sets cpu.cpus: a topology plugin's to choose"},
	{field: "linux.resources.cpu.mems", name: "mems", change: func(a *api.ContainerAdjustment) { a.SetLinuxCPUSetMems("0") },
		why: "no rule sets cpu.mems"},
	{field: "linux.resources.hugepageLimits", name: "hugepages", change: func(a *api.ContainerAdjustment) { a.AddLinuxHugepageLimit("2MB", 8<<30) },
		want: `plugin "95-late" sets resources.hugepages[2MB] to 8Gi, which the policy holds at 1Gi`},
	{field: "linux.resources.blockioClass", name: "blockio", change: func(a *api.ContainerAdjustment) { a.SetLinuxBlockIOClass("slow") },
		why: "no rule sets blockioClass"},
	{field: "linux.resources.rdtClass", name: "rdtclass", change: func(a *api.ContainerAdjustment) { a.SetLinuxRDTClass("gold") },
		why: "no rule sets rdtClass"},
	{field: "linux.resources.unified", name: "unified-max", change: func(a *api.ContainerAdjustment) { a.AddLinuxUnified("memory.max", "max") },
		want: `plugin "95-late" sets the cgroup file memory.max="max", which bypasses the rule's resources.memory.limit (resources.unified[memory.max], rule "bounds")`},
	{field: "linux.resources.unified", name: "unified-pids", change: func(a *api.ContainerAdjustment) { a.AddLinuxUnified("pids.max", "max") },
		want: `bypasses the rule's resources.pids.limit`},
	{field: "linux.resources.unified", name: "unified-other", change: func(a *api.ContainerAdjustment) { a.AddLinuxUnified("memory.oom.group", "1") },
		why: "a cgroup file no bounded field stands for"},
	{field: "linux.resources.devices", name: "devrule", change: deviceRule("b", 8, -1, "rwm"),
		want: `plugin "95-late" adds device cgroup rule "b 8:* rwm", which allows host devices`},
	{field: "linux.resources.pids", name: "pids", change: func(a *api.ContainerAdjustment) { a.SetLinuxPidLimits(1 << 20) },
		want: `plugin "95-late" sets resources.pids.limit to 1048576, which the policy holds at 4096`},
	{field: "linux.cgroupsPath", name: "cgroup", change: func(a *api.ContainerAdjustment) { a.SetLinuxCgroupsPath("/") },
		want: `plugin "95-late" moves the container to cgroup "/", a field no rule judges (linux.cgroupsPath, validation.allowFields)`},
	{field: "linux.oomScoreAdj", name: "oom", change: func(a *api.ContainerAdjustment) { n := -1000; a.SetLinuxOomScoreAdj(&n) },
		want: `plugin "95-late" sets resources.oomScoreAdj to -1000, which the policy holds at -500 (resources.oomScoreAdj, rule "bounds")`},
	{field: "linux.ioPriority", name: "ioprio", change: func(a *api.ContainerAdjustment) {
		a.SetLinuxIOPriority(&api.LinuxIOPriority{Class: api.IOPrioClass_IOPRIO_CLASS_BE, Priority: 7})
	}, why: "validation.allowFields lists linux.ioPriority"},
	{field: "linux.seccompPolicy", name: "seccomp", change: func(a *api.ContainerAdjustment) {
		a.SetLinuxSeccompPolicy(&api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ALLOW"})
	}, want: `plugin "95-late" sets a seccomp policy (default action SCMP_ACT_ALLOW, 0 syscall rules) (linux.seccompPolicy, validation.denySeccomp)`},
	{field: "linux.namespaces", name: "hostnet", change: func(a *api.ContainerAdjustment) {
		a.RemoveNamespace(&api.LinuxNamespace{Type: "network"})
	}, want: `plugin "95-late" makes the container fail the rule: hostNamespaces: container shares the host's network namespace (hostNetwork) (linux.namespaces, rule "bounds")`},
	{field: "linux.sysctl", name: "sysctl", change: func(a *api.ContainerAdjustment) { a.SetLinuxSysctl("kernel.core_pattern", "|/tmp/x") },
		want: `plugin "95-late" makes the container fail the rule: sysctls: kernel.core_pattern is not an allowed sysctl (allowed: the Kubernetes safe set) (linux.sysctl[kernel.core_pattern], rule "bounds")`},
	{field: "linux.netDevices", name: "netdev", change: func(a *api.ContainerAdjustment) {
		a.AddLinuxNetDevice("eth1", &api.LinuxNetDevice{Name: "eth0"})
	}, want: `plugin "95-late" moves host network device "eth1" into the container (linux.netDevices[eth1], validation.denyDevices); plugin "95-late" makes the container fail the rule: devices: host network device "eth1" is moved into the container (as "eth0") (linux.netDevices[eth1], rule "bounds")`},
	{field: "linux.scheduler", name: "sched", change: func(a *api.ContainerAdjustment) {
		a.SetLinuxScheduler(&api.LinuxScheduler{Policy: api.LinuxSchedulerPolicy_SCHED_FIFO, Priority: 99})
	}, want: `plugin "95-late" sets the scheduling policy SCHED_FIFO, a field no rule judges (linux.scheduler, validation.allowFields)`},
	{field: "linux.rdt", name: "rdt", change: func(a *api.ContainerAdjustment) { a.SetLinuxRDTClosID("gold") },
		want: `(linux.rdt, validation.allowFields)`},
	{field: "linux.memoryPolicy", name: "mempolicy", change: func(a *api.ContainerAdjustment) {
		a.SetLinuxMemoryPolicy(api.MpolMode_MPOL_BIND, "0")
	}, want: `plugin "95-late" sets the NUMA memory policy, a field no rule judges (linux.memoryPolicy, validation.allowFields)`},
}

// efContainer is a CRI-shaped container of namespace ef whose own
// resources are within the rule's bounds, so that specguard sets none of
// them and a later plugin may (and is then judged for it).
func efContainer(pod *api.PodSandbox) func(*api.Container) {
	return func(c *api.Container) {
		criContainer(pod)(c)
		runtimeShaped(pod)(c)
		c.Linux.Resources.Memory = &api.LinuxMemory{Limit: api.Int64(512 << 20), Swap: api.Int64(512 << 20)}
		c.Linux.Resources.Cpu = &api.LinuxCPU{Shares: api.UInt64(512), Quota: api.Int64(100000), Period: api.UInt64(100000)}
		c.Linux.Resources.Pids = &api.LinuxPids{Limit: 100}
		c.Linux.OomScoreAdj = api.Int(0)
	}
}

// Every field NRI lets a plugin adjust, changed by a plugin after
// specguard: refused with the plugin, field, value and rule or check
// named, or allowed where the policy says so; and a trusted plugin's
// change to a bounded field passes.
func TestEveryAdjustableField(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	late := &hostilePlugin{prefix: "late-", changes: map[string]func(*api.ContainerAdjustment){}}
	for _, c := range fieldCases {
		late.changes[c.name] = c.change
	}
	r.startHostile(late, "late", "95")
	trusted := &hostilePlugin{prefix: "trusted-", changes: map[string]func(*api.ContainerAdjustment){
		"memory": func(a *api.ContainerAdjustment) { a.SetLinuxMemoryLimit(64 << 30) },
		"cgroup": func(a *api.ContainerAdjustment) { a.SetLinuxCgroupsPath("/trusted.slice") },
	}}
	r.startHostile(trusted, "trusted", "96")
	p := r.startPlugin("--config", writePolicy(t, r.dir, everyFieldPolicy))

	create := func(name string) (*api.ContainerAdjustment, error) {
		pod := criPod(r.addPod("p-"+name, "ef", "uid-ef-"+name, nil), false)
		_, adj, err := r.create(pod, name, efContainer(pod))
		return adj, err
	}
	t.Run("untouched", func(t *testing.T) {
		if _, err := create("app"); err != nil {
			t.Fatalf("specguard's own changes refused: %v\n%s", err, p.Logs())
		}
	})
	for _, c := range fieldCases {
		t.Run(c.field+"/"+c.name, func(t *testing.T) {
			adj, err := create("late-" + c.name)
			if c.want == "" {
				if err != nil {
					t.Fatalf("refused, want allowed (%s): %v", c.why, err)
				}
				if adj == nil {
					t.Fatal("no adjustment")
				}
				return
			}
			if err == nil {
				t.Fatalf("created; want refused with %q", c.want)
			}
			t.Logf("refused: %v", err)
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal lacks %q:\n%v", c.want, err)
			}
		})
	}
	for name := range trusted.changes {
		t.Run("trusted/"+name, func(t *testing.T) {
			if _, err := create("trusted-" + name); err != nil {
				t.Fatalf("a trusted plugin's change refused: %v", err)
			}
		})
	}
}

// A plugin before specguard (index 10) that sets a value within the
// bounds where the rule would have defaulted it: specguard's
// CreateContainer saw that value and left the field alone, so the
// validator, which works specguard's values out again from the container
// before every plugin, must not take it for a change of specguard's; past
// the bounds it is specguard's own clamp that NRI refuses as a conflict.
func TestEarlierPluginWithinBounds(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	early := &hostilePlugin{prefix: "early-", changes: map[string]func(*api.ContainerAdjustment){
		"memory": func(a *api.ContainerAdjustment) { a.SetLinuxMemoryLimit(1 << 30) },
		"huge":   func(a *api.ContainerAdjustment) { a.SetLinuxMemoryLimit(64 << 30) },
	}}
	r.startHostile(early, "early", "10")
	r.startPlugin("--config", writePolicy(t, r.dir, everyFieldPolicy))
	create := func(name string) (*api.ContainerAdjustment, error) {
		pod := criPod(r.addPod("p-"+name, "ef", "uid-ef-"+name, nil), false)
		_, adj, err := r.create(pod, name, func(c *api.Container) {
			efContainer(pod)(c)
			c.Linux.Resources.Memory = &api.LinuxMemory{} // no limit of its own: the rule would default it
		})
		return adj, err
	}
	adj, err := create("early-memory")
	if err != nil {
		t.Fatalf("a value set before specguard, within the bounds, refused: %v", err)
	}
	if got := adj.GetLinux().GetResources().GetMemory().GetLimit().GetValue(); got != 1<<30 {
		t.Errorf("memory limit %d, want the early plugin's 1Gi", got)
	}
	if _, err := create("early-huge"); err == nil || !strings.Contains(err.Error(), `plugins "90-specguard" and "10-early" both tried to set`) &&
		!strings.Contains(err.Error(), `plugins "10-early" and "90-specguard" both tried to set`) {
		t.Errorf("64Gi before specguard: %v, want NRI's conflict with specguard's clamp", err)
	}
}

// adjustableFields lists the leaf fields of NRI's ContainerAdjustment by
// their JSON paths, descending into the linux, resources, memory and cpu
// messages, whose fields are adjusted one by one.
func adjustableFields() []string {
	descend := map[string]bool{"linux": true, "resources": true, "memory": true, "cpu": true}
	var out []string
	var walk func(prefix string, md protoreflect.MessageDescriptor)
	walk = func(prefix string, md protoreflect.MessageDescriptor) {
		fs := md.Fields()
		for i := 0; i < fs.Len(); i++ {
			f := fs.Get(i)
			path := prefix + f.JSONName()
			if f.Kind() == protoreflect.MessageKind && !f.IsList() && !f.IsMap() && descend[f.JSONName()] {
				walk(path+".", f.Message())
				continue
			}
			out = append(out, path)
		}
	}
	walk("", (&api.ContainerAdjustment{}).ProtoReflect().Descriptor())
	return out
}

// A field NRI adds to ContainerAdjustment cannot go untested or
// undocumented: each has a case above and a row in docs/security.md.
func TestEveryAdjustableFieldIsCovered(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "security.md"))
	if err != nil {
		t.Fatal(err)
	}
	tested := map[string]bool{}
	for _, c := range fieldCases {
		tested[c.field] = true
	}
	fields := adjustableFields()
	if len(fields) < 30 { // 39 in v0.12.5: a walk that found far fewer is broken
		t.Fatalf("found only %d fields: %v", len(fields), fields)
	}
	for _, f := range fields {
		if !tested[f] {
			t.Errorf("%s: no case in fieldCases", f)
		}
		if !strings.Contains(string(doc), "| `"+f+"` |") {
			t.Errorf("%s: no row in docs/security.md's table of adjustable fields", f)
		}
		delete(tested, f)
	}
	for f := range tested {
		t.Errorf("%s: a case for a field ContainerAdjustment does not have", f)
	}
}
