package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
)

// TestChurnThroughRestartsAndDrops drives one container name through many
// attempts while specguard is killed and restarted and while the runtime
// drops every connection in the middle of a burst of requests, in either
// restart-count mode. Restart counts must go up by one on every adjusted
// attempt: none lost, none repeated.
func TestChurnThroughRestartsAndDrops(t *testing.T) {
	t.Parallel()
	for name, args := range map[string][]string{"default": nil, "exact": {"--exact-restart-counts"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			churnThroughRestartsAndDrops(t, args)
		})
	}
}

func churnThroughRestartsAndDrops(t *testing.T, args []string) {
	r := newRuntime(t)
	p := r.startPlugin(args...)
	pod := r.addPod("web-0", "shop", "uid-churn", nil)

	last := -1
	var prev *api.Container
	attempt := func() {
		c, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatalf("after %d: %v", last, err)
		}
		v, ok := adj.GetAnnotations()["specguard.io/restart-count"]
		if !ok {
			t.Fatalf("after %d: a container created without specguard", last)
		}
		n, _ := strconv.Atoi(v)
		if n != last+1 {
			t.Fatalf("restart count %d after %d: lost or repeated", n, last)
		}
		last = n
		if prev != nil {
			r.remove(pod, prev) // the kubelet keeps the newest dead container
		}
		prev = c
	}
	for i := 0; i < 300; i++ {
		switch i {
		case 100:
			p.kill()
			p = r.startPlugin(args...)
		case 200:
			// Drop every connection while other requests are in flight.
			other := r.addPod("noise", "shop", "uid-noise", nil)
			var wg sync.WaitGroup
			var answered, unanswered int
			started := make(chan struct{})
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					if j == 10 {
						close(started) // the drop comes while the burst goes on
					}
					// Errors or answers without specguard are expected mid-drop.
					if _, adj, err := r.create(other, "noise-"+strconv.Itoa(j), nil); err == nil && adj.GetAnnotations()["specguard.io/restart-count"] != "" {
						answered++
					} else {
						unanswered++
					}
				}
			}()
			<-started
			r.restart()
			wg.Wait()
			p.waitRegistered()
			t.Logf("burst across the drop: %d answered by specguard, %d not", answered, unanswered)
			if answered < 10 {
				t.Fatalf("only %d of the burst answered before the drop", answered)
			}
		}
		attempt()
	}
	if last != 299 {
		t.Fatalf("last count %d, want 299", last)
	}
}

// TestPolicyFileFaults does to the policy file what editors, ConfigMap
// updates, full disks and careless admins do. Whatever happens, the plugin
// keeps answering with the last good policy, and the log says why a
// reload was refused; a good file put back takes effect.
func TestPolicyFileFaults(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	addr := freeAddr(t)
	doc := func(v string) string {
		return "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: v" + v +
			"\n    env: [{name: VERSION, value: \"" + v + "\"}]\n"
	}
	path := filepath.Join(r.dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(doc("1")), 0o644); err != nil {
		t.Fatal(err)
	}
	p := r.startPlugin("--config", path, "--metrics-addr", addr)
	pod := r.addPod("web-0", "shop", "uid-pf", nil)
	var prev *api.Container
	version := func() string {
		t.Helper()
		c, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatal(err)
		}
		if prev != nil {
			r.remove(pod, prev)
		}
		prev = c
		v, _ := envValue(adj, "VERSION")
		return v
	}
	const failures, successes = `specguard_policy_reloads_total{result="failure"}`, `specguard_policy_reloads_total{result="success"}`
	// refused waits for one more refusal; each is counted, then logged
	// once (run.go), so the log's n-th refusal is this one.
	refused := func(why string) {
		t.Helper()
		n := metric(t, addr, failures) + 1
		waitMetric(t, p, failures, n, 10*time.Second)
		if !p.logSays("policy reload refused", int(n)) {
			t.Fatalf("%v refusals counted, fewer logged:\n%s", n, p.Logs())
		}
		logs := p.Logs()
		last := logs[strings.LastIndex(logs, "policy reload refused"):]
		if !strings.Contains(last, why) {
			t.Errorf("the log does not say %q:\n%s", why, last)
		}
	}
	if v := version(); v != "1" {
		t.Fatalf("VERSION = %q", v)
	}

	steps := []struct {
		name string
		do   func()
		why  string // in the refusal's log line; "" means the reload succeeds
		want string // VERSION after the step
	}{
		{"deleted", func() { os.Remove(path) }, "no such file or directory", "1"},
		{"made unreadable (a directory in its place)", func() { os.Mkdir(path, 0o755) }, "is a directory", "1"},
		// Opening a FIFO waits for a writer: this wedged the watcher and SIGTERM.
		{"made unreadable (a FIFO in its place)", func() { os.RemoveAll(path); syscall.Mkfifo(path, 0o644) }, "is a named pipe (FIFO)", "1"},
		{"truncated mid-write", func() {
			os.RemoveAll(path)
			full := doc("2")
			os.WriteFile(path, []byte(full[:len(full)-12]), 0o644)
		}, "policy.yaml", "1"},
		{"write completed", func() { os.WriteFile(path, []byte(doc("2")), 0o644) }, "", "2"},
		{"replaced atomically", func() {
			os.WriteFile(path+".tmp", []byte(doc("3")), 0o644)
			os.Rename(path+".tmp", path)
		}, "", "3"},
		{"replaced atomically by garbage", func() {
			os.WriteFile(path+".tmp", []byte("\x00\xff{{{{"), 0o644)
			os.Rename(path+".tmp", path)
		}, "policy.yaml", "3"},
		{"emptied", func() { os.WriteFile(path, nil, 0o644) }, "policy.yaml", "3"},
	}
	for _, s := range steps {
		reloaded := metric(t, addr, successes)
		s.do()
		if s.why != "" {
			refused(s.why)
		} else {
			waitMetric(t, p, successes, reloaded+1, 10*time.Second)
			if !p.logSays("policy reloaded", int(reloaded)+1) {
				t.Errorf("%s: the reload is not logged:\n%s", s.name, p.Logs())
			}
		}
		if v := version(); v != s.want {
			t.Fatalf("%s: VERSION = %q, want %q\n%s", s.name, v, s.want, p.Logs())
		}
	}
	_, body := get(t, "http://"+addr+"/metrics")
	if !strings.Contains(body, `specguard_policy_reloads_total{result="failure"} 6`) {
		t.Errorf("no failed reloads in the metrics:\n%s", grepLines(body, "policy_reloads"))
	}
	if code, _ := get(t, "http://"+addr+"/readyz"); code != 200 {
		t.Errorf("readyz = %d with the last good policy in force", code)
	}
	// SIGTERM still stops it: a reload stuck opening the FIFO used to hold
	// the watcher, and the process with it.
	exited := make(chan int, 1)
	go func() { exited <- p.stop() }()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("exit code %d after SIGTERM", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("specguard did not stop on SIGTERM")
	}
}

// TestTenThousandRulePolicy: a huge policy hot-reloads, takes effect and
// answers in bounded time, and a plugin starts on it. The bounds are
// generous (a busy CI box under -race), there to catch a hang or a blow-up.
func TestTenThousandRulePolicy(t *testing.T) {
	// Not parallel: it bounds the first request at 2 s and times the reload and a registration.
	var b strings.Builder
	b.WriteString("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "  - name: r%d\n    match: {namespaces: [ns-%d], podLabels: {matchLabels: {app: a%d}}}\n"+
			"    env: [{name: R, value: \"{{ .Pod.Name }}-%d\"}]\n    resources: {memory: {limit: {default: 128Mi, max: 1Gi}}}\n", i, i, i, i)
	}
	r := newRuntime(t)
	path := writePolicy(t, r.dir, "  rules: []\n")
	p := r.startPlugin("--config", path)
	pod := r.addPod("a9999", "ns-9999", "uid-big", nil)

	os.WriteFile(path+".tmp", []byte(b.String()), 0o644)
	start := time.Now()
	os.Rename(path+".tmp", path)
	waitMetric(t, p, `specguard_policy_reloads_total{result="success"}`, 1, time.Minute)
	reload := time.Since(start)
	if !p.logSays("policy reloaded", 1) {
		t.Errorf("the reload is not logged:\n%s", p.Logs())
	}
	start = time.Now()
	_, adj, err := r.create(pod, "app", nil)
	first := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := envValue(adj, "R"); v != "a9999-9999" {
		t.Fatalf("R = %q: the last rule did not apply", v)
	}
	p.kill()
	start = time.Now()
	r.startPlugin("--config", path)
	startup := time.Since(start)
	t.Logf("10,000 rules (%d KiB): hot reload in %v (200 ms of it the watcher's debounce), first CreateContainer in %v, a new plugin registered in %v",
		b.Len()>>10, reload.Round(time.Millisecond), first.Round(time.Microsecond), startup.Round(time.Millisecond))
	if first > 2*time.Second {
		t.Fatalf("first CreateContainer took %v", first)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestHostileAnnotationsThroughNRI: pod annotations that specguard quotes or
// renders come back over NRI as a valid reply or a clear refusal, never as
// a reply the plugin cannot send (before the fix, a long multi-byte
// annotation quoted by an audit rule failed every creation in the pod with
// "ttrpc: error marshaling payload: string field contains invalid UTF-8").
func TestHostileAnnotationsThroughNRI(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	r.startPlugin("--config", writePolicy(t, r.dir, `  rules:
  - name: watch
    mode: audit
    match: {namespaces: [audit]}
    env: [{name: NOTE, value: "{{ .Pod.Annotations.note }}"}]
  - name: copy
    match: {namespaces: [enforce]}
    env: [{name: NOTE, value: "{{ .Pod.Annotations.note }}"}]
`))
	for name, c := range map[string]struct {
		ns, note, refusal string
	}{
		"audit quotes a long multi-byte value": {"audit", "a" + strings.Repeat("é", 200), ""},
		"NUL into env":                         {"enforce", "a\x00b", "NUL byte"},
		"past the render bound":                {"enforce", strings.Repeat("x", 1<<20), "exceeds 16384 bytes"},
	} {
		t.Run(name, func(t *testing.T) {
			pod := r.addPod("web-0", c.ns, "uid-"+strings.ReplaceAll(name, " ", "-"), map[string]string{"note": c.note})
			_, adj, err := r.create(pod, "app", nil)
			switch {
			case c.refusal == "" && err != nil:
				t.Fatalf("creation failed: %v", err)
			case c.refusal != "" && (err == nil || !strings.Contains(err.Error(), c.refusal)):
				t.Fatalf("error %v does not say %q", err, c.refusal)
			case c.refusal == "" && adj.GetAnnotations()["specguard.io/restart-count"] != "0":
				t.Fatalf("not answered by specguard: %v", adj.GetAnnotations())
			}
		})
	}
}

// TestPluginKilledDuringConcurrentChurn kills specguard three times while
// four workers restart their containers as fast as they can. Each plugin
// answers every worker 20 times before it is killed, and each outage
// lasts until a creation has gone ahead without specguard or failed; the
// workers stop once the last plugin has answered each of them. Each worker
// plays the kubelet: it numbers its attempts and writes the number in
// io.kubernetes.container.restartCount, as the kubelet does. Creations
// during an outage go ahead without specguard (the runtime's fail-open
// default) or fail. Every creation specguard answers carries the
// kubelet's number, and specguard's own tracked count, recovered after
// each kill, never differs from it (no drift logged): none lost, none
// repeated.
func TestPluginKilledDuringConcurrentChurn(t *testing.T) {
	t.Parallel()
	r := newRuntime(t)
	plugins := []*plugin{r.startPlugin()}
	const workers = 4
	stop := make(chan struct{}) // closed by halt
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	answered := make([]atomic.Int32, workers)
	var unanswered atomic.Int32 // creations that went ahead without specguard or failed
	for w := 0; w < workers; w++ {
		pod := r.addPod("churn-"+strconv.Itoa(w), "shop", "uid-kill-"+strconv.Itoa(w), nil)
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			created := 0
			var prev *api.Container
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, adj, err := r.create(pod, "app", func(c *api.Container) {
					c.Annotations["io.kubernetes.container.restartCount"] = strconv.Itoa(created)
				})
				if err != nil {
					unanswered.Add(1)
					continue // refused mid-kill: the kubelet retries with the same number
				}
				if v, ok := adj.GetAnnotations()["specguard.io/restart-count"]; ok {
					if v != strconv.Itoa(created) {
						errs <- fmt.Errorf("worker %d attempt %d: restart count %s, the kubelet's is %d", w, i, v, created)
						return
					}
					answered[w].Add(1)
				} else {
					unanswered.Add(1)
				}
				created++
				if prev != nil {
					r.remove(pod, prev) // the kubelet keeps the newest dead container
				}
				prev = c
				time.Sleep(time.Millisecond)
			}
		}(w)
	}
	// The workers stop before the runtime does, however the test ends.
	var halted sync.Once
	halt := func() { halted.Do(func() { close(stop); wg.Wait() }) }
	t.Cleanup(halt)
	// answeredEach waits until the plugin running now has answered every
	// worker 20 more times, or a worker has failed.
	answeredEach := func(when string) {
		t.Helper()
		var from, now [workers]int32
		for w := range answered {
			from[w] = answered[w].Load()
		}
		if !eventually(10*time.Second, func() bool {
			for w := range answered {
				if now[w] = answered[w].Load(); now[w] < from[w]+20 {
					return len(errs) > 0
				}
			}
			return true
		}) {
			t.Fatalf("%s: answered per worker %v, want 20 more than %v within 10s", when, now, from)
		}
		if len(errs) > 0 {
			t.Fatal(<-errs)
		}
	}
	for k := 0; k < 3; k++ {
		answeredEach("before kill " + strconv.Itoa(k+1))
		plugins[len(plugins)-1].kill()
		before := unanswered.Load()
		if !eventually(10*time.Second, func() bool { return unanswered.Load() > before || len(errs) > 0 }) {
			t.Fatalf("kill %d: every creation still answered by specguard after 10s", k+1)
		}
		plugins = append(plugins, r.startPlugin())
	}
	answeredEach("after the last restart")
	halt()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	counts := make([]int32, workers)
	for w := range answered {
		counts[w] = answered[w].Load()
	}
	t.Logf("answered by specguard per worker: %v", counts)
	for w, n := range counts {
		if n < 20 {
			t.Errorf("worker %d: only %d creations answered", w, n)
		}
	}
	for i, p := range plugins {
		if strings.Contains(p.Logs(), "restart count drift") {
			t.Errorf("plugin %d: the tracked count differed from the kubelet's:\n%s", i, grepLines(p.Logs(), "count drift"))
		}
		if i > 0 && !p.logSays("restartCountSource=kubelet", 1) {
			t.Errorf("plugin %d answered nothing", i)
		}
	}
}
