package cluster

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"encoding/json"
)

// attempt is one container of the crash-looping pod, as the watcher saw it.
type attempt struct {
	id            string
	kubeletCount  string // the kubelet's io.kubernetes.container.restartCount
	specguard     string // specguard.io/restart-count in the runtime spec ("" without specguard)
	mirrored      string // io.kubernetes.container.restartCount in the runtime spec
	specguardPath string // specguard.io/log-path
	criLogPath    string // the log path the kubelet gave the runtime
	statusCount   int    // the pod status's restartCount while this was the current container (-1: not seen)
	printed       string // what the container printed, read from its log file
}

// crashLoop watches the containers of a crash-looping pod (exit 1,
// restartPolicy Always) through the runtime and the pod status, recording
// every attempt before the kubelet's garbage collection removes it.
type crashLoop struct {
	c    *cluster
	name string

	mu       sync.Mutex
	attempts map[string]*attempt
	errs     []string
	stop     chan struct{}
	done     chan struct{}
}

// Each attempt lives a few seconds: the kubelet removes a dead container
// as soon as the next attempt has died (it keeps one per container), and
// the watcher must see every attempt before that.
const crashLoopCommand = `echo "attempt=$RESTART_COUNT path=$POD_LOG_PATH"; sleep 5; exit 1`

func (c *cluster) startCrashLoop(name string) *crashLoop {
	c.t.Helper()
	c.apply(podManifest(name, crashLoopCommand, ""))
	w := &crashLoop{c: c, name: name, attempts: map[string]*attempt{}, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

// run scans the runtime and the pod status in two loops, so that a slow
// kubectl call never delays the runtime scan that must see each attempt.
func (w *crashLoop) run() {
	defer close(w.done)
	var wg sync.WaitGroup
	loop := func(every time.Duration, scan func()) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			scan()
		}
	}
	wg.Add(2)
	go loop(200*time.Millisecond, w.scanRuntime)
	go loop(500*time.Millisecond, w.scanStatus)
	wg.Wait()
}

func (w *crashLoop) fail(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.errs) < 20 {
		w.errs = append(w.errs, fmt.Sprintf(format, args...))
	}
}

// scanRuntime records new containers of the pod and reads the output of
// exited ones.
func (w *crashLoop) scanRuntime() {
	out, err := w.c.n.Stack.Crictl("ps", "-a", "-o", "json", "--label", "io.kubernetes.pod.name="+w.name,
		"--label", "io.kubernetes.pod.namespace="+testNS)
	if err != nil {
		return // containerd briefly unreachable: the next tick retries
	}
	var list struct {
		Containers []struct {
			ID    string `json:"id"`
			State string `json:"state"`
		} `json:"containers"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		w.fail("crictl ps: %v", err)
		return
	}
	for _, ctr := range list.Containers {
		w.mu.Lock()
		a := w.attempts[ctr.ID]
		w.mu.Unlock()
		if a != nil && a.printed != "" {
			continue
		}
		if a == nil {
			in, err := w.c.inspect(ctr.ID)
			if err != nil {
				continue
			}
			a = &attempt{id: ctr.ID, statusCount: -1,
				kubeletCount:  in.Status.Annotations["io.kubernetes.container.restartCount"],
				specguard:     in.Info.RuntimeSpec.Annotations["specguard.io/restart-count"],
				mirrored:      in.Info.RuntimeSpec.Annotations["io.kubernetes.container.restartCount"],
				specguardPath: in.Info.RuntimeSpec.Annotations["specguard.io/log-path"],
				criLogPath:    in.Status.LogPath}
			w.mu.Lock()
			if old := w.attempts[ctr.ID]; old != nil {
				a = old
			} else {
				w.attempts[ctr.ID] = a
			}
			w.mu.Unlock()
		}
		if ctr.State == "CONTAINER_EXITED" && a.criLogPath != "" {
			if b, err := os.ReadFile(a.criLogPath); err == nil && len(b) > 0 {
				w.mu.Lock()
				a.printed = criLogMessages(string(b))
				w.mu.Unlock()
			}
		}
	}
}

// scanStatus records the pod status's restart count for its current container.
func (w *crashLoop) scanStatus() {
	p, err := w.c.getPod(testNS, w.name)
	if err != nil || len(p.Status.ContainerStatuses) == 0 {
		return
	}
	s := p.Status.ContainerStatuses[0]
	id := containerID(s.ContainerID)
	if id == "" {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if a := w.attempts[id]; a != nil {
		a.statusCount = int(s.RestartCount)
	} else {
		w.attempts[id] = &attempt{id: id, statusCount: int(s.RestartCount)}
	}
}

// criLogMessages returns the messages of a CRI log file ("<time> <stream>
// <tag> <message>" per line), joined by newlines.
func criLogMessages(s string) string {
	var msgs []string
	for _, line := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) == 4 {
			msgs = append(msgs, parts[3])
		}
	}
	return strings.Join(msgs, "\n")
}

// waitAttempts waits until the watcher has seen n+1 consecutive attempts
// (n restarts in a row) beginning at from or later. On a loaded machine a
// scan can come too late for an attempt the kubelet has already removed;
// what is seen must be right, and a run of n+1 must be seen.
func (w *crashLoop) waitAttempts(from, n int, timeout time.Duration) error {
	return eventually(timeout, 500*time.Millisecond, func() error {
		seen := w.kubeletCounts()
		run := 0
		for _, k := range keys(seen) {
			if k < from {
				continue
			}
			if run > 0 && seen[k-1] {
				run++
			} else {
				run = 1
			}
			if run > n {
				return nil
			}
		}
		return fmt.Errorf("no %d consecutive attempts from %d seen yet (seen %v)", n+1, from, keys(seen))
	})
}

// newest returns the highest count the kubelet has given an attempt seen.
func (w *crashLoop) newest() int {
	ks := keys(w.kubeletCounts())
	if len(ks) == 0 {
		return -1
	}
	return ks[len(ks)-1]
}

func (w *crashLoop) kubeletCounts() map[int]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := map[int]bool{}
	for _, a := range w.attempts {
		if k, err := strconv.Atoi(a.kubeletCount); err == nil {
			seen[k] = true
		}
	}
	return seen
}

func keys(m map[int]bool) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// finish stops the watcher.
func (w *crashLoop) finish() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// snapshot returns the attempts seen so far, ordered by the kubelet's count.
func (w *crashLoop) snapshot() []attempt {
	w.mu.Lock()
	defer w.mu.Unlock()
	var as []attempt
	for _, a := range w.attempts {
		if a.kubeletCount != "" {
			as = append(as, *a)
		}
	}
	sort.Slice(as, func(i, j int) bool {
		a, _ := strconv.Atoi(as[i].kubeletCount)
		b, _ := strconv.Atoi(as[j].kubeletCount)
		return a < b
	})
	return as
}
