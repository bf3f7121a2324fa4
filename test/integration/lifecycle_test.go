package integration

import (
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestReconnectsAfterRuntimeRestart(t *testing.T) {
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
	if !strings.Contains(p.Logs(), "reconnecting") {
		t.Errorf("no reconnect logged:\n%s", p.Logs())
	}
}

func TestSignalsExitZero(t *testing.T) {
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
	if err := os.WriteFile(path, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: bad\n    resources: {memory: {limit: {max: lots}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "policy reload refused")
	if !strings.Contains(p.Logs(), "policy.yaml:6: spec.rules[0].resources.memory.limit.max") {
		t.Errorf("reload error does not name file, line and field:\n%s", p.Logs())
	}
	if _, adj, _ := r.create(pod, "app", nil); !has(envValue(adj, "RESTART_COUNT")) {
		t.Fatal("last good policy not kept")
	}

	// A valid one, replaced atomically, takes effect.
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: v2\n    env: [{name: VERSION, value: \"2\"}]\n"), 0o644)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	waitLog(t, p, "policy reloaded")
	_, adj, _ = r.create(pod, "app", nil)
	if v, _ := envValue(adj, "VERSION"); v != "2" || has(envValue(adj, "RESTART_COUNT")) {
		t.Fatalf("new policy not in force: %v", adj.GetEnv())
	}

	// SIGHUP reloads on demand.
	before := strings.Count(p.Logs(), "policy reloaded")
	p.signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for strings.Count(p.Logs(), "policy reloaded") == before {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload:\n%s", p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func has(_ string, ok bool) bool { return ok }

func waitLog(t *testing.T, p *plugin, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Logs(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("log never said %q:\n%s", s, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
