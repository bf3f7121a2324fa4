package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/specguard/specguard/test/e2e/harness"
)

const hostAccessPolicy = metadataPolicy + `  validation:
    denyDevices: true
    denyHostMounts: true
  rules:
    - name: no-host-access
      match: {namespaces: ["e2e-hostaccess"]}
      security:
        devices: deny
        hostPaths: {deny: ["/etc/**"]}
    - name: host-paths-only
      match: {namespaces: ["e2e-hostpaths-only"]}
      security:
        hostPaths: {deny: ["/etc/**"]}
`

// nriPeer is another NRI plugin, run in the test process: it records the
// container each CreateContainer shows it (the runtime's NRI view, before
// specguard at 90 if its index is lower) and makes the change named for
// containers whose name starts with its prefix.
type nriPeer struct {
	prefix  string
	changes map[string]func(*api.ContainerAdjustment)

	mu   sync.Mutex
	seen map[string]*api.Container
}

func (p *nriPeer) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	p.mu.Lock()
	p.seen[c.GetName()] = c
	p.mu.Unlock()
	adj := &api.ContainerAdjustment{}
	if change, ok := p.changes[strings.TrimPrefix(c.GetName(), p.prefix)]; ok && strings.HasPrefix(c.GetName(), p.prefix) {
		change(adj)
	}
	return adj, nil, nil
}

func (p *nriPeer) view(name string) *api.Container {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[name]
}

// startPeer connects p to the stack's NRI socket as <idx>-<name> and waits
// until the runtime calls it.
func startPeer(t *testing.T, s *harness.Stack, p *nriPeer, name, idx string) {
	t.Helper()
	p.seen = map[string]*api.Container{}
	st, err := stub.New(p, stub.WithSocketPath(s.NRISocket()), stub.WithPluginName(name), stub.WithPluginIdx(idx))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatalf("starting NRI plugin %s-%s: %v", idx, name, err)
	}
	t.Cleanup(st.Stop)
	podID, pod := runPod(t, s, harness.Pod{Name: "peer-probe-" + idx, Namespace: "e2e-probe"})
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		probe := "probe-" + itoa(i)
		if _, err := s.CreateContainer(podID, s.ContainerConfig(pod, harness.Container{Name: probe}), pod); err != nil {
			t.Fatalf("probe container: %v", err)
		}
		if p.view(probe) != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("NRI plugin %s-%s was not called within 10s", idx, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func privilegedPod(p harness.Pod, s *harness.Stack) map[string]any {
	cfg := s.PodConfig(p)
	cfg["linux"].(map[string]any)["security_context"].(map[string]any)["privileged"] = true
	return cfg
}

func deviceRules(c *api.Container) []string {
	var out []string
	for _, d := range c.GetLinux().GetResources().GetDevices() {
		b, _ := json.Marshal(d)
		out = append(out, string(b))
	}
	return out
}

func mountList(c *api.Container) []string {
	var out []string
	for _, m := range c.GetMounts() {
		out = append(out, m.GetType()+" "+m.GetSource()+" "+m.GetDestination()+" "+strings.Join(m.GetOptions(), ","))
	}
	return out
}

// Device cgroup rules and kernel filesystems on a real containerd: what
// the runtime itself puts in an ordinary and a privileged container's NRI
// view passes (the privileged one where the rule allows devices), and a
// plugin's "b 8:* rwm" before specguard, or debugfs after it, is refused.
func TestHostAccess(t *testing.T) {
	s := newStack(t, stackOptions{})
	startPlugin(t, s, hostAccessPolicy)
	early := &nriPeer{prefix: "early-", changes: map[string]func(*api.ContainerAdjustment){
		"blockdev": func(adj *api.ContainerAdjustment) {
			adj.Linux = &api.LinuxContainerAdjustment{Resources: &api.LinuxResources{Devices: []*api.LinuxDeviceCgroup{
				{Allow: true, Type: "b", Major: api.Int64(int64(8)), Access: "rwm"}}}}
		},
	}}
	late := &nriPeer{prefix: "late-", changes: map[string]func(*api.ContainerAdjustment){
		"debugfs": func(adj *api.ContainerAdjustment) {
			adj.AddMount(&api.Mount{Destination: "/sys/kernel/debug", Type: "debugfs", Source: "debugfs", Options: []string{"rw"}})
		},
	}}
	startPeer(t, s, early, "hostile-early", "10")
	startPeer(t, s, late, "hostile-late", "95")

	// refused creates name in a fresh pod (privileged or not) of ns and
	// expects a refusal containing all of want.
	refused := func(t *testing.T, ns, name string, priv bool, want ...string) {
		t.Helper()
		p := harness.Pod{Name: "p-" + name, Namespace: ns}
		pod := s.PodConfig(p)
		c := harness.Container{Name: name}
		if priv {
			pod = privilegedPod(p, s)
			c.SecurityContext = map[string]any{"privileged": true}
		}
		podID, err := s.RunPod(pod)
		if err != nil {
			t.Fatalf("runp: %v", err)
		}
		_, err = s.CreateContainer(podID, s.ContainerConfig(pod, c), pod)
		if err == nil {
			t.Fatalf("container %s in %s created; want a refusal mentioning %q", name, ns, want)
		}
		// crictl prints containerd's error inside a quoted log field.
		msg := strings.ReplaceAll(lastLine(crictlErr(err)), `\"`, `"`)
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("refusal does not mention %q: %s", w, msg)
			}
		}
		if len(msg) > 600 { // a privileged container's: one part per host device
			msg = msg[:300] + " ... " + msg[len(msg)-300:]
		}
		t.Logf("refused: %s", msg)
	}

	t.Run("ordinary container", func(t *testing.T) {
		podID, pod := runPod(t, s, harness.Pod{Name: "plain", Namespace: "e2e-hostaccess"})
		runContainer(t, s, podID, pod, harness.Container{Name: "plain"})
		v := early.view("plain")
		t.Logf("NRI view of an ordinary container: device rules %v; mounts %v", deviceRules(v), mountList(v))
		// containerd's CRI denies every device and lists no default allow
		// rule: runc adds its own defaults when it starts the container.
		rules := v.GetLinux().GetResources().GetDevices()
		if len(rules) != 1 || rules[0].GetAllow() || rules[0].GetType() != "" || rules[0].GetMajor() != nil ||
			rules[0].GetMinor() != nil || rules[0].GetAccess() != "rwm" {
			t.Errorf("device rules = %v, want only deny a *:* rwm", deviceRules(v))
		}
		wantFS := map[string]string{"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/mqueue": "mqueue",
			"/sys": "sysfs", "/sys/fs/cgroup": "cgroup"}
		for _, m := range v.GetMounts() {
			if m.GetType() == "bind" {
				continue
			}
			if wantFS[m.GetDestination()] != m.GetType() {
				t.Errorf("unexpected filesystem %s at %s", m.GetType(), m.GetDestination())
			}
			delete(wantFS, m.GetDestination())
			if (m.GetType() == "sysfs" || m.GetType() == "cgroup") && !slices.Contains(m.GetOptions(), "ro") {
				t.Errorf("%s at %s is not read-only: %v", m.GetType(), m.GetDestination(), m.GetOptions())
			}
		}
		if len(wantFS) > 0 {
			t.Errorf("filesystems missing from the NRI view: %v", wantFS)
		}
	})
	t.Run("privileged container where devices are allowed", func(t *testing.T) {
		pod := privilegedPod(harness.Pod{Name: "priv", Namespace: "e2e-hostpaths-only"}, s)
		podID, err := s.RunPod(pod)
		if err != nil {
			t.Fatalf("runp: %v", err)
		}
		runContainer(t, s, podID, pod, harness.Container{Name: "priv", SecurityContext: map[string]any{"privileged": true}})
		v := early.view("priv")
		t.Logf("NRI view of a privileged container: %d device nodes; device rules %v; mounts %v",
			len(v.GetLinux().GetDevices()), deviceRules(v), mountList(v))
		rules := v.GetLinux().GetResources().GetDevices()
		if len(rules) != 1 || !rules[0].GetAllow() || rules[0].GetType() != "" || rules[0].GetMajor() != nil || rules[0].GetAccess() != "rwm" {
			t.Errorf("device rules = %v, want only allow a *:* rwm", deviceRules(v))
		}
		for _, m := range v.GetMounts() {
			if (m.GetType() == "sysfs" || m.GetType() == "cgroup") && !slices.Contains(m.GetOptions(), "rw") {
				t.Errorf("%s at %s is not read-write: %v", m.GetType(), m.GetDestination(), m.GetOptions())
			}
		}
	})
	t.Run("privileged container where devices are denied", func(t *testing.T) {
		refused(t, "e2e-hostaccess", "priv", true,
			`rule "no-host-access": devices: device cgroup rule "a *:* rwm" allows host devices (no allowedDevices)`)
	})
	t.Run("b 8:* rwm from a plugin before specguard", func(t *testing.T) {
		refused(t, "e2e-hostaccess", "early-blockdev", false,
			`specguard refused container early-blockdev of pod e2e-hostaccess/p-early-blockdev: `+
				`rule "no-host-access": devices: device cgroup rule "b 8:* rwm" allows host devices (no allowedDevices)`)
	})
	t.Run("debugfs from a plugin after specguard", func(t *testing.T) {
		refused(t, "e2e-hostaccess", "late-debugfs", false,
			`validator "90-specguard" rejected container adjustment`,
			`plugin "95-hostile-late" mounts debugfs, which exposes the host kernel's debug interface (mounts[/sys/kernel/debug], validation.denyHostMounts)`)
	})
}
