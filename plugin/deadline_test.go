package plugin

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// nriRig is the runtime half of NRI (what containerd embeds) on a
// temporary socket, for plugins in this process.
type nriRig struct {
	t      *testing.T
	nri    *adaptation.Adaptation
	socket string
	seq    atomic.Int64
}

func startNRIRig(t *testing.T, opts ...adaptation.Option) *nriRig {
	t.Helper()
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	rig := &nriRig{t: t, socket: filepath.Join(dir, "nri.sock")}
	syncFn := func(ctx context.Context, cb adaptation.SyncCB) error {
		_, err := cb(ctx, nil, nil)
		return err
	}
	updateFn := func(context.Context, []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
		return nil, nil
	}
	opts = append([]adaptation.Option{adaptation.WithSocketPath(rig.socket),
		adaptation.WithPluginPath(empty), adaptation.WithPluginConfigPath(empty)}, opts...)
	rig.nri, err = adaptation.New("containerd", "v2.4.2", syncFn, updateFn, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := rig.nri.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rig.nri.Stop)
	return rig
}

// runSpecguard connects a specguard Plugin over cfg through its own Run
// loop (the production wiring) as 90-specguard.
func (rig *nriRig) runSpecguard(cfg Config) *Plugin {
	rig.t.Helper()
	if cfg.Tracker == nil {
		cfg.Tracker = restarts.NewTracker(nil)
	}
	if cfg.Log == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Log = logrus.NewEntry(l)
	}
	p, err := New(cfg)
	if err != nil {
		rig.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.Run(ctx, Connection{SocketPath: rig.socket, Name: "specguard", Index: "90"})
	}()
	rig.t.Cleanup(func() { cancel(); <-done })
	return p
}

// runStub connects another plugin, in process, under name and idx.
func (rig *nriRig) runStub(impl any, name, idx string) {
	rig.t.Helper()
	s, err := stub.New(impl, stub.WithSocketPath(rig.socket), stub.WithPluginName(name), stub.WithPluginIdx(idx))
	if err != nil {
		rig.t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		rig.t.Fatal(err)
	}
	rig.t.Cleanup(s.Stop)
}

func (rig *nriRig) create(ns, name string) (*api.ContainerAdjustment, error) {
	n := rig.seq.Add(1)
	pod := &api.PodSandbox{Id: "sb" + strconv.FormatInt(n, 10), Name: "web-0", Namespace: ns, Uid: "uid-" + strconv.FormatInt(n, 10)}
	c := &api.Container{Id: "c" + strconv.FormatInt(n, 10), PodSandboxId: pod.Id, Name: name,
		Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(2)}}}}
	resp, err := rig.nri.CreateContainer(context.Background(), &adaptation.CreateContainerRequest{Pod: pod, Container: c})
	return resp.GetAdjust(), err
}

// waitFor polls cond for up to 5s: a plugin is registered shortly after
// its connection is up.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSpecguard waits until specguard adjusts containers.
func (rig *nriRig) waitSpecguard(t *testing.T) {
	t.Helper()
	waitFor(t, "specguard to register", func() bool {
		adj, err := rig.create("probe", "probe")
		return err == nil && adj.GetAnnotations()["specguard.io/restart-count"] != ""
	})
}

// parsePolicy is a store holding the policy whose spec is given, loaded
// from a file (rewritePolicy changes it as an admin would).
func parsePolicy(t *testing.T, spec string) *policy.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writePolicy(t, path, spec)
	s, err := policy.NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writePolicy(t *testing.T, path, spec string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n"+spec), 0o644); err != nil {
		t.Fatal(err)
	}
}

// rewritePolicy replaces the store's file and reloads it.
func rewritePolicy(t *testing.T, s *policy.Store, spec string) {
	t.Helper()
	writePolicy(t, s.Path(), spec)
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
}

// slowEngine is the real engine until slow is set; then it blocks (or
// panics) until the test ends, as a wedged decision would.
type slowEngine struct {
	slow, panics atomic.Bool
	release      chan struct{}
	once         sync.Once
}

func newSlowEngine(t *testing.T) *slowEngine {
	e := &slowEngine{release: make(chan struct{})}
	t.Cleanup(func() { e.once.Do(func() { close(e.release) }) })
	return e
}

func (e *slowEngine) decide(p *policy.Policy, r *engine.Request) *engine.Decision {
	if e.panics.Load() {
		panic("wedged")
	}
	if e.slow.Load() {
		<-e.release
	}
	return engine.Decide(p, r)
}

// The deadline holds well inside the runtime's request timeout (2s) and
// failurePolicy decides what a missed deadline does; the plugin stays
// connected and serves the next request.
func TestDeadlineThroughNRI(t *testing.T) {
	for name, tc := range map[string]struct {
		failurePolicy string
		wantErr       []string // nil: allowed unchanged
	}{
		"ignore allows the container unchanged": {failurePolicy: "ignore"},
		"fail refuses it with the reason": {failurePolicy: "fail", wantErr: []string{
			"specguard could not decide on container app of pod team-a/web-0 (failurePolicy: fail): decision deadline exceeded (100ms)"}},
	} {
		t.Run(name, func(t *testing.T) {
			rig := startNRIRig(t)
			eng := newSlowEngine(t)
			rig.runSpecguard(Config{Policy: parsePolicy(t, "  failurePolicy: "+tc.failurePolicy+"\n"),
				Deadline: 100 * time.Millisecond, Decide: eng.decide})
			rig.waitSpecguard(t)

			eng.slow.Store(true)
			start := time.Now()
			adj, err := rig.create("team-a", "app")
			took := time.Since(start)
			if took > time.Second {
				t.Errorf("CreateContainer took %s; the deadline is 100ms and the runtime gives up at 2s", took)
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("err = %v, want the container allowed", err)
				}
				if len(adj.GetAnnotations()) != 0 || adj.GetLinux().GetResources().GetCpu().GetShares() != nil {
					t.Errorf("adjustment = %v, want none (unchanged)", adj)
				}
			} else {
				if err == nil {
					t.Fatal("allowed; want a refusal")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err lacks %q: %v", w, err)
					}
				}
			}

			eng.slow.Store(false)
			adj, err = rig.create("team-a", "after")
			if err != nil || adj.GetAnnotations()["specguard.io/restart-count"] != "0" {
				t.Fatalf("after a missed deadline: adj %v, err %v; want specguard still connected and deciding", adj, err)
			}
		})
	}
}

// A panicking engine is an internal error: failurePolicy applies, and the
// plugin survives.
func TestEnginePanicThroughNRI(t *testing.T) {
	rig := startNRIRig(t)
	eng := newSlowEngine(t)
	rig.runSpecguard(Config{Policy: parsePolicy(t, "  failurePolicy: fail\n"), Decide: eng.decide})
	rig.waitSpecguard(t)
	eng.panics.Store(true)
	_, err := rig.create("team-a", "app")
	if err == nil || !strings.Contains(err.Error(), "(failurePolicy: fail): internal error: engine panic: wedged") {
		t.Fatalf("err = %v", err)
	}
	eng.panics.Store(false)
	if _, err := rig.create("team-a", "after"); err != nil {
		t.Fatalf("after a panic: %v", err)
	}
}

// The deadline covers gathering the facts: a restart count that waits on
// the pod's log directory (a hung filesystem) is answered by failurePolicy
// in time, and the count assigned after the reply is never committed: the
// next creation of the container gets the count it would have had.
func TestDeadlineCoversGathering(t *testing.T) {
	rig := startNRIRig(t)
	var hang atomic.Bool
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	read := make(chan struct{}, 1)
	tracker := restarts.NewTracker(func(string, string) (int, error) {
		if hang.Load() {
			read <- struct{}{}
			<-release
		}
		return 4, nil // the kubelet's log files say attempt 4 was the last
	})
	abandoned := make(chan struct{})
	decide := func(p *policy.Policy, r *engine.Request) *engine.Decision {
		defer func() {
			if r.Container.GetId() == "c-hung" {
				close(abandoned)
			}
		}()
		return engine.Decide(p, r)
	}
	rig.runSpecguard(Config{Policy: parsePolicy(t, "  failurePolicy: ignore\n"), Tracker: tracker,
		Deadline: 100 * time.Millisecond, Decide: decide})
	rig.waitSpecguard(t)

	pod := &api.PodSandbox{Id: "sb-hung", Name: "web-0", Namespace: "team-a", Uid: "uid-hung"}
	create := func(id string) (*api.ContainerAdjustment, error) {
		resp, err := rig.nri.CreateContainer(context.Background(), &adaptation.CreateContainerRequest{Pod: pod,
			Container: &api.Container{Id: id, PodSandboxId: pod.Id, Name: "app"}})
		return resp.GetAdjust(), err
	}
	hang.Store(true)
	start := time.Now()
	adj, err := create("c-hung")
	if took := time.Since(start); err != nil || len(adj.GetAnnotations()) != 0 || took > time.Second {
		t.Fatalf("with the log directory hung: adj %v, err %v after %s; want the container allowed unchanged at the 100ms deadline", adj, err, took)
	}
	<-read
	hang.Store(false)
	releaseOnce.Do(func() { close(release) })
	// The abandoned gathering and decision finish now; nothing commits
	// the count.
	<-abandoned
	if n, known := tracker.Newest(restarts.Key{PodUID: "uid-hung", Container: "app"}); known {
		t.Fatalf("count %d committed for the creation abandoned at the deadline", n)
	}
	adj, err = create("c-next")
	if err != nil || adj.GetAnnotations()["specguard.io/restart-count"] != "4" {
		t.Fatalf("the next creation: adj %v, err %v; want restart count 4 (from the log directory), none committed in between", adj.GetAnnotations(), err)
	}
}
