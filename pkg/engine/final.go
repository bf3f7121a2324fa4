package engine

import (
	"strings"

	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"
)

// FinalContainer is the container as the runtime will create it: the
// pristine container of a validation request with the merged adjustment of
// every plugin applied. c is not changed.
//
// Where the merged adjustment both sets and removes an annotation or a
// sysctl, the value set is taken: that is NRI's "remove, then set" by one
// plugin. (NRI also keeps both when a later plugin removes a key an earlier
// one set, and the runtime then applies them in map order; the integrity
// check looks for that removal itself.)
func FinalContainer(c *api.Container, adj *api.ContainerAdjustment) *api.Container {
	f := &api.Container{}
	if c != nil {
		f = proto.Clone(c).(*api.Container)
	}
	if adj == nil {
		return f
	}
	f.Annotations = applyKeyed(f.Annotations, adj.GetAnnotations())
	f.Mounts = applyMounts(f.Mounts, adj.GetMounts())
	f.Env = applyEnv(f.Env, adj.GetEnv())
	if args := adj.GetArgs(); len(args) > 0 {
		if args[0] == "" { // NRI's marker for "replace", not an argument
			args = args[1:]
		}
		f.Args = append([]string(nil), args...)
	}
	if h := adj.GetHooks(); h != nil {
		if f.Hooks == nil {
			f.Hooks = &api.Hooks{}
		}
		f.Hooks.Prestart = append(f.Hooks.Prestart, h.GetPrestart()...)
		f.Hooks.CreateRuntime = append(f.Hooks.CreateRuntime, h.GetCreateRuntime()...)
		f.Hooks.CreateContainer = append(f.Hooks.CreateContainer, h.GetCreateContainer()...)
		f.Hooks.StartContainer = append(f.Hooks.StartContainer, h.GetStartContainer()...)
		f.Hooks.Poststart = append(f.Hooks.Poststart, h.GetPoststart()...)
		f.Hooks.Poststop = append(f.Hooks.Poststop, h.GetPoststop()...)
	}
	for _, rl := range adj.GetRlimits() {
		f.Rlimits = setRlimit(f.Rlimits, rl)
	}
	f.CDIDevices = append(f.CDIDevices, adj.GetCDIDevices()...)
	if l := adj.GetLinux(); l != nil {
		applyLinux(f, l)
	}
	return f
}

func applyLinux(f *api.Container, l *api.LinuxContainerAdjustment) {
	if f.Linux == nil {
		f.Linux = &api.LinuxContainer{}
	}
	fl := f.Linux
	fl.Devices = applyDevices(fl.Devices, l.GetDevices())
	if r := l.GetResources(); r != nil {
		if fl.Resources == nil {
			fl.Resources = &api.LinuxResources{}
		}
		applyResources(fl.Resources, r)
	}
	if p := l.GetCgroupsPath(); p != "" {
		fl.CgroupsPath = p
	}
	if v := l.GetOomScoreAdj(); v != nil {
		fl.OomScoreAdj = v
	}
	if v := l.GetIoPriority(); v != nil {
		fl.IoPriority = v
	}
	if v := l.GetSeccompPolicy(); v != nil {
		fl.SeccompPolicy = v
	}
	for _, ns := range l.GetNamespaces() {
		typ, removed := ns.IsMarkedForRemoval()
		kept := fl.Namespaces[:0:0]
		for _, o := range fl.Namespaces {
			if o.GetType() != typ {
				kept = append(kept, o)
			}
		}
		if !removed {
			kept = append(kept, ns)
		}
		fl.Namespaces = kept
	}
	fl.Sysctl = applyKeyed(fl.Sysctl, l.GetSysctl())
	for k, d := range l.GetNetDevices() {
		if fl.NetDevices == nil {
			fl.NetDevices = map[string]*api.LinuxNetDevice{}
		}
		if key, removed := api.IsMarkedForRemoval(k); removed {
			delete(fl.NetDevices, key)
			continue
		}
		fl.NetDevices[k] = d
	}
	if v := l.GetScheduler(); v != nil {
		fl.Scheduler = v
	}
	if v := l.GetRdt(); v != nil {
		fl.Rdt = v
	}
}

// applyKeyed applies set and removal-marked keys; a key both set and
// removed is set.
func applyKeyed(m, adj map[string]string) map[string]string {
	if len(adj) == 0 {
		return m
	}
	if m == nil {
		m = make(map[string]string, len(adj))
	}
	for k := range adj {
		if key, removed := api.IsMarkedForRemoval(k); removed {
			if _, set := adj[key]; !set {
				delete(m, key)
			}
		}
	}
	for k, v := range adj {
		if _, removed := api.IsMarkedForRemoval(k); !removed {
			m[k] = v
		}
	}
	return m
}

// applyMounts replaces or removes the container's mounts at each
// destination the adjustment names.
func applyMounts(ms []*api.Mount, adj []*api.Mount) []*api.Mount {
	if len(adj) == 0 {
		return ms
	}
	named := make(map[string]bool, len(adj))
	for _, m := range adj {
		key, _ := m.IsMarkedForRemoval()
		named[key] = true
	}
	out := make([]*api.Mount, 0, len(ms)+len(adj))
	for _, m := range ms {
		if !named[m.GetDestination()] {
			out = append(out, m)
		}
	}
	for _, m := range adj {
		if _, removed := m.IsMarkedForRemoval(); !removed {
			out = append(out, m)
		}
	}
	return out
}

func applyDevices(ds []*api.LinuxDevice, adj []*api.LinuxDevice) []*api.LinuxDevice {
	if len(adj) == 0 {
		return ds
	}
	named := make(map[string]bool, len(adj))
	for _, d := range adj {
		key, _ := d.IsMarkedForRemoval()
		named[key] = true
	}
	out := make([]*api.LinuxDevice, 0, len(ds)+len(adj))
	for _, d := range ds {
		if !named[d.GetPath()] {
			out = append(out, d)
		}
	}
	for _, d := range adj {
		if _, removed := d.IsMarkedForRemoval(); !removed {
			out = append(out, d)
		}
	}
	return out
}

func applyEnv(env []string, adj []*api.KeyValue) []string {
	if len(adj) == 0 {
		return env
	}
	named := make(map[string]bool, len(adj))
	for _, kv := range adj {
		key, _ := kv.IsMarkedForRemoval()
		named[key] = true
	}
	out := make([]string, 0, len(env)+len(adj))
	for _, e := range env {
		k, _, _ := strings.Cut(e, "=")
		if !named[k] {
			out = append(out, e)
		}
	}
	for _, kv := range adj {
		if _, removed := kv.IsMarkedForRemoval(); !removed {
			out = append(out, kv.GetKey()+"="+kv.GetValue())
		}
	}
	return out
}

func setRlimit(rs []*api.POSIXRlimit, rl *api.POSIXRlimit) []*api.POSIXRlimit {
	for i, o := range rs {
		if o.GetType() == rl.GetType() {
			out := append([]*api.POSIXRlimit(nil), rs...)
			out[i] = rl
			return out
		}
	}
	return append(rs, rl)
}

// applyResources sets each value the adjustment sets; device cgroup rules
// are appended, as the runtime appends each plugin's.
func applyResources(r, adj *api.LinuxResources) {
	if m := adj.GetMemory(); m != nil {
		if r.Memory == nil {
			r.Memory = &api.LinuxMemory{}
		}
		rm := r.Memory
		setOpt(&rm.Limit, m.GetLimit())
		setOpt(&rm.Reservation, m.GetReservation())
		setOpt(&rm.Swap, m.GetSwap())
		setOpt(&rm.Kernel, m.GetKernel())
		setOpt(&rm.KernelTcp, m.GetKernelTcp())
		setOpt(&rm.Swappiness, m.GetSwappiness())
		setOpt(&rm.DisableOomKiller, m.GetDisableOomKiller())
		setOpt(&rm.UseHierarchy, m.GetUseHierarchy())
	}
	if c := adj.GetCpu(); c != nil {
		if r.Cpu == nil {
			r.Cpu = &api.LinuxCPU{}
		}
		rc := r.Cpu
		setOpt(&rc.Shares, c.GetShares())
		setOpt(&rc.Quota, c.GetQuota())
		setOpt(&rc.Period, c.GetPeriod())
		setOpt(&rc.RealtimeRuntime, c.GetRealtimeRuntime())
		setOpt(&rc.RealtimePeriod, c.GetRealtimePeriod())
		if v := c.GetCpus(); v != "" {
			rc.Cpus = v
		}
		if v := c.GetMems(); v != "" {
			rc.Mems = v
		}
	}
	for _, h := range adj.GetHugepageLimits() {
		set := false
		for i, o := range r.HugepageLimits {
			if o.GetPageSize() == h.GetPageSize() {
				r.HugepageLimits = append([]*api.HugepageLimit(nil), r.HugepageLimits...)
				r.HugepageLimits[i], set = h, true
				break
			}
		}
		if !set {
			r.HugepageLimits = append(r.HugepageLimits, h)
		}
	}
	setOpt(&r.BlockioClass, adj.GetBlockioClass())
	setOpt(&r.RdtClass, adj.GetRdtClass())
	if len(adj.GetUnified()) > 0 {
		u := make(map[string]string, len(r.GetUnified())+len(adj.GetUnified()))
		for k, v := range r.GetUnified() {
			u[k] = v
		}
		for k, v := range adj.GetUnified() {
			u[k] = v
		}
		r.Unified = u
	}
	r.Devices = append(r.Devices, adj.GetDevices()...)
	if p := adj.GetPids(); p != nil {
		r.Pids = p
	}
}

// setOpt sets *dst to v when the adjustment sets it.
func setOpt[T any](dst **T, v *T) {
	if v != nil {
		*dst = v
	}
}
