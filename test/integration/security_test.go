package integration

import (
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

const securityPolicy = `  rules:
  - name: non-root
    match: {namespaces: [sec-nonroot]}
    security: {runAsNonRoot: true}
  - name: userns-root
    match: {namespaces: [sec-userns]}
    security: {runAsNonRoot: true, rootInUserNamespace: allow}
  - name: no-host-namespaces
    match: {namespaces: [sec-hostns]}
    security: {hostNamespaces: deny}
  - name: host-paths
    match: {namespaces: [sec-hostpath]}
    security:
      hostPaths: {allow: ["/srv/**"], deny: ["/srv/secret/**"]}
  - name: no-devices
    match: {namespaces: [sec-devices]}
    security: {devices: deny, allowedDevices: [/dev/fuse]}
  - name: safe-sysctls
    match: {namespaces: [sec-sysctls]}
    security: {sysctls: {}}
  - name: seccomp-inject
    match: {namespaces: [sec-seccomp]}
    security: {seccomp: {unconfined: inject}}
  - name: seccomp-reject
    match: {namespaces: [sec-seccomp-reject]}
    security: {seccomp: {unconfined: reject}}
  - name: masks
    match: {namespaces: [sec-mask]}
    security:
      maskedPaths: [/etc/shadow, /sys/firmware, /srv/private/, /proc/kcore]
  - name: watch
    mode: audit
    match: {namespaces: [sec-audit]}
    security:
      runAsNonRoot: true
      hostNamespaces: deny
      hostPaths: {deny: ["/etc/**"]}
      devices: deny
      sysctls: {}
      seccomp: {unconfined: inject}
      maskedPaths: [/etc/shadow]
`

// criPod gives a pod the namespaces containerd reports for its sandbox:
// a CNI network namespace and its own PID, IPC, UTS and mount namespaces,
// or none of its own network namespace for hostNetwork.
func criPod(pod *api.PodSandbox, hostNetwork bool) *api.PodSandbox {
	ns := []*api.LinuxNamespace{{Type: "pid"}, {Type: "ipc"}, {Type: "uts"}, {Type: "mount"}}
	if !hostNetwork {
		ns = append(ns, &api.LinuxNamespace{Type: "network", Path: "/var/run/netns/cni-" + pod.Id})
	}
	pod.Linux = &api.LinuxPodSandbox{Namespaces: ns}
	return pod
}

// criContainer shapes a container as containerd's CRI does before NRI sees
// it: it joins its sandbox's network, IPC and UTS namespaces by path, has
// the kubelet's and containerd's mounts, runs as uid 1000 and has the
// runtime's default seccomp profile.
func criContainer(pod *api.PodSandbox) func(*api.Container) {
	return func(c *api.Container) {
		kubelet := "/var/lib/kubelet/pods/" + pod.Uid
		cri := "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + pod.Id
		bind := func(dst, src string) *api.Mount {
			return &api.Mount{Destination: dst, Source: src, Type: "bind", Options: []string{"rbind", "rprivate", "rw"}}
		}
		c.User = &api.User{Uid: 1000, Gid: 1000}
		c.Mounts = []*api.Mount{
			{Destination: "/proc", Source: "proc", Type: "proc"},
			{Destination: "/sys", Source: "sysfs", Type: "sysfs", Options: []string{"ro"}},
			bind("/etc/hosts", kubelet+"/etc-hosts"),
			bind("/dev/termination-log", kubelet+"/containers/"+c.Name+"/0a1b2c3d"),
			bind("/var/run/secrets/kubernetes.io/serviceaccount", kubelet+"/volumes/kubernetes.io~projected/kube-api-access-abcde"),
			bind("/etc/hostname", cri+"/hostname"),
			bind("/etc/resolv.conf", cri+"/resolv.conf"),
			bind("/dev/shm", "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/"+pod.Id+"/shm"),
		}
		c.Linux.Namespaces = []*api.LinuxNamespace{{Type: "pid"}, {Type: "mount"},
			{Type: "network", Path: "/proc/4242/ns/net"}, {Type: "ipc", Path: "/proc/4242/ns/ipc"}, {Type: "uts", Path: "/proc/4242/ns/uts"}}
		c.Linux.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_RUNTIME_DEFAULT}
		c.Linux.SeccompPolicy = &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO", Syscalls: []*api.LinuxSyscall{{Names: []string{"read"}, Action: "SCMP_ACT_ALLOW"}}}
	}
}

func unconfined(c *api.Container) {
	c.Linux.SeccompProfile = &api.SecurityProfile{ProfileType: api.SecurityProfile_UNCONFINED}
	c.Linux.SeccompPolicy = nil
}

func TestSecurityThroughNRI(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	p := r.startPlugin("--config", writePolicy(t, r.dir, securityPolicy))

	// try creates a CRI-shaped container in a fresh pod of namespace ns,
	// with change applied on top.
	try := func(ns string, hostNetwork bool, change func(*api.Container)) (*api.ContainerAdjustment, error) {
		pod := criPod(r.addPod("p", ns, "uid-"+ns+"-"+strconv.Itoa(len(r.pods)), nil), hostNetwork)
		_, adj, err := r.create(pod, "app", func(c *api.Container) {
			criContainer(pod)(c)
			if change != nil {
				change(c)
			}
			// A container in a user namespace is a hostUsers: false pod's,
			// whose sandbox containerd gives a user namespace of its own.
			for _, n := range c.Linux.Namespaces {
				if n.Type == "user" {
					pod.Linux.Namespaces = append(pod.Linux.Namespaces, &api.LinuxNamespace{Type: "user"})
					break
				}
			}
		})
		return adj, err
	}
	refused := func(t *testing.T, err error, want ...string) {
		t.Helper()
		if err == nil {
			t.Fatalf("created; want a refusal mentioning %q", want)
		}
		t.Logf("refused: %v", err)
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("refusal lacks %q:\n%v", w, err)
			}
		}
	}
	allowed := func(t *testing.T, ns string, hostNetwork bool, change func(*api.Container)) *api.ContainerAdjustment {
		t.Helper()
		adj, err := try(ns, hostNetwork, change)
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return adj
	}

	t.Run("runAsNonRoot", func(t *testing.T) {
		allowed(t, "sec-nonroot", false, nil)
		_, err := try("sec-nonroot", false, func(c *api.Container) { c.User.Uid = 0 })
		refused(t, err, `specguard refused container app of pod sec-nonroot/p: rule "non-root": `+
			`container has runAsNonRoot and image will run as root (pod: "sec-nonroot/p", container: app): process uid 0 breaks non-root policy`)
		userns := func(c *api.Container) {
			c.User.Uid = 0
			c.Linux.Namespaces = append(c.Linux.Namespaces, &api.LinuxNamespace{Type: "user", Path: "/proc/4242/ns/user"})
		}
		_, err = try("sec-nonroot", false, userns)
		refused(t, err, "inside the container's user namespace")
		allowed(t, "sec-userns", false, userns)
		// The host's user namespace joined by path is not one of the pod's.
		_, err = try("sec-userns", false, func(c *api.Container) {
			userns(c)
			c.Linux.Namespaces[len(c.Linux.Namespaces)-1].Path = "/proc/1/ns/user"
		})
		refused(t, err, "joins the host's user namespace (/proc/1/ns/user), so uid 0 is the host's root")
	})
	t.Run("hostNamespaces", func(t *testing.T) {
		allowed(t, "sec-hostns", false, nil)
		_, err := try("sec-hostns", true, nil)
		refused(t, err, `rule "no-host-namespaces": hostNamespaces: container shares the host's network namespace (hostNetwork)`)
		_, err = try("sec-hostns", false, func(c *api.Container) { c.Linux.Namespaces = c.Linux.Namespaces[:3] })
		refused(t, err, "host's ipc namespace (hostIPC)")
		// runc's own network namespace is the host's, however spelled.
		_, err = try("sec-hostns", false, func(c *api.Container) { c.Linux.Namespaces[2].Path = "/proc/./self/ns/net" })
		refused(t, err, "host's network namespace (hostNetwork)")
	})
	t.Run("hostPaths", func(t *testing.T) {
		allowed(t, "sec-hostpath", false, func(c *api.Container) {
			c.Mounts = append(c.Mounts, &api.Mount{Destination: "/srv", Source: "/srv/shared", Type: "bind", Options: []string{"rbind", "ro"}})
		})
		_, err := try("sec-hostpath", false, func(c *api.Container) {
			c.Mounts = append(c.Mounts, &api.Mount{Destination: "/keys", Source: "/srv/secret/keys", Type: "bind", Options: []string{"rbind", "ro"}})
		})
		refused(t, err, `rule "host-paths": hostPaths: mount /keys: host path /srv/secret/keys is denied by "/srv/secret/**"`)
		_, err = try("sec-hostpath", false, func(c *api.Container) {
			c.Mounts = append(c.Mounts, &api.Mount{Destination: "/host", Source: "/srv", Type: "bind", Options: []string{"rbind"}})
		})
		refused(t, err, `host path /srv contains paths denied by "/srv/secret/**"`)
		_, err = try("sec-hostpath", false, func(c *api.Container) {
			c.Mounts = append(c.Mounts, &api.Mount{Destination: "/sock", Source: "/run/containerd/containerd.sock", Type: "bind", Options: []string{"rbind"}})
		})
		refused(t, err, "host path /run/containerd/containerd.sock is not in the allowed host paths [/srv/**]")
	})
	t.Run("devices", func(t *testing.T) {
		allowed(t, "sec-devices", false, func(c *api.Container) {
			c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229}}
		})
		_, err := try("sec-devices", false, func(c *api.Container) {
			c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/xnull", Type: "c", Major: 1, Minor: 3}}
		})
		refused(t, err, `rule "no-devices": devices: device /dev/xnull (c 1:3) is not in allowedDevices [/dev/fuse (c 10:229)]`)
		// A disk under the allowed name is what its numbers say it is.
		_, err = try("sec-devices", false, func(c *api.Container) {
			c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/fuse", Type: "b", Major: 8, Minor: 0}}
		})
		refused(t, err, `rule "no-devices": devices: device /dev/fuse (b 8:0) is not in allowedDevices [/dev/fuse (c 10:229)]`)
	})
	t.Run("sysctls", func(t *testing.T) {
		allowed(t, "sec-sysctls", false, func(c *api.Container) {
			c.Linux.Sysctl = map[string]string{"net.ipv4.ip_unprivileged_port_start": "80"}
		})
		_, err := try("sec-sysctls", false, func(c *api.Container) {
			c.Linux.Sysctl = map[string]string{"kernel.sem": "250 32000 100 128"}
		})
		refused(t, err, `rule "safe-sysctls": sysctls: kernel.sem is not an allowed sysctl`)
	})
	t.Run("seccomp", func(t *testing.T) {
		adj := allowed(t, "sec-seccomp", false, unconfined)
		sp := adj.GetLinux().GetSeccompPolicy()
		if sp.GetDefaultAction() != "SCMP_ACT_ERRNO" || len(sp.GetSyscalls()) < 10 {
			t.Errorf("injected seccomp policy = %v, want containerd's default profile", sp)
		}
		if rules := adj.GetAnnotations()["specguard.io/rules"]; rules != "seccomp-inject" {
			t.Errorf("rules = %q", rules)
		}
		adj = allowed(t, "sec-seccomp", false, nil)
		if adj.GetLinux().GetSeccompPolicy() != nil {
			t.Errorf("a RuntimeDefault container got a profile injected")
		}
		allowed(t, "sec-seccomp-reject", false, nil)
		_, err := try("sec-seccomp-reject", false, unconfined)
		refused(t, err, `rule "seccomp-reject": seccomp: container runs without a seccomp profile (Unconfined)`)
	})
	t.Run("maskedPaths", func(t *testing.T) {
		adj := allowed(t, "sec-mask", false, nil)
		got := map[string]string{}
		for _, m := range adj.GetMounts() {
			got[m.Destination] = m.Type + " " + m.Source + " " + strings.Join(m.Options, ",")
		}
		want := map[string]string{
			"/etc/shadow":   "bind /dev/null bind,ro,nosuid,noexec",
			"/sys/firmware": "tmpfs tmpfs ro,nosuid,nodev,noexec,mode=0555",
			"/srv/private":  "tmpfs tmpfs ro,nosuid,nodev,noexec,mode=0555",
		}
		if len(got) != len(want) {
			t.Errorf("mounts = %v, want %v (no mount under /proc: runc refuses it)", got, want)
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("mount %s = %q, want %q", k, got[k], v)
			}
		}
	})
	t.Run("audit reports every check and changes nothing", func(t *testing.T) {
		adj := allowed(t, "sec-audit", true, func(c *api.Container) {
			unconfined(c)
			c.User.Uid = 0
			c.Mounts = append(c.Mounts, &api.Mount{Destination: "/e", Source: "/etc", Type: "bind", Options: []string{"rbind"}})
			c.Linux.Devices = []*api.LinuxDevice{{Path: "/dev/sda", Type: "b", Major: 8}}
			c.Linux.Sysctl = map[string]string{"kernel.msgmax": "1"}
		})
		if len(adj.GetMounts()) != 0 || adj.GetLinux().GetSeccompPolicy() != nil {
			t.Errorf("audit changed the container: %v", adj)
		}
		v := adj.GetAnnotations()["specguard.io/violations"]
		for _, want := range []string{"watch: container has runAsNonRoot", "watch: hostNamespaces:", "watch: hostPaths:",
			"watch: devices:", "watch: sysctls:", "watch: would inject"} {
			if !strings.Contains(v, want) {
				t.Errorf("violations lack %q:\n%s", want, v)
			}
		}
		// The mask covers nothing of the container's: an addition.
		if strings.Contains(v, "would mask") {
			t.Errorf("an addition (would mask) reached the violations:\n%s", v)
		}
	})
	if t.Failed() {
		t.Logf("specguard logs:\n%s", p.Logs())
	}
}
