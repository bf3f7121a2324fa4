package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	validator "github.com/containerd/nri/plugins/default-validator/builtin"

	"github.com/specguard/specguard/pkg/engine"
)

// Fail-closed as deploy/containerd/fail-closed.toml configures containerd:
// the runtime's default validator requires specguard, so containers are
// refused while specguard is absent, admitted while it runs, and refused
// again once it dies. (specguard's own per-request deadline and
// failurePolicy are tested in plugin/deadline_test.go, where the engine
// can be slowed down.)
func TestFailClosedThroughNRI(t *testing.T) {
	// Not parallel: the runtime must notice the crash within 5 s.
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
	window := 0
	if !eventually(5*time.Second, func() bool {
		_, _, err := r.create(pod, "after-"+strconv.Itoa(window), nil)
		if err == nil {
			window++
			return false
		}
		if !strings.Contains(err.Error(), absent) {
			t.Fatalf("after the crash: err = %v, want %q", err, absent)
		}
		return true
	}) {
		t.Fatalf("containers still admitted 5s after specguard died (%d admitted)", window)
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

// bigPolicy denies host paths under /etc and lets specguard's failures
// (a missed deadline) admit containers: the setting under which a pod of
// 5,000 env variables and 1,500 denied binds (docs/performance.md, the
// worst-case request) was once admitted unchecked, /etc bind included.
const bigPolicy = `  mode: enforce
  failurePolicy: ignore
  rules:
    - name: no-etc
      security:
        hostPaths: {deny: ["/etc/**"]}
`

// bigContainer gives a container env variables and binds of /etc/<i>.
func bigContainer(env, binds int) func(*api.Container) {
	return func(c *api.Container) {
		for i := range env {
			c.Env = append(c.Env, fmt.Sprintf("E%d=", i))
		}
		for i := range binds {
			c.Mounts = append(c.Mounts, &api.Mount{Destination: fmt.Sprintf("/m/%d", i), Source: fmt.Sprintf("/etc/x%d", i),
				Type: "bind", Options: []string{"rbind", "ro"}})
		}
	}
}

// Issue 17's pod (5,000 env variables, 1,500 binds of /etc paths) and one
// past the engine's limits are refused through the real runtime half with
// a deadline of 150ms under failurePolicy: ignore, with a refusal that
// quotes the first findings and counts the rest, not admitted unchecked.
func TestLargeRequestsAreRefusedNotAdmitted(t *testing.T) {
	// Not parallel: the decisions must beat a 150ms deadline.
	r := newRuntime(t)
	pod := r.addPod("big-0", "team-a", "uid-big", nil)
	p := r.startPlugin("--config", writePolicy(t, r.dir, bigPolicy), "--deadline", "150ms")
	for name, tc := range map[string]struct {
		env, binds int
		want       string
	}{
		"5,000 env, 1,500 binds": {5000, 1500, `rule "no-etc": hostPaths: mount /m/0: host path /etc/x0 is denied by "/etc/**"`},
		// With the harness's PATH, one more than the limit.
		"past the limits": {engine.DefaultLimits.Env, 1, fmt.Sprintf(`rule "limits": request too large to check: %d environment variables`,
			engine.DefaultLimits.Env+1)},
	} {
		t.Run(name, func(t *testing.T) {
			_, adj, err := r.create(pod, strings.ReplaceAll(name, " ", "-"), bigContainer(tc.env, tc.binds))
			if err == nil {
				t.Fatalf("admitted (adjustment annotations %v)\n%s", adj.GetAnnotations(), p.Logs())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Fatalf("refusal %.400q does not contain %q\n%s", msg, tc.want, p.Logs())
			}
			if strings.Contains(msg, "deadline") {
				t.Errorf("refused by the deadline, not by a decision: %.400q", msg)
			}
			if len(msg) > 2*engine.MaxFindingsText {
				t.Errorf("refusal is %d bytes, more than %d", len(msg), 2*engine.MaxFindingsText)
			}
		})
	}
}
