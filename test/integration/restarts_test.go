package integration

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
)

// flakyPlugin is another NRI plugin, run in this process after specguard
// (index 95): while failing is set it makes every creation fail after
// specguard has answered, in the way how says. It marks every container
// it sees so that a test knows it is connected.
type flakyPlugin struct {
	how     string // "refuse", "hook" (for specguard's validator), "conflict"
	failing atomic.Bool
}

const flakySeen = "flaky.example/seen"

func (f *flakyPlugin) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	adj := &api.ContainerAdjustment{}
	adj.AddAnnotation(flakySeen, "1")
	if !f.failing.Load() {
		return adj, nil, nil
	}
	switch f.how {
	case "refuse":
		return nil, nil, errors.New("flaky refuses " + c.GetName())
	case "hook":
		addHook(adj)
	case "conflict":
		// specguard sets it too: the runtime fails the creation when it
		// merges the second claim.
		adj.AddAnnotation("specguard.io/qos-class", "Guaranteed")
	}
	return adj, nil, nil
}

// startFlaky connects a flakyPlugin and waits until the runtime calls it.
func (r *runtime) startFlaky(how string) *flakyPlugin {
	r.t.Helper()
	f := &flakyPlugin{how: how}
	s, err := stub.New(f, stub.WithSocketPath(r.socket), stub.WithPluginName("flaky"), stub.WithPluginIdx("95"))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(s.Stop)
	pod := r.addPod("probe", "probe", "uid-probe-flaky", nil)
	var adj *api.ContainerAdjustment
	if !eventually(5*time.Second, func() bool {
		var c *api.Container
		c, adj, err = r.create(pod, "probe", nil)
		if err != nil {
			return false
		}
		r.remove(pod, c)
		return adj.GetAnnotations()[flakySeen] != ""
	}) {
		r.t.Fatalf("the flaky plugin did not register: %v %v", adj, err)
	}
	return f
}

// TestCreationFailingAfterSpecguard: a creation that fails after specguard
// answered CreateContainer (another plugin refuses, specguard's own
// validator refuses, the plugins' adjustments conflict) is retried with the
// same count, however often it fails, and the counts then go on, also past
// the removal of the newest container: none lost, none repeated. By default specguard commits the count when it answers
// and gets it back from the runtime's undo of the failed creation (and,
// for its own validator, from its refusal); with --exact-restart-counts it
// commits only at PostCreateContainer. When the kubelet numbers the
// attempts (and retries a failed one with the same number), specguard's
// tracked count agrees with it throughout: no drift reported. The
// tracked-containers gauge follows the containers that exist.
func TestCreationFailingAfterSpecguard(t *testing.T) {
	t.Parallel()
	causes := map[string]struct {
		how, spec, wantErr string
	}{
		"a later plugin refuses":        {how: "refuse", wantErr: "flaky refuses app"},
		"specguard's validator refuses": {how: "hook", spec: "  validation: {denyHooks: true}\n", wantErr: "validation.denyHooks"},
		"the adjustments conflict":      {how: "conflict", wantErr: "specguard.io/qos-class"},
	}
	for cause, c := range causes {
		for _, mode := range []string{"default", "exact"} {
			for _, kubelet := range []bool{false, true} {
				name := cause + ", " + mode
				if kubelet {
					name += ", kubelet numbers attempts"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					r := newRuntime(t)
					flaky := r.startFlaky(c.how)
					addr := freeAddr(t)
					args := []string{"--metrics-addr", addr}
					if c.spec != "" {
						args = append(args, "--config", writePolicy(t, r.dir, c.spec))
					}
					if mode == "exact" {
						args = append(args, "--exact-restart-counts")
					}
					p := r.startPlugin(args...)
					pod := r.addPod("web-0", "shop", "uid-fail", nil)

					created := 0 // what the kubelet numbers the next attempt
					var prev *api.Container
					attempt := func() (*api.ContainerAdjustment, error) {
						c, adj, err := r.create(pod, "app", func(c *api.Container) {
							if kubelet {
								c.Annotations["io.kubernetes.container.restartCount"] = strconv.Itoa(created)
							}
						})
						if err != nil {
							return nil, err
						}
						created++
						if prev != nil {
							r.remove(pod, prev) // the kubelet keeps the newest dead container
						}
						prev = c
						return adj, nil
					}
					want := func(n int) {
						t.Helper()
						adj, err := attempt()
						if err != nil {
							t.Fatalf("creation for count %d failed: %v", n, err)
						}
						if got := adj.GetAnnotations()["specguard.io/restart-count"]; got != strconv.Itoa(n) {
							t.Fatalf("restart count %q, want %d: lost or repeated", got, n)
						}
						if got := metric(t, addr, "specguard_tracked_containers"); int(got) != r.live() {
							t.Fatalf("after count %d: tracked %v, live %d", n, got, r.live())
						}
					}
					want(0)
					want(1)
					flaky.failing.Store(true)
					for i := 0; i < 3; i++ {
						_, err := attempt()
						if err == nil || !strings.Contains(err.Error(), c.wantErr) {
							t.Fatalf("failing attempt %d: error %v, want one naming %q", i, err, c.wantErr)
						}
						if got := metric(t, addr, "specguard_tracked_containers"); int(got) != r.live() {
							t.Fatalf("after failing attempt %d: tracked %v, live %d", i, got, r.live())
						}
					}
					flaky.failing.Store(false)
					want(2)
					want(3)
					// The newest container removed for good (crictl rm; containerd
					// reports an exited container's state as UNKNOWN too, but with
					// its creation time): its count stays used.
					r.remove(pod, prev)
					prev = nil
					want(4)
					if logs := p.Logs(); strings.Contains(logs, "restart count drift") {
						t.Errorf("drift reported:\n%s", grepLines(logs, "drift"))
					}
				})
			}
		}
	}
}
