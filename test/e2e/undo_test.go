package e2e

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"

	"github.com/specguard/specguard/plugin"
	"github.com/specguard/specguard/test/e2e/harness"
)

// refuser is another NRI plugin, in the test process and after specguard
// (index 95): while refusing is set it refuses every creation, so that it
// fails after specguard has answered. It keeps the containers containerd
// reports removed.
type refuser struct {
	refusing atomic.Bool
	mu       sync.Mutex
	removed  []*api.Container
}

const refuserMessage = "refuser says no"

func (r *refuser) CreateContainer(context.Context, *api.PodSandbox, *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	if r.refusing.Load() {
		return nil, nil, errors.New(refuserMessage)
	}
	return nil, nil, nil
}

func (r *refuser) RemoveContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.removed = append(r.removed, &api.Container{Id: c.GetId(), Name: c.GetName(), State: c.GetState(), CreatedAt: c.GetCreatedAt()})
	return nil
}

// removals returns the removals seen so far, the undone creations apart.
func (r *refuser) removals() (undone, removed []*api.Container) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.removed {
		if plugin.UndoneCreation(c) {
			undone = append(undone, c)
		} else {
			removed = append(removed, c)
		}
	}
	return undone, removed
}

// (h) A creation that fails after specguard answered (here: a later plugin
// refuses it) is retried with the same restart count, in the default mode
// (the count is given back when containerd undoes the creation) and with
// --exact-restart-counts (it was never confirmed); the counts then go on,
// also past the removal of the newest container: no gap, no repeat. The
// removals containerd 2.4.2 reports have the shapes specguard tells apart:
// an undone creation in state UNKNOWN without a creation time, a removed
// container with its creation time.
func TestFailedCreationKeepsCount(t *testing.T) {
	s := newStack(t, stackOptions{})
	policy := writePolicy(t, s, markerPolicy)
	ref := &refuser{}
	st, err := stub.New(ref, stub.WithSocketPath(s.NRISocket()), stub.WithPluginName("refuser"), stub.WithPluginIdx("95"),
		stub.WithOnClose(func() {}))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Stop)

	for _, mode := range []struct {
		name  string
		extra []string
	}{{"default", nil}, {"exact", []string{"--exact-restart-counts"}}} {
		t.Run(mode.name, func(t *testing.T) {
			if err := s.StartPlugin(policy, mode.extra...); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.StopPlugin(syscall.SIGTERM) })
			if err := s.WaitPluginReady(15 * time.Second); err != nil {
				t.Fatal(err)
			}
			podID, pod := runPod(t, s, harness.Pod{Name: "counter-" + mode.name, Namespace: "e2e-undo"})
			attempt := 0
			next := func(want int) *harness.ContainerInspect {
				t.Helper()
				ci := runContainer(t, s, podID, pod, harness.Container{Name: "app", Attempt: attempt, Resources: bestEffort})
				attempt++
				if n := restartCount(t, ci); n != want {
					t.Fatalf("create #%d of app: restart count %d, want %d", attempt, n, want)
				}
				if err := s.StopContainer(ci.Status.ID, 0); err != nil {
					t.Fatal(err)
				}
				return ci
			}

			next(0)
			undoneBefore, _ := ref.removals()
			ref.refusing.Store(true)
			for i := 0; i < 2; i++ {
				_, err := s.CreateContainer(podID, s.ContainerConfig(pod, harness.Container{Name: "app", Attempt: attempt, Resources: bestEffort}), pod)
				if err == nil || !strings.Contains(crictlErr(err), refuserMessage) {
					t.Fatalf("failing create %d: %v, want the refuser's refusal", i, err)
				}
			}
			ref.refusing.Store(false)
			c1 := next(1) // the count the failed creations had
			if err := s.RemoveContainer(c1.Status.ID); err != nil {
				t.Fatal(err)
			}
			next(2)

			undone, removed := ref.removals()
			if n := len(undone) - len(undoneBefore); n != 2 {
				t.Errorf("containerd undid %d creations as NRI reports them, want 2 (undone: %v)", n, undone)
			}
			for _, c := range removed {
				if c.GetId() == c1.Status.ID {
					t.Logf("the exited container's removal: state %v, created at %d", c.GetState(), c.GetCreatedAt())
					return
				}
			}
			t.Errorf("the removal of %s was not reported, or reported as an undone creation (undone: %v)", c1.Status.ID, undone)
		})
	}
}
