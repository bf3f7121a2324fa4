// Package restarts tracks container restart counts per (pod UID, container
// name) from the runtime's own state, the way the kubelet counts attempts.
//
// A count is assigned when a container is created. By default it becomes
// the base for the next one as soon as specguard lets the creation through
// (Commit): that costs the runtime no second request. A creation that fails
// after specguard's answer is given back (Undo), from containerd's own
// report of the failure or from specguard's validator, so a refused
// creation is retried with the same count and no count is repeated. In the
// exact mode the count becomes the base only once the runtime confirms the
// creation (Confirm, at PostCreateContainer). After a plugin restart the
// counts are recovered from the annotations specguard wrote on the
// containers that still exist.
package restarts

import (
	"math"
	"slices"
	"strings"
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
	SourceGiven   Source = "given"   // taken as given (explain's --restart-count)
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
// Counts are uint32, as CRI's attempt is: at 10,000 containers every byte
// here is 10 KB of specguard's memory.
type nameState struct {
	name string
	// inflight is the ID of the newest creation committed and not yet seen
	// to exist (by a removal, a confirmation or Synchronize); before is
	// what newest was until then, for Undo.
	inflight   string
	newest     uint32 // highest count in use, when hasNewest
	pending    uint32 // count assigned at create, when hasPending
	before     uint32 // newest before the inflight commit, when hasBefore
	hasNewest  bool
	hasPending bool
	hasBefore  bool
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
	// A copy: the name may point into a request the tracker must not pin.
	p.names = append(p.names, nameState{name: strings.Clone(name)})
	return &p.names[len(p.names)-1]
}

// raise makes count the newest if it is higher.
func (st *nameState) raise(count int) {
	if c := clampCount(count); !st.hasNewest || c > st.newest {
		st.newest, st.hasNewest = c, true
	}
}

// maxCount is the highest count the tracker keeps or gives: CRI's attempt
// is a uint32, and an int must hold it (on 32-bit platforms, 2^31-1).
// Counts come from the kubelet's annotation and log file names (at most
// 2^31-1) or one past a tracked count: only 2^32 restarts of one container
// would reach it.
const maxCount = min(math.MaxUint32, math.MaxInt)

// clampCount bounds a count to [0, maxCount].
func clampCount(n int) uint32 {
	return uint32(max(0, min(n, maxCount)))
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

// pod returns uid's state, adding it (with a copy of uid) if missing.
func (t *Tracker) pod(uid string) *pod {
	p, ok := t.pods[uid]
	if !ok {
		p = &pod{}
		t.pods[strings.Clone(uid)] = p
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
	st := p.state(name, count >= 0)
	if count >= 0 {
		st.raise(count)
	}
	if st != nil && id != "" && st.inflight == id {
		st.inflight, st.hasBefore = "", false // it exists: no undo now
	}
	t.addLive(p, id)
}

// addLive records id as an existing container of p. The tracker keeps
// the string: callers pass one that does not pin a request.
func (t *Tracker) addLive(p *pod, id string) {
	if id != "" && !slices.Contains(p.live, id) {
		p.live = append(p.live, id)
		t.live++
	}
}

// removeLive forgets id as an existing container of p.
func (t *Tracker) removeLive(p *pod, id string) {
	if i := slices.Index(p.live, id); i >= 0 {
		last := len(p.live) - 1
		p.live[i], p.live[last] = p.live[last], ""
		p.live = p.live[:last]
		t.live--
	}
}

// Assign decides the count for a container being created: the kubelet's
// when given, else one past the newest tracked, else the log directory's,
// else 0. The count is remembered as pending until Commit or Confirm.
// Strings in key are copied before the tracker keeps them.
func (t *Tracker) Assign(key Key, kubeletCount int, hasKubelet bool, podLogDir string) Assignment {
	t.mu.Lock()
	var newest int
	var known bool
	if p, ok := t.pods[key.PodUID]; ok {
		if st := p.state(key.Container, false); st != nil {
			newest, known = int(st.newest), st.hasNewest
		}
	}
	t.mu.Unlock()

	a := Assignment{Tracked: -1}
	if known {
		a.Tracked = min(newest, maxCount-1) + 1
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
	st.pending, st.hasPending = clampCount(a.Count), true
	t.mu.Unlock()
	return a
}

// Commit records that specguard let the creation of container id go ahead
// with count: the count becomes the base for the next one at once, and id
// is taken to exist. Until the container is seen to exist the commit can be
// undone (Undo). id is kept as it is: it must not point into a request.
func (t *Tracker) Commit(id string, key Key, count int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.pod(key.PodUID)
	st := p.state(key.Container, true)
	st.before, st.hasBefore = st.newest, st.hasNewest
	st.inflight = id
	st.hasPending = false
	st.raise(count)
	t.addLive(p, id)
}

// Undo gives back the count of container id's creation, which failed after
// specguard let it through (the runtime never created it): if that
// creation is still the newest committed for key, newest goes back to what
// it was, so the retry gets the same count. id no longer counts as
// existing either way.
func (t *Tracker) Undo(id string, key Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pods[key.PodUID]
	if !ok {
		return
	}
	t.removeLive(p, id)
	if st := p.state(key.Container, false); st != nil && id != "" && st.inflight == id {
		st.newest, st.hasNewest = st.before, st.hasBefore
		st.inflight, st.hasBefore = "", false
	}
}

// Confirm records that the container was created with the count assigned
// to it, making that count the base for the next one (the exact mode: the
// runtime's PostCreateContainer). id is kept as it is.
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
	t.observe(p, id, key.Container, int(st.pending))
}

// Remove forgets a removed container; its count stays the base for the next.
func (t *Tracker) Remove(id string, key Key) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.pods[key.PodUID]; ok {
		t.removeLive(p, id)
		if st := p.state(key.Container, false); st != nil && id != "" && st.inflight == id {
			st.inflight, st.hasBefore = "", false // it existed: its count stays used
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

// Newest returns the highest count in use for key.
func (t *Tracker) Newest(key Key) (int, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.pods[key.PodUID]
	if !ok {
		return 0, false
	}
	if st := p.state(key.Container, false); st != nil && st.hasNewest {
		return int(st.newest), true
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
// No commit can be undone after it: the runtime's containers are now the
// truth, and a creation missing from them either failed or was created
// and removed while specguard was away, which cannot be told apart; the
// count stays used (a possible gap rather than a possible repeat).
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
		for i := range p.names {
			p.names[i].inflight, p.names[i].hasBefore = "", false
		}
		keep[uid] = p
	}
	t.pods, t.live = keep, 0
	for _, c := range containers {
		t.observe(t.pod(c.Key.PodUID), c.ID, c.Key.Container, c.Count)
	}
}
