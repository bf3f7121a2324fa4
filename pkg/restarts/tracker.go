// Package restarts tracks container restart counts per (pod UID, container
// name) from the runtime's own state, the way the kubelet counts attempts.
//
// A count is assigned when a container is created and becomes the base for
// the next one only once the runtime confirms the creation, so a refused
// creation is retried with the same count: no gap and no repeat. After a
// plugin restart the counts are recovered from the annotations specguard
// wrote on the containers that still exist.
package restarts

import (
	"slices"
	"sync"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/kubelet"
)

// Key identifies a container across restarts: the kubelet numbers attempts
// per container name within one pod UID.
type Key struct {
	PodUID    string
	Container string
}

// Source says where a restart count came from.
type Source string

const (
	SourceKubelet Source = "kubelet" // io.kubernetes.container.restartCount
	SourceTracked Source = "tracked" // one past the newest count seen
	SourceLogDir  Source = "log-dir" // the kubelet's log-directory fallback
	SourceNone    Source = "none"    // nothing known: a first start
)

// Assignment is the count given to a container being created.
type Assignment struct {
	Count  int
	Source Source
	// Tracked is what the tracker alone would have given, or -1 if it knew
	// nothing of this container.
	Tracked int
	// Drift is set when the kubelet's count differs from Tracked.
	Drift bool
}

// pod is what the tracker knows of one pod UID. A pod has a handful of
// containers, so its state is kept in small slices scanned in place: three
// maps per pod were most of the tracker's memory at 10,000 containers.
type pod struct {
	names []nameState // one per container name
	live  []string    // IDs of this pod's existing containers
}

// nameState is what the tracker knows of one container name in a pod.
type nameState struct {
	name       string
	newest     int // highest confirmed count, when hasNewest
	pending    int // count assigned at create, when hasPending
	hasNewest  bool
	hasPending bool
}

// state returns name's state in p, adding it if create is set.
func (p *pod) state(name string, create bool) *nameState {
	for i := range p.names {
		if p.names[i].name == name {
			return &p.names[i]
		}
	}
	if !create {
		return nil
	}
	p.names = append(p.names, nameState{name: name})
	return &p.names[len(p.names)-1]
}

// Tracker holds restart counts. It is safe for concurrent use.
type Tracker struct {
	// countLogDir reads the kubelet's log-directory fallback; it is the one
	// piece of I/O and is passed in.
	countLogDir func(podLogDir, container string) (int, error)

	mu   sync.Mutex
	pods map[string]*pod // by pod UID
	live int
}

// NewTracker returns an empty tracker. countLogDir may be nil, which
// disables the log-directory fallback.
func NewTracker(countLogDir func(podLogDir, container string) (int, error)) *Tracker {
	return &Tracker{countLogDir: countLogDir, pods: map[string]*pod{}}
}

// CountAnnotations are the annotations CountFromAnnotations reads, in
// order: the one specguard wrote, then the kubelet's.
var CountAnnotations = [...]string{annotations.RestartCount, kubelet.ContainerRestartCountAnnotation}

// CountFromAnnotations reads a container's restart count from the
// annotation specguard wrote, else from the kubelet's.
func CountFromAnnotations(a map[string]string) (int, bool) {
	for _, k := range CountAnnotations {
		if n, ok := kubelet.ParseRestartCount(a[k]); ok {
			return n, true
		}
	}
	return 0, false
}

// KubeletCount reads the kubelet's io.kubernetes.container.restartCount.
func KubeletCount(a map[string]string) (int, bool) {
	return kubelet.ParseRestartCount(a[kubelet.ContainerRestartCountAnnotation])
}

func (t *Tracker) pod(uid string) *pod {
	p, ok := t.pods[uid]
	if !ok {
		p = &pod{}
		t.pods[uid] = p
	}
	return p
}

// Observe records an existing container, as seen at Synchronize or from a
// lifecycle event. count < 0 means its count is unknown.
func (t *Tracker) Observe(id string, key Key, count int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.observe(t.pod(key.PodUID), id, key.Container, count)
}

func (t *Tracker) observe(p *pod, id, name string, count int) {
	if count >= 0 {
		if st := p.state(name, true); !st.hasNewest || count > st.newest {
			st.newest, st.hasNewest = count, true
		}
	}
	if id != "" && !slices.Contains(p.live, id) {
		p.live = append(p.live, id)
		t.live++
	}
}

// Assign decides the count for a container being created: the kubelet's
// when given, else one past the newest tracked, else the log directory's,
// else 0. The count is remembered as pending until Confirm.
func (t *Tracker) Assign(key Key, kubeletCount int, hasKubelet bool, podLogDir string) Assignment {
	t.mu.Lock()
	var newest int
	var known bool
	if st := t.pod(key.PodUID).state(key.Container, false); st != nil {
		newest, known = st.newest, st.hasNewest
	}
	t.mu.Unlock()

	a := Assignment{Tracked: -1}
	if known {
		a.Tracked = newest + 1
	}
	switch {
	case hasKubelet:
		a.Count, a.Source = kubeletCount, SourceKubelet
		a.Drift = known && a.Tracked != kubeletCount
	case known:
		a.Count, a.Source = a.Tracked, SourceTracked
	default:
		a.Count, a.Source = 0, SourceNone
		// A name that is not one path element would read outside the
		// pod's log directory.
		if t.countLogDir != nil && podLogDir != "" && kubelet.IsPathComponent(key.Container) {
			// The directory is read outside the lock.
			if n, err := t.countLogDir(podLogDir, key.Container); err == nil && n > 0 {
				a.Count, a.Source = n, SourceLogDir
			}
		}
	}

	t.mu.Lock()
	st := t.pod(key.PodUID).state(key.Container, true)
	st.pending, st.hasPending = a.Count, true
	t.mu.Unlock()
	return a
}

// Confirm records that the container was created with the count assigned
// to it, making that count the base for the next one.
func (t *Tracker) Confirm(id string, key Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pods[key.PodUID]
	if !ok {
		return
	}
	st := p.state(key.Container, false)
	if st == nil || !st.hasPending {
		return
	}
	st.hasPending = false
	t.observe(p, id, key.Container, st.pending)
}

// Remove forgets a removed container; its count stays the base for the next.
func (t *Tracker) Remove(id string, key Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pods[key.PodUID]; ok {
		if i := slices.Index(p.live, id); i >= 0 {
			last := len(p.live) - 1
			p.live[i], p.live[last] = p.live[last], ""
			p.live = p.live[:last]
			t.live--
		}
	}
}

// ForgetPod drops everything known about a removed pod: a new pod UID
// starts again at 0.
func (t *Tracker) ForgetPod(uid string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pods[uid]; ok {
		t.live -= len(p.live)
		delete(t.pods, uid)
	}
}

// Live returns the number of containers known to exist.
func (t *Tracker) Live() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.live
}

// Pods returns the number of pods tracked.
func (t *Tracker) Pods() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.pods)
}

// Newest returns the highest confirmed count for key.
func (t *Tracker) Newest(key Key) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pods[key.PodUID]
	if !ok {
		return 0, false
	}
	if st := p.state(key.Container, false); st != nil && st.hasNewest {
		return st.newest, true
	}
	return 0, false
}

// Observed is an existing container as the runtime reports it.
type Observed struct {
	ID    string
	Key   Key
	Count int // < 0 when unknown
}

// Resync replaces what the tracker knows of live containers with the
// runtime's view (Synchronize): counts of pods that still exist are kept
// and raised by what the containers carry; pods that are gone are dropped.
func (t *Tracker) Resync(podUIDs []string, containers []Observed) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := make(map[string]*pod, len(podUIDs))
	for _, uid := range podUIDs {
		p, ok := t.pods[uid]
		if !ok {
			p = &pod{}
		}
		clear(p.live)
		p.live = p.live[:0]
		keep[uid] = p
	}
	t.pods, t.live = keep, 0
	for _, c := range containers {
		t.observe(t.pod(c.Key.PodUID), c.ID, c.Key.Container, c.Count)
	}
}
