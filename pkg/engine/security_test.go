package engine

import (
	"errors"
	"path"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// secPod is a pod-network pod as containerd's CRI reports it: the sandbox
// has its own network (a CNI netns), IPC and UTS namespaces and its own
// PID namespace.
func secPod() *api.PodSandbox {
	return &api.PodSandbox{
		Id: "0123abcd", Name: "web-0", Namespace: "team-a", Uid: "5f0c9a2e-0000-4000-8000-000000000001",
		Labels: map[string]string{"tier": "web"}, Annotations: map[string]string{}, RuntimeHandler: "runc",
		Linux: &api.LinuxPodSandbox{Namespaces: []*api.LinuxNamespace{
			{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"},
			{Type: "network", Path: "/var/run/netns/cni-1234"},
		}},
	}
}

// secContainer is a container of that pod as containerd's CRI builds it:
// it joins the sandbox's network, IPC and UTS namespaces by path, has its
// own PID and mount namespaces, the kubelet's and containerd's mounts, and
// runs as uid 1000 under the runtime's default seccomp profile.
func secContainer() *api.Container {
	uid := "5f0c9a2e-0000-4000-8000-000000000001"
	kubelet := "/var/lib/kubelet/pods/" + uid
	cri := "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/0123abcd"
	bind := func(dst, src string) *api.Mount {
		return &api.Mount{Destination: dst, Source: src, Type: "bind", Options: []string{"rbind", "rprivate", "rw"}}
	}
	return &api.Container{
		Id: "c0ffee", PodSandboxId: "0123abcd", Name: "app",
		User: &api.User{Uid: 1000, Gid: 1000},
		Mounts: []*api.Mount{
			{Destination: "/proc", Source: "proc", Type: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Source: "tmpfs", Type: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/sys", Source: "sysfs", Type: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			bind("/etc/hosts", kubelet+"/etc-hosts"),
			bind("/dev/termination-log", kubelet+"/containers/app/1a2b3c"),
			bind("/var/run/secrets/kubernetes.io/serviceaccount", kubelet+"/volumes/kubernetes.io~projected/kube-api-access-x7k2p"),
			bind("/cache", kubelet+"/volumes/kubernetes.io~empty-dir/cache"),
			bind("/etc/hostname", cri+"/hostname"),
			bind("/etc/resolv.conf", cri+"/resolv.conf"),
			bind("/dev/shm", "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/0123abcd/shm"),
			bind("/data", "/var/lib/containerd/io.containerd.grpc.v1.cri/containers/c0ffee/volumes/9f8e7d"),
		},
		Linux: &api.LinuxContainer{
			Namespaces: []*api.LinuxNamespace{
				{Type: "pid"}, {Type: "mount"},
				{Type: "network", Path: "/proc/4242/ns/net"},
				{Type: "ipc", Path: "/proc/4242/ns/ipc"},
				{Type: "uts", Path: "/proc/4242/ns/uts"},
			},
			Resources:      &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(512)}, Memory: &api.LinuxMemory{}},
			SeccompProfile: &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT},
			SeccompPolicy:  &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO"},
		},
	}
}

func securityRule(body string) string {
	return "  rules:\n  - name: sec\n    match: {namespaces: [team-a]}\n    security:\n" + body
}

func bindMount(dst, src string) *api.Mount {
	return &api.Mount{Destination: dst, Source: src, Type: "bind", Options: []string{"rbind", "rprivate", "ro"}}
}

func hostNetwork(pod *api.PodSandbox, c *api.Container) {
	// containerd drops the sandbox's network namespace; the container
	// still joins the sandbox's, which is the host's.
	pod.Linux.Namespaces = pod.Linux.Namespaces[:4]
}

// podUserNamespace makes it a hostUsers: false pod as containerd's CRI
// reports it: the sandbox has a user namespace, the container runs as
// uid 0 and joins it through the sandbox's PID.
func podUserNamespace(pod *api.PodSandbox, c *api.Container) {
	pod.Linux.Namespaces = append(pod.Linux.Namespaces, &api.LinuxNamespace{Type: "user"})
	c.User.Uid = 0
	c.Linux.Namespaces = append(c.Linux.Namespaces, &api.LinuxNamespace{Type: "user", Path: "/proc/4242/ns/user"})
}

// Issue 17: a namespace path is judged by what it opens. runc opens it in
// the host's mount and PID namespaces, so PID 1's, its own (self,
// thread-self) and their threads' are the host's however the path is
// spelled; when the sandbox's PID is known, another process's network,
// IPC, UTS or user namespace is not the pod's either.
func TestHostNamespacePaths(t *testing.T) {
	for p, want := range map[string]bool{ // true: the host's
		"/proc/4242/ns/net":                     false,
		"/proc/4242/task/4242/ns/net":           false,
		"/proc/4242/task/4243/ns/net":           false,
		"/proc//4242/ns/net":                    false,
		"/proc/1/ns/net":                        true,
		"//proc/1/ns/net":                       true,
		"/proc/./1/ns/net":                      true,
		"/proc/1/ns/../ns/net":                  true,
		"/proc/4242/../1/ns/net":                true,
		"/proc/self/ns/net":                     true,
		"/proc/thread-self/ns/net":              true,
		"/proc/1/task/1/ns/net":                 true,
		"/proc/4242/task/self/ns/net":           true,
		"/proc/999/ns/net":                      true, // not the sandbox's process
		"/proc/04242/ns/net":                    true, // procfs has no such name
		"/proc/4242/root/proc/1/ns/net":         true,
		"/proc/4242/fd/3":                       true,
		"/proc/net":                             true,
		"proc/4242/ns/net":                      true, // relative: resolved against runc's working directory
		"/var/run/netns/cni-1234":               false,
		"/var/run/netns/../../../proc/1/ns/net": true,
	} {
		pod, c := secPod(), secContainer()
		pod.Pid = 4242
		c.Linux.Namespaces[2].Path = p
		got := false
		for _, h := range HostNamespaces(pod, c) {
			got = got || h.Type == "network"
		}
		if got != want {
			t.Errorf("network namespace %q: host %v, want %v", p, got, want)
		}
	}
	// The sandbox's PID unknown (an older runtime): any other PID is taken
	// as the pod's, PID 1 still as the host's.
	pod, c := secPod(), secContainer()
	c.Linux.Namespaces[2].Path = "/proc/999/ns/net"
	if hs := HostNamespaces(pod, c); len(hs) != 0 {
		t.Errorf("sandbox PID unknown: %v", hs)
	}
	// A PID namespace may be a target container's (kubectl debug --target):
	// containerd joins it through that container's PID, not the sandbox's.
	pod, c = secPod(), secContainer()
	pod.Pid = 4242
	c.Linux.Namespaces[0] = &api.LinuxNamespace{Type: "pid", Path: "/proc/5150/ns/pid"}
	if hs := HostNamespaces(pod, c); len(hs) != 0 {
		t.Errorf("a target container's PID namespace: %v", hs)
	}
	// Two entries of one type: the host's if either is.
	pod, c = secPod(), secContainer()
	c.Linux.Namespaces = append(c.Linux.Namespaces, &api.LinuxNamespace{Type: "network", Path: "/proc/self/ns/net"})
	if hs := HostNamespaces(pod, c); len(hs) != 1 || hs[0].Type != "network" {
		t.Errorf("a second network entry joining the host's: %v", hs)
	}
}

func TestSecurityChecks(t *testing.T) {
	for name, tc := range map[string]struct {
		security string // the rule's security section, indented 6
		mutate   func(*api.PodSandbox, *api.Container)
		refuse   []string // substrings of the reason; nil: allowed
	}{
		"nonroot: uid 1000 passes": {
			security: "      runAsNonRoot: true\n",
		},
		"nonroot: uid 0 refused in the kubelet's words": {
			security: "      runAsNonRoot: true\n",
			mutate:   func(_ *api.PodSandbox, c *api.Container) { c.User.Uid = 0 },
			refuse: []string{`rule "sec": container has runAsNonRoot and image will run as root (pod: "team-a/web-0", container: app)`,
				"process uid 0 breaks non-root policy"},
		},
		"nonroot: gid 0 alone passes": {
			security: "      runAsNonRoot: true\n",
			mutate:   func(_ *api.PodSandbox, c *api.Container) { c.User.Gid = 0 },
		},
		"nonroot: unknown user cannot be verified": {
			security: "      runAsNonRoot: true\n",
			mutate:   func(_ *api.PodSandbox, c *api.Container) { c.User = nil },
			refuse:   []string{"cannot verify user is non-root"},
		},
		"nonroot: uid 0 in a user namespace refused by default": {
			security: "      runAsNonRoot: true\n",
			mutate:   podUserNamespace,
			refuse:   []string{"breaks non-root policy", "inside the container's user namespace", "rootInUserNamespace: allow"},
		},
		"nonroot: uid 0 in a user namespace admitted by rootInUserNamespace": {
			security: "      runAsNonRoot: true\n      rootInUserNamespace: allow\n",
			mutate:   podUserNamespace,
		},
		// Issue 17: joining the host's user namespace is not being in one.
		"nonroot: rootInUserNamespace does not admit the host's user namespace": {
			security: "      runAsNonRoot: true\n      rootInUserNamespace: allow\n",
			mutate: func(pod *api.PodSandbox, c *api.Container) {
				podUserNamespace(pod, c)
				c.Linux.Namespaces[len(c.Linux.Namespaces)-1].Path = "/proc/1/ns/user"
			},
			refuse: []string{"breaks non-root policy", "joins the host's user namespace (/proc/1/ns/user)"},
		},
		"nonroot: rootInUserNamespace does not admit runc's own user namespace": {
			security: "      runAsNonRoot: true\n      rootInUserNamespace: allow\n",
			mutate: func(pod *api.PodSandbox, c *api.Container) {
				podUserNamespace(pod, c)
				c.Linux.Namespaces[len(c.Linux.Namespaces)-1].Path = "/proc/self/ns/user"
			},
			refuse: []string{"breaks non-root policy", "joins the host's user namespace (/proc/self/ns/user)"},
		},
		"nonroot: rootInUserNamespace does not admit a sandbox without one": {
			security: "      runAsNonRoot: true\n      rootInUserNamespace: allow\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.User.Uid = 0
				c.Linux.Namespaces = append(c.Linux.Namespaces, &api.LinuxNamespace{Type: "user", Path: "/proc/4242/ns/user"})
			},
			refuse: []string{"breaks non-root policy", "joins the host's user namespace"},
		},
		"nonroot: rootInUserNamespace does not admit host root": {
			security: "      runAsNonRoot: true\n      rootInUserNamespace: allow\n",
			mutate:   func(_ *api.PodSandbox, c *api.Container) { c.User.Uid = 0 },
			refuse:   []string{"breaks non-root policy"},
		},
		"hostns: pod namespaces pass": {
			security: "      hostNamespaces: deny\n",
		},
		"hostns: shareProcessNamespace is the pod's, not the host's": {
			security: "      hostNamespaces: deny\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Namespaces[0] = &api.LinuxNamespace{Type: "pid", Path: "/proc/4242/ns/pid"}
			},
		},
		"hostns: hostNetwork as containerd reports it": {
			security: "      hostNamespaces: deny\n",
			mutate:   hostNetwork,
			refuse:   []string{`rule "sec": hostNamespaces: container shares the host's network namespace (hostNetwork)`},
		},
		"hostns: hostPID and hostIPC as containerd reports them": {
			security: "      hostNamespaces: deny\n",
			mutate: func(pod *api.PodSandbox, c *api.Container) {
				pod.Linux.Namespaces = []*api.LinuxNamespace{{Type: "uts"}, {Type: "mount"}, {Type: "network", Path: "/var/run/netns/cni-1234"}}
				c.Linux.Namespaces[0] = &api.LinuxNamespace{Type: "pid", Path: "/proc/4242/ns/pid"}
			},
			refuse: []string{"host's pid, ipc namespaces (hostPID, hostIPC)"},
		},
		"hostns: a namespace missing from the container's list is the host's": {
			security: "      hostNamespaces: deny\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Namespaces = c.Linux.Namespaces[:3] // no ipc, no uts
			},
			refuse: []string{"host's ipc namespace (hostIPC)"},
		},
		"hostns: joining PID 1's namespace is the host's": {
			security: "      hostNamespaces: deny\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Namespaces[2] = &api.LinuxNamespace{Type: "network", Path: "/proc/1/ns/net"}
			},
			refuse: []string{"network namespace (hostNetwork)"},
		},
		"hostns: allow lets hostNetwork through": {
			security: "      hostNamespaces: allow\n",
			mutate:   hostNetwork,
		},
		"hostpaths: the kubelet's and containerd's own mounts pass an allow list": {
			security: "      hostPaths: {allow: [\"/data/**\"], deny: [\"/**\"]}\n",
		},
		"hostpaths: denied source": {
			security: "      hostPaths: {deny: [\"/etc/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/host-etc", "/etc/ssl"))
			},
			refuse: []string{`hostPaths: mount /host-etc: host path /etc/ssl is denied by "/etc/**"`},
		},
		"hostpaths: a directory above a denied path": {
			security: "      hostPaths: {deny: [\"/etc/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/host-etc", "/etc"))
			},
			refuse: []string{`host path /etc contains paths denied by "/etc/**"`},
		},
		"hostpaths: the root exposes every denied path": {
			security: "      hostPaths: {deny: [\"/var/run/*.sock\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/host", "/"))
			},
			refuse: []string{`host path / contains paths denied by "/var/run/*.sock"`},
		},
		"hostpaths: a sibling of a denied glob passes": {
			security: "      hostPaths: {deny: [\"/var/run/*.sock\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/run-ctr", "/var/run/containerd"))
			},
		},
		"hostpaths: * stays in one segment": {
			security: "      hostPaths: {deny: [\"/var/run/*.sock\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/s", "/var/run/x/docker.sock"))
			},
		},
		"hostpaths: deny wins over allow": {
			security: "      hostPaths: {allow: [\"/srv/**\"], deny: [\"/srv/secret/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/s", "/srv/secret/keys"))
			},
			refuse: []string{`denied by "/srv/secret/**"`},
		},
		"hostpaths: outside a non-empty allow list": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/d", "/data"))
			},
			refuse: []string{"host path /data is not in the allowed host paths [/srv/**]"},
		},
		"hostpaths: an allowed directory itself": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/d", "/srv"), bindMount("/e", "/srv/a/b"))
			},
		},
		"hostpaths: another pod's kubelet directory is a host path": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/steal", "/var/lib/kubelet/pods/other-uid/volumes/kubernetes.io~secret/token"))
			},
			refuse: []string{"host path /var/lib/kubelet/pods/other-uid/volumes"},
		},
		"hostpaths: another sandbox's files are host paths": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/h", "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/ffff/hosts"))
			},
			refuse: []string{"sandboxes/ffff/hosts is not in the allowed host paths"},
		},
		"hostpaths: the source is cleaned before matching": {
			security: "      hostPaths: {deny: [\"/etc/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts = append(c.Mounts, bindMount("/x", "/srv/../etc/passwd"))
			},
			refuse: []string{`host path /etc/passwd is denied by "/etc/**"`},
		},
		"hostpaths: host IPC's /dev/shm is left to hostNamespaces": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(pod *api.PodSandbox, c *api.Container) {
				pod.Linux.Namespaces = []*api.LinuxNamespace{{Type: "pid"}, {Type: "uts"}, {Type: "mount"}, {Type: "network", Path: "/var/run/netns/cni-1234"}}
				c.Mounts[9] = bindMount("/dev/shm", "/dev/shm")
			},
		},
		"hostpaths: /dev/shm without host IPC is a host path": {
			security: "      hostPaths: {allow: [\"/srv/**\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Mounts[9] = bindMount("/dev/shm", "/dev/shm")
			},
			refuse: []string{"mount /dev/shm: host path /dev/shm is not in the allowed host paths"},
		},
		"devices: none passes": {
			security: "      devices: deny\n",
		},
		"devices: a device is refused": {
			security: "      devices: deny\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/xnull", Type: "c", Major: 1, Minor: 3}}
			},
			refuse: []string{"devices: device /dev/xnull (c 1:3) is denied (no allowedDevices)"},
		},
		"devices: allowed devices pass, others are named": {
			security: "      devices: deny\n      allowedDevices: [{path: \"/dev/nvidia*\", type: c, major: 195}, /dev/fuse]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/nvidia0", Type: "c", Major: 195}, {Path: "/dev/nvidia3", Type: "c", Major: 195, Minor: 3},
					{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}, {Path: "/dev/sda", Type: "b", Major: 8}}
			},
			refuse: []string{"device /dev/sda (b 8:0) is not in allowedDevices [/dev/nvidia* (c 195:*), /dev/fuse (c 10:229)]"},
		},
		// Issue 17: a device is what its type and numbers say, whatever
		// its path (runc makes the node from them).
		"devices: a disk under an allowed device's name is refused": {
			security: "      devices: deny\n      allowedDevices: [/dev/fuse]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "b", Major: 8}}
			},
			refuse: []string{"device /dev/fuse (b 8:0) is not in allowedDevices [/dev/fuse (c 10:229)]"},
		},
		"devices: another character device under an allowed glob is refused": {
			security: "      devices: deny\n      allowedDevices: [{path: \"/dev/nvidia*\", type: c, major: 195}]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/nvidia0", Type: "c", Major: 1, Minor: 1}} // /dev/mem
			},
			refuse: []string{"device /dev/nvidia0 (c 1:1) is not in allowedDevices [/dev/nvidia* (c 195:*)]"},
		},
		"devices: a given minor is required": {
			security: "      devices: deny\n      allowedDevices: [{path: /dev/dri/renderD128, type: c, major: 226, minor: 128}]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/dri/renderD128", Type: "c", Major: 226, Minor: 0}}
			},
			refuse: []string{"device /dev/dri/renderD128 (c 226:0) is not in allowedDevices [/dev/dri/renderD128 (c 226:128)]"},
		},
		"devices: an unbuffered character device is a character device": {
			security: "      devices: deny\n      allowedDevices: [/dev/fuse]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "u", Major: 10, Minor: 229}}
			},
		},
		"devices: the path is judged cleaned": {
			security: "      devices: deny\n      allowedDevices: [{path: \"/dev/nvidia*\", type: c, major: 195}]\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/nvidia0/../../etc/passwd", Type: "c", Major: 195}}
			},
			refuse: []string{"device /etc/passwd (c 195:0) is not in allowedDevices"},
		},
		"devices: allow lets devices through": {
			security: "      devices: allow\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
			},
		},
		"sysctls: the safe set by default": {
			security: "      sysctls: {}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"net.ipv4.ip_local_port_range": "1024 65000", "kernel/shm_rmid_forced": "1"}
			},
		},
		"sysctls: unsafe refused": {
			security: "      sysctls: {}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"kernel.msgmax": "65536", "net.ipv4.tcp_syncookies": "1"}
			},
			refuse: []string{"sysctls: kernel.msgmax is not an allowed sysctl"},
		},
		"sysctls: slashes are read as the kubelet reads them": {
			security: "      sysctls: {allow: [\"net.ipv4.conf.*\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"net/ipv4/conf/eth0.100/forwarding": "1", "kernel/msgmax": "1"}
			},
			refuse: []string{"sysctls: kernel.msgmax is not an allowed sysctl (allowed: [net.ipv4.conf.*])"},
		},
		// Issue 17: runc writes a sysctl to /proc/sys/<name with dots as
		// slashes>, so a ".." segment walks out of the allowed subtree.
		"sysctls: a name with path segments is not a sysctl": {
			security: "      sysctls: {allow: [\"net.ipv4.*\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"net.ipv4.conf/../../../kernel/core_pattern": "|/tmp/x"}
			},
			refuse: []string{`sysctls: "net.ipv4.conf/../../../kernel/core_pattern" is not a sysctl name: ".." is not a name segment`},
		},
		"sysctls: empty segments are not a sysctl": {
			security: "      sysctls: {allow: [\"net.*\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"net..ipv4.ip_forward": "1"}
			},
			refuse: []string{`sysctls: "net..ipv4.ip_forward" is not a sysctl name: empty segment`},
		},
		"sysctls: a clean name with a dot in an interface passes": {
			security: "      sysctls: {allow: [\"net.ipv4.conf.*\"]}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.Sysctl = map[string]string{"net.ipv4.conf.eth0/100.forwarding": "1", "net/ipv4/conf/eth1.7/rp_filter": "0"}
			},
		},
		"seccomp reject: unconfined refused": {
			security: "      seccomp: {unconfined: reject}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_UNCONFINED}
				c.Linux.SeccompPolicy = nil
			},
			refuse: []string{"seccomp: container runs without a seccomp profile (Unconfined)"},
		},
		"seccomp reject: no profile and no policy is unconfined": {
			security: "      seccomp: {unconfined: reject}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.SeccompProfile, c.Linux.SeccompPolicy = nil, nil
			},
			refuse: []string{"seccomp: container runs without a seccomp profile"},
		},
		"seccomp reject: runtime default passes": {
			security: "      seccomp: {unconfined: reject}\n",
		},
		"seccomp reject: localhost passes": {
			security: "      seccomp: {unconfined: reject}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_LOCALHOST, LocalhostRef: "profiles/a.json"}
			},
		},
		"seccomp reject: runtime default not applied (privileged) is left alone": {
			security: "      seccomp: {unconfined: reject}\n",
			mutate:   func(_ *api.PodSandbox, c *api.Container) { c.Linux.SeccompPolicy = nil },
		},
		"seccomp allow: unconfined passes": {
			security: "      seccomp: {unconfined: allow}\n",
			mutate: func(_ *api.PodSandbox, c *api.Container) {
				c.Linux.SeccompProfile, c.Linux.SeccompPolicy = nil, nil
			},
		},
	} {
		t.Run(name, func(t *testing.T) {
			p := mustPolicy(t, securityRule(tc.security))
			pod, c := secPod(), secContainer()
			if tc.mutate != nil {
				tc.mutate(pod, c)
			}
			d := Decide(p, &Request{Pod: pod, Container: c})
			if tc.refuse == nil {
				if !d.Allowed {
					t.Fatalf("refused: %s", d.Reason)
				}
				return
			}
			if d.Allowed {
				t.Fatalf("allowed; want a refusal mentioning %q", tc.refuse)
			}
			for _, w := range tc.refuse {
				if !strings.Contains(d.Reason, w) {
					t.Errorf("reason lacks %q:\n%s", w, d.Reason)
				}
			}
			if len(d.Refusals) != 1 {
				t.Errorf("refusals = %d, want one per failed check: %v", len(d.Refusals), d.Refusals)
			}
		})
	}
}

// Every check reports instead of refusing in audit mode, and changes
// nothing.
func TestSecurityAudit(t *testing.T) {
	p := mustPolicy(t, `  rules:
  - name: watch
    mode: audit
    security:
      runAsNonRoot: true
      hostNamespaces: deny
      hostPaths: {deny: ["/etc/**"]}
      devices: deny
      sysctls: {}
      seccomp: {unconfined: inject}
      maskedPaths: [/etc/shadow]
`)
	pod, c := secPod(), secContainer()
	hostNetwork(pod, c)
	c.User.Uid = 0
	c.Mounts = append(c.Mounts, bindMount("/e", "/etc"))
	c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
	c.Linux.Sysctl = map[string]string{"kernel.msgmax": "1"}
	c.Linux.SeccompProfile, c.Linux.SeccompPolicy = nil, nil
	d := Decide(p, &Request{Pod: pod, Container: c})
	if !d.Allowed {
		t.Fatalf("audit refused: %s", d.Reason)
	}
	if len(d.Adjustment.GetMounts()) != 0 || d.Adjustment.GetLinux().GetSeccompPolicy() != nil {
		t.Errorf("audit changed the container: %v", d.Adjustment)
	}
	v, _ := annotation(d, "specguard.io/violations")
	for _, want := range []string{"watch: container has runAsNonRoot and image will run as root", "hostNetwork",
		`contains paths denied by "/etc/**"`, "device /dev/sda", "kernel.msgmax",
		"would inject the runtime's default seccomp profile"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations lack %q:\n%s", want, v)
		}
	}
	if len(d.Violations) != 6 {
		t.Errorf("violations = %d, want 6: %v", len(d.Violations), d.Violations)
	}
	// The mask covers nothing of the container's: an addition.
	if len(d.Additions) != 1 || d.Additions[0].Message != "would mask /etc/shadow" {
		t.Errorf("additions = %v, want the mask of /etc/shadow", d.Additions)
	}
}

// testNode stands for the node's facts (facts.NewNode), with a profile of
// the runtime default's shape: pkg/facts tests containerd's own.
var testNode = &Node{Name: "node-1", RuntimeDefaultSeccomp: &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO",
	Architectures: []string{"SCMP_ARCH_X86_64"},
	Syscalls:      []*api.LinuxSyscall{{Names: []string{"read", "chroot"}, Action: "SCMP_ACT_ALLOW"}}}}

func TestSeccompInject(t *testing.T) {
	p := mustPolicy(t, securityRule("      seccomp: {unconfined: inject}\n")+`  - name: again
    security:
      seccomp: {unconfined: inject}
`)
	want := testNode.RuntimeDefaultSeccomp
	for name, tc := range map[string]struct {
		profile *api.SecurityProfile
		policy  *api.LinuxSeccomp
		inject  bool
	}{
		"unconfined":                        {&api.SecurityProfile{ProfileType: api.SecurityProfile_UNCONFINED}, nil, true},
		"no profile, no policy":             {nil, nil, true},
		"runtime default":                   {&api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT}, &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO"}, false},
		"localhost":                         {&api.SecurityProfile{ProfileType: api.SecurityProfile_LOCALHOST, LocalhostRef: "a.json"}, &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO"}, false},
		"no profile, a policy (path field)": {nil, &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_LOG"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			c := secContainer()
			c.Linux.SeccompProfile, c.Linux.SeccompPolicy = tc.profile, tc.policy
			d := Decide(p, &Request{Pod: secPod(), Container: c, Facts: Facts{Node: testNode}})
			if !d.Allowed {
				t.Fatalf("refused: %s", d.Reason)
			}
			got := d.Adjustment.GetLinux().GetSeccompPolicy()
			if !tc.inject {
				if got != nil {
					t.Errorf("injected a profile into a container that has one")
				}
				return
			}
			if got != want {
				t.Fatalf("injected profile is not the node's runtime default")
			}
			if rules, _ := annotation(d, "specguard.io/rules"); rules != "sec" {
				t.Errorf("rules = %q, want the first injecting rule only", rules)
			}
		})
	}

	// Without the node's profile the rule cannot inject it, and refuses.
	for name, node := range map[string]*Node{
		"no node facts": nil,
		"not built":     {SeccompErr: errors.New("no default profile on plan9/amd64")},
	} {
		d := Decide(p, &Request{Pod: secPod(), Container: unconfinedContainer(), Facts: Facts{Node: node}})
		if d.Allowed || !strings.Contains(d.Reason, `rule "sec": seccomp: cannot inject the runtime's default profile: `) {
			t.Errorf("%s: allowed=%v reason=%q, want a refusal saying why", name, d.Allowed, d.Reason)
		}
	}
}

func TestMaskedPaths(t *testing.T) {
	p := mustPolicy(t, securityRule(`      maskedPaths: [/etc/shadow, /sys/firmware, /srv/secrets/, /proc/kcore, /proc/meminfo]
`)+`  - name: again
    security:
      maskedPaths: [/etc/shadow]
`)
	d := Decide(p, &Request{Pod: secPod(), Container: secContainer()})
	if !d.Allowed {
		t.Fatal(d.Reason)
	}
	got := map[string]*api.Mount{}
	for _, m := range d.Adjustment.GetMounts() {
		if got[m.Destination] != nil {
			t.Errorf("%s mounted twice", m.Destination)
		}
		got[m.Destination] = m
	}
	file := func(dst string) {
		m := got[dst]
		if m == nil || m.Source != "/dev/null" || m.Type != "bind" || !has(m.Options, "ro") || has(m.Options, "nodev") {
			t.Errorf("%s: %v, want /dev/null bound read-only (without nodev)", dst, m)
		}
	}
	dir := func(dst string) {
		m := got[dst]
		if m == nil || m.Type != "tmpfs" || !has(m.Options, "ro") {
			t.Errorf("%s: %v, want a read-only tmpfs", dst, m)
		}
	}
	file("/etc/shadow")
	file("/proc/meminfo") // runc accepts mounts on the lxcfs files
	dir("/sys/firmware")
	dir("/srv/secrets")
	if m := got["/proc/kcore"]; m != nil {
		t.Errorf("/proc/kcore mounted (%v): runc refuses mounts under /proc", m)
	}
	if len(got) != 4 {
		t.Errorf("mounts = %v", got)
	}
	skipped := false
	for _, e := range d.Trace {
		skipped = skipped || (e.Field == "mounts[/proc/kcore]" && e.Action == "mask-skipped")
	}
	if !skipped {
		t.Errorf("no mask-skipped trace for /proc/kcore: %v", d.Trace)
	}
}

func has(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func TestGlobReachesBelow(t *testing.T) {
	for name, tc := range map[string]struct {
		pattern, dir string
		want         bool
	}{
		"parent of a literal":          {"/etc/shadow", "/etc", true},
		"root":                         {"/etc/shadow", "/", true},
		"the path itself is not below": {"/etc/shadow", "/etc/shadow", false},
		"sibling":                      {"/etc/shadow", "/var", false},
		"glob segment":                 {"/var/run/*.sock", "/var/run", true},
		"glob segment, wrong dir":      {"/var/run/*.sock", "/var/run/containerd", false},
		"double star":                  {"/var/**/docker.sock", "/var/lib/x/y", true},
		"double star at the end":       {"/etc/**", "/etc", true},
		"double star elsewhere":        {"/etc/**", "/usr", false},
		"leading double star":          {"**/id_rsa", "/home/u", true},
		"mixed double star":            {"/var/**.sock", "/var/lib", true},
		"question mark":                {"/d?v/sd*", "/dev", true},
	} {
		if got := globReachesBelow(tc.pattern, tc.dir); got != tc.want {
			t.Errorf("%s: globReachesBelow(%q, %q) = %v", name, tc.pattern, tc.dir, got)
		}
	}
}

func TestCheckSysctlName(t *testing.T) {
	for name, want := range map[string]string{ // "" for a clean name
		"net.ipv4.tcp_syncookies":                    "",
		"kernel/shm_rmid_forced":                     "",
		"net.ipv4.conf.eth0/100.forwarding":          "",
		"net/ipv4/conf/eth0.100/forwarding":          "",
		"net.ipv6.conf.all.disable_ipv6":             "",
		"net.ipv4.conf/../../../kernel/core_pattern": `".." is not a name segment`,
		"net/ipv4/../../kernel/core_pattern":         `".." is not a name segment`,
		"net.ipv4/./tcp_syncookies":                  `"." is not a name segment`,
		"net.ipv4./kernel":                           "empty segment",
		"net.ipv4.":                                  "empty segment",
		".net.ipv4":                                  "empty segment",
		"/kernel/core_pattern":                       "empty segment",
		"net.ipv4.conf.-x.forwarding":                `"-x" is not a name segment`,
		"kernel.Core_pattern":                        `"Core_pattern" is not a name segment`,
		"kernel.core pattern":                        `"core pattern" is not a name segment`,
		"kernel.core_pattern\x00":                    `is not a name segment`,
		"":                                           "empty",
		strings.Repeat("a", 254):                     "longer than 253",
	} {
		err := CheckSysctlName(name)
		switch {
		case want == "" && err != nil:
			t.Errorf("%q: %v", name, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%q: error %v, want %q", name, err, want)
		}
	}
}

func TestSysctlDotted(t *testing.T) {
	for in, want := range map[string]string{
		"net.ipv4.tcp_syncookies":           "net.ipv4.tcp_syncookies",
		"net/ipv4/conf/eth0.100/forwarding": "net.ipv4.conf.eth0/100.forwarding",
		"net.ipv4.conf.eth0/100.forwarding": "net.ipv4.conf.eth0/100.forwarding",
		"kernel":                            "kernel",
	} {
		if got := SysctlDotted(in); got != want {
			t.Errorf("SysctlDotted(%q) = %q, want %q", in, got, want)
		}
	}
}

// cleanPath skips path.Clean for paths already clean; it must agree with
// path.Clean on every path, clean or not.
func TestCleanPath(t *testing.T) {
	for _, p := range []string{
		"", "/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/..", "/.", "/a/..", "/a/.",
		"a", "a/b", "./a", "/var/lib/kubelet/pods/x/volumes", "/a/b/", "/.a/..b/...", "/a/.b", "/a/b.",
	} {
		if got, want := cleanPath(p), path.Clean(p); got != want {
			t.Errorf("cleanPath(%q) = %q, path.Clean = %q", p, got, want)
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, p := range []string{"/", "/a/../b", "/x//y/", "/var/lib/kubelet"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if got, want := cleanPath(p), path.Clean(p); got != want {
			t.Fatalf("cleanPath(%q) = %q, path.Clean = %q", p, got, want)
		}
	})
}

func TestRuntimeOwned(t *testing.T) {
	pod := &api.PodSandbox{Id: "sb1", Uid: "u1"}
	c := &api.Container{Id: "c1"}
	for src, want := range map[string]bool{
		"/var/lib/kubelet/pods/u1/volumes/x":                                     true,
		"/var/lib/kubelet/pods/u1":                                               false, // the pod's directory itself
		"/pods/u1/x":                                                             false, // not below some root
		"/var/lib/kubelet/pods/u12/volumes/x":                                    false,
		"/a/pods/other/pods/u1/x":                                                true, // a later occurrence counts
		"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/sb1/hosts":          true,
		"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/sb1/passwd":         false,
		"/run/containerd/io.containerd.grpc.v1.cri/sandboxes/sb12/hosts":         false,
		"/var/lib/containerd/io.containerd.grpc.v1.cri/containers/c1/volumes/v":  true,
		"/var/lib/containerd/io.containerd.grpc.v1.cri/containers/c1/rootfs":     false,
		"/var/lib/containerd/io.containerd.grpc.v1.cri/containers/c10/volumes/v": false,
		"/etc": false,
	} {
		if got := runtimeOwned(pod, c, src); got != want {
			t.Errorf("runtimeOwned(%q) = %v, want %v", src, got, want)
		}
	}
	// An identifier with a slash could smuggle a prefix: never owned.
	if runtimeOwned(&api.PodSandbox{Uid: "x/.."}, c, "/var/lib/kubelet/pods/x/../volumes/y") {
		t.Error("a uid with a slash matched")
	}
}
