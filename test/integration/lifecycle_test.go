package integration

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
)

func TestReconnectsAfterRuntimeRestart(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	p := r.startPlugin()
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	if _, _, err := r.create(pod, "app", nil); err != nil {
		t.Fatal(err)
	}
	r.restart()
	p.waitRegistered()
	// The restarted runtime still reports the container: the count continues.
	_, adj, err := r.create(pod, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != "1" {
		t.Fatalf("after runtime restart: restart-count = %q, want 1", got)
	}
	if !p.logSays("reconnecting", 1) {
		t.Errorf("no reconnect logged:\n%s", p.Logs())
	}
}

func TestSignalsExitZero(t *testing.T) {
	// Not parallel: the exit after each signal is bounded at 5 s.
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		r := newRuntime(t)
		p := r.startPlugin()
		p.signal(sig)
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: still running", sig)
		}
		if err := p.cmd.Wait(); err != nil {
			t.Fatalf("%v: exit: %v\n%s", sig, err, p.Logs())
		}
	}
}

func TestPolicyEnvAndHotReload(t *testing.T) {
	// Not parallel: it signals the plugin (SIGHUP), as the signal tests do, and bounds the reloads.
	r := newRuntime(t)
	path := writePolicy(t, r.dir, `  rules:
  - name: downward
    env:
    - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
    - {name: POD_LOG_PATH, value: "{{ .LogPath }}"}
`)
	p := r.startPlugin("--config", path)
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	_, adj, err := r.create(pod, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := envValue(adj, "RESTART_COUNT"); v != "0" {
		t.Fatalf("RESTART_COUNT = %q", v)
	}
	if v, _ := envValue(adj, "POD_LOG_PATH"); v != "/var/log/pods/shop_web-0_uid-1/app/0.log" {
		t.Fatalf("POD_LOG_PATH = %q", v)
	}
	if got := adj.GetAnnotations()["specguard.io/rules"]; got != "downward" {
		t.Fatalf("rules annotation = %q", got)
	}

	// An invalid policy is refused and the last good one stays.
	const failures, successes = `specguard_policy_reloads_total{result="failure"}`, `specguard_policy_reloads_total{result="success"}`
	if err := os.WriteFile(path, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: bad\n    resources: {memory: {limit: {max: lots}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, p, failures, 1, 10*time.Second)
	if !p.logSays("policy.yaml:6: spec.rules[0].resources.memory.limit.max", 1) {
		t.Errorf("reload error does not name file, line and field:\n%s", p.Logs())
	}
	if _, adj, _ := r.create(pod, "app", nil); !has(envValue(adj, "RESTART_COUNT")) {
		t.Fatal("last good policy not kept")
	}

	// A valid one, replaced atomically, takes effect.
	tmp := path + ".tmp"
	reloads := metric(t, p.metrics, successes)
	os.WriteFile(tmp, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: v2\n    env: [{name: VERSION, value: \"2\"}]\n"), 0o644)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, p, successes, reloads+1, 10*time.Second)
	_, adj, _ = r.create(pod, "app", nil)
	if v, _ := envValue(adj, "VERSION"); v != "2" || has(envValue(adj, "RESTART_COUNT")) {
		t.Fatalf("new policy not in force: %v", adj.GetEnv())
	}

	// SIGHUP reloads on demand.
	reloads = metric(t, p.metrics, successes)
	p.signal(syscall.SIGHUP)
	waitMetric(t, p, successes, reloads+1, 5*time.Second)
	if !p.logSays("policy reloaded", 2) {
		t.Errorf("the reloads are not logged:\n%s", p.Logs())
	}
}

func has(_ string, ok bool) bool { return ok }

// TestLaunchedByRuntime has the runtime half start specguard from its
// plugin directory, as containerd does: no arguments, a pre-connected
// socket, name and index in the environment, the policy from the plugin's
// configuration file.
func TestLaunchedByRuntime(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	plugins, confs := filepath.Join(dir, "plugins"), filepath.Join(dir, "conf")
	os.MkdirAll(plugins, 0o755)
	os.MkdirAll(confs, 0o755)
	bin, _ := os.ReadFile(specguardBin)
	if err := os.WriteFile(filepath.Join(plugins, "40-specguard"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(confs, "40-specguard.conf"), []byte(
		"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: from-conf\n    env: [{name: FROM, value: conf}]\n"), 0o644)
	r := &runtime{t: t, dir: dir, socket: filepath.Join(dir, "nri.sock"), inner: filepath.Join(dir, "rt.sock"),
		pods: map[string]*api.PodSandbox{}, ctrs: map[string]*api.Container{}}
	syncFn := func(ctx context.Context, cb adaptation.SyncCB) error { _, err := cb(ctx, nil, nil); return err }
	updateFn := func(context.Context, []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
		return nil, nil
	}
	nri, err := adaptation.New("containerd", "v2.4.2", syncFn, updateFn, adaptation.WithSocketPath(r.inner),
		adaptation.WithPluginPath(plugins), adaptation.WithPluginConfigPath(confs))
	if err != nil {
		t.Fatal(err)
	}
	if err := nri.Start(); err != nil {
		t.Fatal(err)
	}
	defer nri.Stop()
	r.nri = nri
	pod := r.addPod("web-0", "shop", "uid-1", nil)
	_, adj, err := r.create(pod, "app", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := envValue(adj, "FROM"); v != "conf" {
		t.Fatalf("FROM = %q: the runtime-launched plugin did not apply its config", v)
	}
	if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != "0" {
		t.Fatalf("restart-count = %q", got)
	}
}
