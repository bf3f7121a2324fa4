package integration

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

// otherPlugin is another NRI plugin, run in this process: it makes
// changes to containers whose name starts with "victim".
type otherPlugin struct {
	adjust func(*api.ContainerAdjustment)
}

func (o otherPlugin) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	adj := &api.ContainerAdjustment{}
	if strings.HasPrefix(c.GetName(), "victim") {
		o.adjust(adj)
	}
	return adj, nil, nil
}

// startOther connects another plugin as <idx>-<name> and waits until the
// runtime calls it.
func (r *runtime) startOther(name, idx string, adjust func(*api.ContainerAdjustment), registered func(*api.ContainerAdjustment) bool) {
	r.t.Helper()
	s, err := stub.New(otherPlugin{adjust}, stub.WithSocketPath(r.socket), stub.WithPluginName(name), stub.WithPluginIdx(idx))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Stop)
	pod := r.addPod("probe", "probe", "uid-probe-"+name, nil)
	var adj *api.ContainerAdjustment
	if !eventually(5*time.Second, func() bool {
		_, adj, err = r.create(pod, "victim-probe", nil)
		return err == nil && registered(adj)
	}) {
		r.t.Fatalf("plugin %s-%s did not register: %v %v", idx, name, adj, err)
	}
}

func addHook(adj *api.ContainerAdjustment) {
	adj.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: "/usr/local/bin/inject", Args: []string{"inject"}}}})
}

func addHostMount(adj *api.ContainerAdjustment) {
	adj.AddMount(&api.Mount{Destination: "/host-run", Source: "/run", Type: "bind", Options: []string{"rbind", "rw"}})
}

func addDevice(adj *api.ContainerAdjustment) {
	adj.AddDevice(&api.LinuxDevice{Path: "/dev/nvidia0", Type: "c", Major: 195, Minor: 0})
}

const validatorPolicy = `  validation:
    trustedPlugins: ["30-gpu-*"]
    denyHooks: true
    denyHostMounts: true
    denyDevices: true
    denySeccomp: true
    denyNamespaces: true
  rules:
  - name: harden
    match: {namespaces: [team-*]}
    security:
      seccomp: {unconfined: inject}
      maskedPaths: [/etc/shadow, /sys/firmware]
`

// specguard, as an NRI validator, refuses what other plugins do against
// the validation section, naming the plugin and the field; trusted
// plugins and specguard's own changes pass.
func TestValidatorThroughNRI(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	hasHook := func(adj *api.ContainerAdjustment) bool { return len(adj.GetHooks().GetPrestart()) > 0 }
	r.startOther("hooker", "10", addHook, hasHook)
	r.startOther("mounter", "20", addHostMount, func(adj *api.ContainerAdjustment) bool { return len(adj.GetMounts()) > 0 })
	r.startOther("gpu-plugin", "30", addDevice, func(adj *api.ContainerAdjustment) bool { return len(adj.GetLinux().GetDevices()) > 0 })
	p := r.startPlugin("--config", writePolicy(t, r.dir, validatorPolicy))

	pod := r.addPod("web-0", "team-a", "uid-val", nil)
	_, _, err := r.create(pod, "victim", func(c *api.Container) { c.Linux.SeccompProfile = nil })
	if err == nil {
		t.Fatalf("created; want the validator to refuse\n%s", p.Logs())
	}
	t.Logf("refused: %v", err)
	for _, want := range []string{
		`validator "90-specguard" rejected container adjustment, reason: specguard refused the NRI adjustments to container victim of pod team-a/web-0: `,
		`plugin "10-hooker" adds OCI hooks (prestart /usr/local/bin/inject) (hooks, validation.denyHooks)`,
		`plugin "20-mounter" mounts host path /run (mounts[/host-run], validation.denyHostMounts)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal lacks %q", want)
		}
	}
	_, findings, _ := strings.Cut(err.Error(), "reason: ")
	for _, trusted := range []string{"gpu-plugin", "90-specguard", "/etc/shadow", "seccomp"} {
		if strings.Contains(findings, trusted) {
			t.Errorf("refusal names %q, which is trusted or specguard's own", trusted)
		}
	}
	if !p.logSays("another plugin's adjustment breaks the validation policy", 1) {
		t.Errorf("no log line for the refusal:\n%s", p.Logs())
	}

	// A container the untrusted plugins leave alone gets specguard's own
	// changes and the trusted plugin's device through the validator.
	_, adj, err := r.create(pod, "app", func(c *api.Container) { c.Linux.SeccompProfile = nil })
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if adj.GetLinux().GetSeccompPolicy() == nil || len(adj.GetMounts()) != 2 {
		t.Errorf("adjustment = %v, want specguard's profile and masks", adj)
	}
}

// In audit mode the validator logs what it would refuse and lets the
// container through; without a validation section specguard is not a
// validator at all.
func TestValidatorAuditAndAbsent(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		spec, wantLog string
	}{
		"audit":                 {"  validation: {mode: audit, denyHooks: true}\n", "validation findings (audit mode)"},
		"no validation section": {"  mode: enforce\n", ""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRuntime(t)
			r.startOther("hooker", "10", addHook, func(adj *api.ContainerAdjustment) bool { return len(adj.GetHooks().GetPrestart()) > 0 })
			p := r.startPlugin("--config", writePolicy(t, r.dir, tc.spec))
			pod := r.addPod("web-0", "team-a", "uid-"+name, nil)
			_, adj, err := r.create(pod, "victim", nil)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if len(adj.GetHooks().GetPrestart()) != 1 {
				t.Errorf("hooks = %v", adj.GetHooks())
			}
			said := tc.wantLog != "" && p.logSays(tc.wantLog, 1)
			logs := p.Logs()
			if tc.wantLog != "" && (!said || !strings.Contains(logs, "10-hooker")) {
				t.Errorf("logs lack %q naming 10-hooker:\n%s", tc.wantLog, logs)
			}
			if tc.wantLog == "" && strings.Contains(logs, "validation") {
				t.Errorf("specguard validated without a validation section:\n%s", logs)
			}
		})
	}
}
