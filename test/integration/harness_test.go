// Package integration runs the built specguard binary as an external NRI
// plugin against the real NRI runtime half (pkg/adaptation) on a temporary
// socket, as containerd would.
package integration

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/adaptation"
	"github.com/containerd/nri/pkg/api"
	"google.golang.org/protobuf/proto"
)

var specguardBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "specguard-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	specguardBin = filepath.Join(dir, "specguard")
	build := exec.Command("go", "build", "-o", specguardBin, "github.com/specguard/specguard/cmd/specguard")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building specguard:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runtime is the runtime half: an NRI adaptation on a temporary socket and
// the pods and containers it reports at Synchronize.
type runtime struct {
	t      *testing.T
	dir    string
	socket string // what plugins dial: the relay
	inner  string // where the adaptation listens
	relay  *relay
	nri    *adaptation.Adaptation
	opts   []adaptation.Option // extra runtime options, kept across restart

	mu     sync.Mutex
	pods   map[string]*api.PodSandbox
	ctrs   map[string]*api.Container
	nextID int
}

func newRuntime(t *testing.T) *runtime {
	t.Helper()
	return newRuntimeWith(t)
}

// newRuntimeWith is newRuntime with extra adaptation options, for example
// adaptation.WithDefaultValidator as containerd's default_validator sets it.
func newRuntimeWith(t *testing.T, opts ...adaptation.Option) *runtime {
	t.Helper()
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "nri-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	r := &runtime{t: t, dir: dir, socket: filepath.Join(dir, "nri.sock"), inner: filepath.Join(dir, "rt.sock"),
		pods: map[string]*api.PodSandbox{}, ctrs: map[string]*api.Container{}, opts: opts}
	r.start()
	return r
}

func (r *runtime) start() {
	r.t.Helper()
	empty := filepath.Join(r.dir, "empty")
	os.MkdirAll(empty, 0o755)
	syncFn := func(ctx context.Context, cb adaptation.SyncCB) error {
		r.mu.Lock()
		var pods []*api.PodSandbox
		var ctrs []*api.Container
		for _, p := range r.pods {
			pods = append(pods, p)
		}
		for _, c := range r.ctrs {
			ctrs = append(ctrs, c)
		}
		r.mu.Unlock()
		_, err := cb(ctx, pods, ctrs)
		return err
	}
	updateFn := func(context.Context, []*adaptation.ContainerUpdate) ([]*adaptation.ContainerUpdate, error) {
		return nil, nil
	}
	nri, err := adaptation.New("containerd", "v2.4.2", syncFn, updateFn, append([]adaptation.Option{
		adaptation.WithSocketPath(r.inner), adaptation.WithPluginPath(empty), adaptation.WithPluginConfigPath(empty)}, r.opts...)...)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := nri.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.mu.Lock()
	r.nri = nri
	r.mu.Unlock()
	r.t.Cleanup(nri.Stop)
	r.relay = newRelay(r.t, r.socket, r.inner)
	r.t.Cleanup(r.relay.close)
}

// restart does what a containerd restart does to plugins: their
// connections close, the socket is removed and re-created, and a new
// runtime half starts. The adaptation's Stop leaves external plugins'
// connections open, so the relay in front of it closes them.
func (r *runtime) restart() {
	r.relay.close()
	r.rt().Stop()
	r.start()
}

func (r *runtime) addPod(name, ns, uid string, annotations map[string]string) *api.PodSandbox {
	if annotations == nil {
		annotations = map[string]string{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID++
	pod := &api.PodSandbox{Id: fmt.Sprintf("sb%d", r.nextID), Name: name, Namespace: ns, Uid: uid,
		Labels: map[string]string{"app": name}, Annotations: annotations, RuntimeHandler: "runc"}
	r.pods[pod.Id] = pod
	if err := r.nri.RunPodSandbox(context.Background(), &adaptation.RunPodSandboxRequest{Pod: pod}); err != nil {
		r.t.Fatalf("RunPodSandbox: %v", err)
	}
	return pod
}

// create does what containerd 2.4.2's CRI CreateContainer does over NRI:
// CreateContainer; when that fails, the undo (UndoCreateContainer:
// StopContainer and RemoveContainer of a container built from its ID and
// spec alone, in no store, so in state UNKNOWN with no creation time);
// when it succeeds, PostCreateContainer. It records a created container
// with the annotations it ended up with and its creation time.
func (r *runtime) create(pod *api.PodSandbox, name string, mutate func(*api.Container)) (*api.Container, *api.ContainerAdjustment, error) {
	r.mu.Lock()
	r.nextID++
	c := &api.Container{Id: fmt.Sprintf("c%d", r.nextID), PodSandboxId: pod.Id, Name: name, State: api.ContainerState_CONTAINER_CREATED,
		Labels: map[string]string{"io.kubernetes.pod.name": pod.Name, "io.kubernetes.pod.namespace": pod.Namespace,
			"io.kubernetes.pod.uid": pod.Uid, "io.kubernetes.container.name": name},
		Annotations: map[string]string{}, Env: []string{"PATH=/bin"}, Args: []string{"sleep", "1000"},
		Linux: &api.LinuxContainer{Resources: &api.LinuxResources{Cpu: &api.LinuxCPU{Shares: api.UInt64(2)}, Memory: &api.LinuxMemory{}}}}
	r.mu.Unlock()
	if mutate != nil {
		mutate(c)
	}
	// As containerd does: no plugin synchronizes between a creation and
	// the container appearing in what Synchronize reports.
	rt := r.rt()
	block := rt.BlockPluginSync()
	defer block.Unblock()
	resp, err := rt.CreateContainer(context.Background(), &adaptation.CreateContainerRequest{Pod: pod, Container: c})
	if err != nil {
		r.undo(rt, pod, c)
		return c, nil, err
	}
	c.CreatedAt = time.Now().UnixNano()
	adj := resp.GetAdjust()
	for k, v := range adj.GetAnnotations() {
		c.Annotations[k] = v
	}
	r.mu.Lock()
	r.ctrs[c.Id] = c
	r.mu.Unlock()
	block.Unblock()
	if err := rt.PostCreateContainer(context.Background(), &adaptation.PostCreateContainerRequest{Pod: pod, Container: c}); err != nil {
		r.t.Fatalf("PostCreateContainer: %v", err)
	}
	return c, adj, nil
}

// undo is containerd's UndoCreateContainer for a creation that failed
// after the plugins answered CreateContainer.
func (r *runtime) undo(rt *adaptation.Adaptation, pod *api.PodSandbox, c *api.Container) {
	undone := &api.Container{Id: c.Id, PodSandboxId: c.PodSandboxId, Name: c.Name, State: api.ContainerState_CONTAINER_UNKNOWN}
	ctx := context.Background()
	if _, err := rt.StopContainer(ctx, &adaptation.StopContainerRequest{Pod: pod, Container: undone}); err != nil {
		r.t.Logf("StopContainer (undo): %v", err) // containerd only logs it too
	}
	if err := rt.RemoveContainer(ctx, &adaptation.RemoveContainerRequest{Pod: pod, Container: undone}); err != nil {
		r.t.Logf("RemoveContainer (undo): %v", err)
	}
}

// remove sends RemoveContainer as containerd 2.4.2 does for a container that
// ran and exited: its state reads UNKNOWN there too (containerd maps no
// exited state to NRI's), but it has its creation time.
func (r *runtime) remove(pod *api.PodSandbox, c *api.Container) {
	r.mu.Lock()
	delete(r.ctrs, c.Id)
	r.mu.Unlock()
	// A copy: a Synchronize in flight may still be sending the original.
	c = proto.Clone(c).(*api.Container)
	c.State = api.ContainerState_CONTAINER_UNKNOWN
	if err := r.rt().RemoveContainer(context.Background(), &adaptation.RemoveContainerRequest{Pod: pod, Container: c}); err != nil {
		r.t.Fatalf("RemoveContainer: %v", err)
	}
}

func (r *runtime) removePod(pod *api.PodSandbox) {
	r.mu.Lock()
	delete(r.pods, pod.Id)
	for id, c := range r.ctrs {
		if c.PodSandboxId == pod.Id {
			delete(r.ctrs, id)
		}
	}
	r.mu.Unlock()
	if err := r.rt().RemovePodSandbox(context.Background(), &adaptation.RemovePodSandboxRequest{Pod: pod}); err != nil {
		r.t.Fatalf("RemovePodSandbox: %v", err)
	}
}

// plugin is a running specguard process.
type plugin struct {
	t       *testing.T
	r       *runtime
	cmd     *exec.Cmd
	metrics string // its --metrics-addr
	syncs   int    // Synchronize requests it had answered at the last registration
	mu      sync.Mutex
	logs    strings.Builder
	done    chan struct{}
}

// startPlugin runs the built binary against the runtime's socket and waits
// until it has registered.
func (r *runtime) startPlugin(args ...string) *plugin {
	r.t.Helper()
	return r.startBinary(specguardBin, args...)
}

// startBinary is startPlugin with another build of specguard. It serves
// metrics (on a free port unless args give --metrics-addr): registration
// is read from there.
func (r *runtime) startBinary(bin string, args ...string) *plugin {
	r.t.Helper()
	addr := ""
	for i, a := range args {
		if a == "--metrics-addr" && i+1 < len(args) {
			addr = args[i+1]
		}
	}
	if addr == "" {
		addr = freeAddr(r.t)
		args = append(args, "--metrics-addr", addr)
	}
	full := append([]string{"run", "--socket-path", r.socket, "--log-level", "debug"}, args...)
	cmd := exec.Command(bin, full...)
	cmd.Env = append(os.Environ(), "NRI_PLUGIN_SOCKET=", "NRI_PLUGIN_NAME=", "NRI_PLUGIN_IDX=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		r.t.Fatal(err)
	}
	p := &plugin{t: r.t, r: r, cmd: cmd, metrics: addr, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	go p.read(stderr)
	r.t.Cleanup(func() { p.kill() })
	p.waitRegistered()
	return p
}

func (p *plugin) read(rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.logs.WriteString(line + "\n")
		p.mu.Unlock()
	}
	close(p.done)
}

// waitRegistered waits until specguard has registered once more (at
// start, or again after the runtime went away): /readyz says ready
// (connected to NRI with a valid policy), its metrics count one more
// Synchronize answered (readiness alone cannot tell a new registration
// from the one before a runtime restart that specguard has not noticed
// yet), and the runtime has finished that registration.
// The runtime holds its plugin-sync lock from before Synchronize until
// the plugin is in its list, so taking the lock's read side (what
// BlockPluginSync does) returns only once specguard receives requests.
func (p *plugin) waitRegistered() {
	p.t.Helper()
	var syncs int
	var ready bool
	registered := eventually(10*time.Second, func() bool {
		select {
		case <-p.done:
			p.t.Fatalf("specguard exited before registering:\n%s", p.Logs())
		default:
		}
		syncs, ready = p.syncsAnswered(), p.ready()
		return syncs > p.syncs && ready
	})
	if !registered {
		p.t.Fatalf("specguard did not register in 10s (Synchronize answered %d times, %d at the last registration; ready %v):\n%s",
			syncs, p.syncs, ready, p.Logs())
	}
	p.syncs = syncs
	p.r.mu.Lock()
	nri := p.r.nri
	p.r.mu.Unlock()
	nri.BlockPluginSync().Unblock()
}

// ready reports whether specguard's /readyz answers 200.
func (p *plugin) ready() bool {
	resp, err := http.Get("http://" + p.metrics + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// syncsAnswered reads specguard_requests_total{event="Synchronize"} from
// its metrics; 0 while they are not served yet.
func (p *plugin) syncsAnswered() int {
	n, err := sample(p.metrics, `specguard_requests_total{event="Synchronize",result="ok"}`)
	if err != nil {
		return 0
	}
	return int(n)
}

// sample reads one series from the /metrics served at addr, the series
// spelled as the text format writes it (labels sorted, values quoted).
func sample(addr, series string) (float64, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", series, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("no %s in /metrics", series)
}

// waitMetric waits until series on specguard's /metrics reads at least
// want: how a test knows that a reload or a drift has happened.
func waitMetric(t *testing.T, p *plugin, series string, want float64, timeout time.Duration) {
	t.Helper()
	var got float64
	var err error
	if !eventually(timeout, func() bool {
		got, err = sample(p.metrics, series)
		return err == nil && got >= want
	}) {
		t.Fatalf("%s = %v (error %v) after %v, want at least %v:\n%s", series, got, err, timeout, want, p.Logs())
	}
}

// eventually polls cond every 10 ms until it holds, and reports whether
// it did within timeout. Callers fail the test with what cond last saw.
func eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

func (p *plugin) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// logSays reports whether specguard's log says s at least n times, giving
// it up to 5 s to get there: the line may be written after the state a
// test waited on (a reload is counted in the metrics before it is logged,
// a decision is logged after the reply), and it reaches the test through
// a pipe. It asserts what specguard logs; tests wait on state, not on it.
func (p *plugin) logSays(s string, n int) bool {
	return eventually(5*time.Second, func() bool { return strings.Count(p.Logs(), s) >= n })
}

func (p *plugin) signal(sig syscall.Signal) { p.cmd.Process.Signal(sig) }

// kill ends the process with SIGKILL, as a crash would.
func (p *plugin) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Kill()
	<-p.done // Wait closes the pipe: read the log to its end first
	p.cmd.Wait()
}

// stop sends SIGTERM and returns the exit code.
func (p *plugin) stop() int {
	p.signal(syscall.SIGTERM)
	<-p.done
	err := p.cmd.Wait()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		p.t.Fatalf("wait: %v", err)
	}
	return 0
}

// handedOut holds the ports freeAddr has returned. The kernel may give
// a port freed by closing its listener to the next listener on :0, and a
// parallel test may ask before the plugin given it has bound it.
var handedOut = struct {
	sync.Mutex
	ports map[int]bool
}{ports: map[int]bool{}}

// freeAddr returns a loopback address for a plugin's metrics whose port
// no listener held a moment ago and no other test has been given.
func freeAddr(t *testing.T) string {
	t.Helper()
	handedOut.Lock()
	defer handedOut.Unlock()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().(*net.TCPAddr)
		l.Close()
		if !handedOut.ports[addr.Port] {
			handedOut.ports[addr.Port] = true
			return addr.String()
		}
	}
}

func writePolicy(t *testing.T, dir, body string) string {
	t.Helper()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func envValue(adj *api.ContainerAdjustment, name string) (string, bool) {
	for _, kv := range adj.GetEnv() {
		if kv.Key == name {
			return kv.Value, true
		}
	}
	return "", false
}

// rt is the current runtime half; restart replaces it.
func (r *runtime) rt() *adaptation.Adaptation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nri
}
