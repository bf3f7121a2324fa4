package bench

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
)

// nriRuntime is the runtime half containerd embeds (pkg/adaptation) on a
// temporary socket, reporting a fixed set of pods and containers at
// Synchronize and recording when each plugin finished synchronizing.
type nriRuntime struct {
	dir, socket string
	nri         *adaptation.Adaptation

	mu     sync.Mutex
	pods   []*api.PodSandbox
	ctrs   []*api.Container
	synced chan time.Time // one per plugin that synchronized
}

func newNRIRuntime(tb testing.TB, pods []*api.PodSandbox, ctrs []*api.Container) *nriRuntime {
	tb.Helper()
	// Unix socket paths are limited to 108 bytes: keep it short.
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	r := &nriRuntime{dir: dir, socket: filepath.Join(dir, "nri.sock"), pods: pods, ctrs: ctrs, synced: make(chan time.Time, 64)}
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		tb.Fatal(err)
	}
	syncFn := func(ctx context.Context, cb adaptation.SyncCB) error {
		r.mu.Lock()
		pods, ctrs := r.pods, r.ctrs
		r.mu.Unlock()
		_, err := cb(ctx, pods, ctrs)
		if err == nil {
			r.synced <- time.Now()
		}
		return err
	}
	updateFn := func(context.Context, []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
		return nil, nil
	}
	r.nri, err = adaptation.New("containerd", "v2.4.2", syncFn, updateFn,
		adaptation.WithSocketPath(r.socket), adaptation.WithPluginPath(empty), adaptation.WithPluginConfigPath(empty))
	if err != nil {
		tb.Fatal(err)
	}
	if err := r.nri.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.nri.Stop)
	// Start synchronizes the (here absent) pre-installed plugins: that is
	// not a plugin connecting.
	for len(r.synced) > 0 {
		<-r.synced
	}
	return r
}

// waitSynced waits for the next plugin to finish Synchronize and returns
// when it did. The adaptation lists the plugin for events right after
// Synchronize returns, so it also waits a moment for that.
func (r *nriRuntime) waitSynced(tb testing.TB, timeout time.Duration) time.Time {
	tb.Helper()
	select {
	case t := <-r.synced:
		time.Sleep(20 * time.Millisecond)
		return t
	case <-time.After(timeout):
		tb.Fatalf("no plugin synchronized within %v", timeout)
		return time.Time{}
	}
}

func (r *nriRuntime) create(tb testing.TB, pod *api.PodSandbox, c *api.Container) *adaptation.CreateContainerResponse {
	resp, err := r.nri.CreateContainer(context.Background(), &adaptation.CreateContainerRequest{Pod: pod, Container: c})
	if err != nil {
		tb.Fatalf("CreateContainer: %v", err)
	}
	return resp
}

func (r *nriRuntime) postCreate(tb testing.TB, pod *api.PodSandbox, c *api.Container) {
	if err := r.nri.PostCreateContainer(context.Background(), &adaptation.PostCreateContainerRequest{Pod: pod, Container: c}); err != nil {
		tb.Fatalf("PostCreateContainer: %v", err)
	}
}

func (r *nriRuntime) removePod(tb testing.TB, pod *api.PodSandbox) {
	if err := r.nri.RemovePodSandbox(context.Background(), &adaptation.RemovePodSandboxRequest{Pod: pod}); err != nil {
		tb.Fatalf("RemovePodSandbox: %v", err)
	}
}
