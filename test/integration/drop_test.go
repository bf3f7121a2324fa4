package integration

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
)

// TestConnectionDroppedMidRequest: the runtime loses its connection to
// specguard after specguard has received a request and before its reply
// arrives (the relay swallows the reply and closes the connection). On
// CreateContainer the reply is lost and the runtime creates the container
// without specguard (its fail-open default); by default specguard counted
// that creation when it answered, so the next count skips one (a gap
// docs/kubelet-parity.md names, never a repeat); with
// --exact-restart-counts the runtime's confirmation never came, so the
// next container gets the same count. On PostCreateContainer (exact mode
// only) the container already has specguard's count. Each time the runtime
// answers at once, the plugin reconnects by itself, and no count is
// repeated. The tracker follows the live containers throughout.
func TestConnectionDroppedMidRequest(t *testing.T) {
	// Not parallel: each creation across a drop is bounded at 1 s.
	for name, tc := range map[string]struct {
		reply   int  // which of the plugin's next messages is lost: 1 CreateContainer's reply, 2 PostCreateContainer's
		kubelet bool // the container carries the kubelet's io.kubernetes.container.restartCount
		exact   bool // --exact-restart-counts
	}{
		"CreateContainer's reply lost":                           {reply: 1},
		"CreateContainer's reply lost, kubelet numbers attempts": {reply: 1, kubelet: true},
		"CreateContainer's reply lost, exact mode":               {reply: 1, exact: true},
		"PostCreateContainer's reply lost, exact mode":           {reply: 2, exact: true},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRuntime(t)
			addr := freeAddr(t)
			args := []string{"--metrics-addr", addr}
			if tc.exact {
				args = append(args, "--exact-restart-counts")
			}
			p := r.startPlugin(args...)
			pod := r.addPod("web-0", "shop", "uid-drop", nil)

			attempts, last := 0, -1 // last: the newest count specguard gave
			var prev *api.Container
			create := func() (*api.ContainerAdjustment, time.Duration, error) {
				n := attempts
				attempts++
				start := time.Now()
				c, adj, err := r.create(pod, "app", func(c *api.Container) {
					if tc.kubelet {
						c.Annotations["io.kubernetes.container.restartCount"] = strconv.Itoa(n)
					}
				})
				took := time.Since(start)
				if err == nil {
					if prev != nil {
						r.remove(pod, prev) // the kubelet keeps the newest dead container
					}
					prev = c
				}
				return adj, took, err
			}
			next := func(when string) {
				t.Helper()
				adj, _, err := create()
				if err != nil {
					t.Fatalf("%s: %v", when, err)
				}
				got, ok := adj.GetAnnotations()["specguard.io/restart-count"]
				if !ok {
					t.Fatalf("%s: created without specguard", when)
				}
				want := last + 1
				if tc.kubelet {
					want = attempts - 1
				}
				if got != strconv.Itoa(want) {
					t.Fatalf("%s: restart count %s, want %d: lost or repeated", when, got, want)
				}
				last = want
			}

			for i := 0; i < 5; i++ {
				next("before the drops")
			}
			for round := 0; round < 3; round++ {
				r.relay.dropReply(tc.reply)
				adj, took, err := create()
				if err != nil {
					t.Fatalf("round %d: the runtime failed the creation: %v", round, err)
				}
				if took > time.Second {
					t.Errorf("round %d: the creation took %v; a lost connection must not wait for the runtime's timeout", round, took)
				}
				if d := r.relay.dropped.Load(); d != int32(round+1) {
					t.Fatalf("round %d: %d drops, want %d", round, d, round+1)
				}
				got, adjusted := adj.GetAnnotations()["specguard.io/restart-count"]
				switch {
				case tc.reply == 1 && adjusted:
					t.Fatalf("round %d: the reply was dropped, yet the container has specguard's count %s", round, got)
				case tc.reply == 2 && got != strconv.Itoa(last+1):
					t.Fatalf("round %d: restart count %q, want %d", round, got, last+1)
				case tc.reply == 2:
					last++
				case tc.kubelet:
					last = attempts - 1 // the kubelet's number, on a container specguard did not see
				case !tc.exact:
					// Committed when specguard answered: the container created
					// without specguard's changes used that count.
					last++
				}
				p.waitRegistered() // reconnected by itself
				for i := 0; i < 3; i++ {
					next("after drop " + strconv.Itoa(round))
				}
			}
			if got := metric(t, addr, "specguard_tracked_containers"); int(got) != r.live() {
				t.Errorf("tracked %v, live %d", got, r.live())
			}
			logs := p.Logs()
			if n := strings.Count(logs, "disconnected from runtime; reconnecting"); n != 3 {
				t.Errorf("%d reconnections logged, want 3", n)
			}
			if strings.Contains(logs, "restart count drift") {
				t.Errorf("drift reported:\n%s", grepLines(logs, "drift"))
			}
		})
	}
}
