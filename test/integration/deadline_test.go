package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	validator "github.com/containerd/nri/plugins/default-validator/builtin"
)

// Fail-closed as deploy/containerd/fail-closed.toml configures containerd:
// the runtime's default validator requires specguard, so containers are
// refused while specguard is absent, admitted while it runs, and refused
// again once it dies. (specguard's own per-request deadline and
// failurePolicy are tested in plugin/deadline_test.go, where the engine
// can be slowed down.)
func TestFailClosedThroughNRI(t *testing.T) {
	r := newRuntimeWith(t, adaptation.WithDefaultValidator(&validator.DefaultValidatorConfig{
		Enable: true, RequiredPlugins: []string{"specguard"},
	}))
	pod := r.addPod("web-0", "team-a", "uid-fc", nil)
	const absent = `validator "00-default-validator" rejected container adjustment, reason: validation error: required plugin "specguard" not present`

	if _, _, err := r.create(pod, "before", nil); err == nil || !strings.Contains(err.Error(), absent) {
		t.Fatalf("without specguard: err = %v, want %q", err, absent)
	}

	p := r.startPlugin()
	_, adj, err := r.create(pod, "during", nil)
	if err != nil {
		t.Fatalf("with specguard: %v\n%s", err, p.Logs())
	}
	if adj.GetAnnotations()["specguard.io/restart-count"] != "0" {
		t.Errorf("with specguard: annotations = %v", adj.GetAnnotations())
	}

	// A crash: the runtime notices the closed connection, and from then on
	// every container is refused.
	p.kill()
	deadline := time.Now().Add(5 * time.Second)
	window := 0
	for {
		_, _, err := r.create(pod, "after-"+strconv.Itoa(window), nil)
		if err != nil {
			if !strings.Contains(err.Error(), absent) {
				t.Fatalf("after the crash: err = %v, want %q", err, absent)
			}
			break
		}
		window++
		if time.Now().After(deadline) {
			t.Fatalf("containers still admitted 5s after specguard died (%d admitted)", window)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if window > 0 {
		t.Logf("%d container(s) admitted between the crash and the runtime noticing it", window)
	}
	for i := 0; i < 3; i++ {
		if _, _, err := r.create(pod, "later-"+strconv.Itoa(i), nil); err == nil {
			t.Fatal("a container was admitted after the runtime noticed specguard was gone")
		}
	}
}
