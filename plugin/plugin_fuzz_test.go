package plugin

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// The plugin's handlers are fuzzed under two policies a reload swaps
// between: enforce with a validation section, and audit with failurePolicy
// fail and none.
const fuzzEnforce = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  rules:
  - name: all
    env: [{name: RC, value: "{{ .RestartCount }} {{ .LogPath }} {{ .Pod.Labels.team }}"}]
    annotations: {add: {example.com/owner: "{{ .Pod.Annotations.owner }}"}}
    resources:
      memory: {limit: {default: 256Mi, max: 1Gi}}
      cpu: {shares: {min: 2, max: 2048}}
      pids: {limit: {default: 512, max: 4096}}
    overrides: {allow: [resources.memory.limit, resources.cpu.shares]}
  - name: guard
    security: {runAsNonRoot: true, hostNamespaces: deny, devices: deny, hostPaths: {allow: ["/var/lib/**"]}}
  validation: {denyHooks: true, denyHostMounts: true, denyDevices: true, denySeccomp: true, denyNamespaces: true}
`

const fuzzAudit = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: audit
  failurePolicy: fail
  rules:
  - name: all
    env: [{name: RC, value: "{{ .RestartCount }}"}]
    resources: {memory: {limit: {set: 64Mi}}}
    security: {runAsNonRoot: true}
`

// trackedGauge is a Recorder that keeps what the plugin last reported as
// specguard_tracked_containers.
type trackedGauge struct {
	nopRecorder
	mu sync.Mutex
	n  int
}

func (g *trackedGauge) SetTracked(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n = n
}

func (g *trackedGauge) get() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n
}

// fuzzModel is what the runtime knows: the containers that exist, with the
// count each was created with, and the newest count per (pod UID, name);
// and what the plugin may still give back: the count assigned and not yet
// confirmed (exact mode), the newest creation committed and not yet seen to
// exist (default mode).
type fuzzModel struct {
	live     map[string]map[string]liveCtr // pod UID -> container ID -> container
	newest   map[restarts.Key]int
	pending  map[restarts.Key]int
	inflight map[restarts.Key]inflightCtr
}

// inflightCtr is a creation committed at CreateContainer: its ID and what
// newest was before it (-1: nothing).
type inflightCtr struct {
	id     string
	before int
}

// commit is the default mode's CreateContainer that specguard allowed.
func (m *fuzzModel) commit(k restarts.Key, id string, count int) {
	before, ok := m.newest[k]
	if !ok {
		before = -1
	}
	m.observe(k.PodUID, id, k.Container, count)
	m.inflight[k] = inflightCtr{id: id, before: before}
}

// remove is a RemoveContainer: an undo gives the count of the newest
// in-flight creation back, any removal ends its in-flight state.
func (m *fuzzModel) remove(k restarts.Key, id string, undo bool) {
	delete(m.live[k.PodUID], id)
	if in, ok := m.inflight[k]; ok && in.id == id && id != "" {
		delete(m.inflight, k)
		if undo {
			if in.before < 0 {
				delete(m.newest, k)
			} else {
				m.newest[k] = in.before
			}
		}
	}
}

type liveCtr struct {
	name  string
	count int // < 0: unknown (no annotation)
}

func (m *fuzzModel) size() int {
	n := 0
	for _, ids := range m.live {
		n += len(ids)
	}
	return n
}

func (m *fuzzModel) observe(uid, id, name string, count int) {
	k := restarts.Key{PodUID: uid, Container: name}
	if old, ok := m.newest[k]; count >= 0 && (!ok || count > old) {
		m.newest[k] = count
	}
	if in, ok := m.inflight[k]; ok && in.id == id && id != "" {
		delete(m.inflight, k) // seen to exist
	}
	if id == "" {
		return
	}
	if m.live[uid] == nil {
		m.live[uid] = map[string]liveCtr{}
	}
	if _, ok := m.live[uid][id]; !ok {
		m.live[uid][id] = liveCtr{name: name, count: count}
	}
}

// synchronize is what Synchronize should leave in the tracker when the
// runtime reports pods and ctrs and the plugin knew nothing before.
func (m *fuzzModel) synchronize(pods []*api.PodSandbox, ctrs []*api.Container) {
	m.live, m.newest, m.pending = map[string]map[string]liveCtr{}, map[restarts.Key]int{}, map[restarts.Key]int{}
	m.inflight = map[restarts.Key]inflightCtr{}
	uidOf := map[string]string{}
	for _, p := range pods {
		uidOf[p.GetId()] = p.GetUid()
	}
	for _, c := range ctrs {
		uid, ok := uidOf[c.GetPodSandboxId()]
		if !ok {
			continue
		}
		n, ok := restarts.CountFromAnnotations(c.GetAnnotations())
		if !ok {
			n = -1
		}
		m.observe(uid, c.GetId(), c.GetName(), n)
	}
}

// FuzzPluginEvents drives the plugin's NRI handlers the way the runtime
// does, with pods and containers decoded from arbitrary protobuf, in either
// restart-count mode: a Synchronize, then a script of creations,
// confirmations (exact mode), containerd undoing creations (default mode),
// removals, pod removals, validations, policy reloads and
// re-synchronizations (a plugin restart). Properties: no handler panics;
// every reply can be sent (the adjustment marshals, an error is valid
// UTF-8); the count given to a container is the kubelet's when it sends
// one, else one past the newest count in use (committed, confirmed or on
// the runtime's containers, less what undone creations gave back), else 0:
// no count lost or repeated; the tracked-containers gauge and the tracker
// follow the live containers exactly.
func FuzzPluginEvents(f *testing.F) {
	// Reloads go through the store, the policy's only writer, as the
	// runtime's supplied policy does.
	pol := policy.NewStaticStore(policy.Default())
	supply := func(tb testing.TB, name, doc string) {
		if _, err := pol.Supply(name, []byte(doc)); err != nil {
			tb.Fatal(err)
		}
	}
	supply(f, "enforce.yaml", fuzzEnforce)
	l := logrus.New()
	l.SetOutput(io.Discard)
	// One plugin per restart-count mode for the whole run, as in
	// production: its decision worker and record queue live across
	// requests. Synchronize(nil, nil) resets the tracker between inputs.
	// The count the plugin assigned reaches the engine whether or not the
	// container is then refused.
	var assigned atomic.Int64
	decide := func(pol *policy.Policy, req *engine.Request) *engine.Decision {
		assigned.Store(int64(req.Facts.Restart.Count))
		return engine.Decide(pol, req)
	}
	ctx := context.Background()
	type fuzzPlugin struct {
		p       *Plugin
		tracker *restarts.Tracker
		gauge   *trackedGauge
	}
	var plugins [2]fuzzPlugin // default, exact
	for i := range plugins {
		fp := fuzzPlugin{tracker: restarts.NewTracker(nil), gauge: &trackedGauge{}}
		var err error
		fp.p, err = New(Config{Policy: pol, Tracker: fp.tracker, Log: logrus.NewEntry(l), Recorder: fp.gauge,
			Deadline: 10 * time.Second, Decide: decide, Audit: func(AuditRecord) {}, ExactRestartCounts: i == 1})
		if err != nil {
			f.Fatal(err)
		}
		if _, err := fp.p.Configure(ctx, "", "containerd", "v2.4.2"); err != nil {
			f.Fatal(err)
		}
		plugins[i] = fp
	}

	seed := func(sync *api.SynchronizeRequest, tmpl *api.Container, val *api.ValidateContainerAdjustmentRequest, script []byte) {
		sb, _ := proto.Marshal(sync)
		cb, _ := proto.Marshal(tmpl)
		vb, _ := proto.Marshal(val)
		f.Add(sb, cb, vb, script)
	}
	podNS := []*api.LinuxNamespace{{Type: "network", Path: "/proc/42/ns/net"}, {Type: "pid"}, {Type: "ipc", Path: "/proc/42/ns/ipc"}}
	existing := &api.SynchronizeRequest{
		Pods: []*api.PodSandbox{{Id: "sb0", Uid: "u0", Name: "web-0", Namespace: "team-a"},
			{Id: "sbx", Uid: "ux", Name: "gone", Namespace: "n"}},
		Containers: []*api.Container{
			{Id: "old", PodSandboxId: "sb0", Name: "c0", Annotations: map[string]string{"specguard.io/restart-count": "7"}},
			{Id: "kub", PodSandboxId: "sb0", Name: "c1", Annotations: map[string]string{"io.kubernetes.container.restartCount": "3"}},
			{Id: "bad", PodSandboxId: "sb0", Name: "c0", Annotations: map[string]string{"specguard.io/restart-count": "-1"}},
			{Id: "orphan", PodSandboxId: "nope", Name: "c0"},
			{Id: "", PodSandboxId: "sbx", Name: "noid", Annotations: map[string]string{"specguard.io/restart-count": "2147483647"}},
		}}
	plain := &api.Container{User: &api.User{Uid: 1000}, Linux: &api.LinuxContainer{Namespaces: podNS, Resources: &api.LinuxResources{Memory: &api.LinuxMemory{Limit: api.Int64(4 << 30)}}}}
	hostile := &api.Container{User: &api.User{Uid: 0},
		Labels:      map[string]string{"io.kubernetes.pod.name": "other"},
		Annotations: map[string]string{"io.kubernetes.container.restartCount": "5"},
		Mounts:      []*api.Mount{{Source: "/etc", Destination: "/x", Type: "bind"}},
		Linux:       &api.LinuxContainer{Namespaces: []*api.LinuxNamespace{{Type: "pid"}}}}
	val := &api.ValidateContainerAdjustmentRequest{
		Pod: &api.PodSandbox{Name: "p", Namespace: "n"}, Container: &api.Container{Name: "c"},
		Adjust: &api.ContainerAdjustment{Hooks: &api.Hooks{Prestart: []*api.Hook{{Path: "/hook"}}},
			Mounts: []*api.Mount{{Source: "/", Destination: "/host", Type: "bind"}}},
		Owners:  &api.OwningPlugins{},
		Plugins: []*api.PluginInstance{{Name: "hooker", Index: "10"}},
	}
	// Script bytes: the first picks the mode (even: default, odd: exact);
	// then op = b%8, operands from the following byte.
	seed(existing, plain, val, []byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 7, 0, 0, 0})
	seed(existing, plain, val, []byte{1, 0, 0, 1, 0, 0, 0, 1, 0, 2, 0, 0, 0, 7, 0, 0, 0})
	seed(existing, hostile, val, []byte{0, 0, 1, 1, 1, 4, 0, 6, 0, 0, 1, 1, 1, 3, 1, 0, 1})
	seed(&api.SynchronizeRequest{}, &api.Container{}, &api.ValidateContainerAdjustmentRequest{}, []byte{1, 0, 2, 5, 0, 2, 2, 4, 4, 7, 0, 0, 2})
	seed(existing, plain, val, []byte{0, 0, 3, 1, 3, 0, 3, 1, 3, 7, 0, 2, 0, 0, 3, 1, 3, 3, 0, 7, 0, 0, 3})
	// Default mode: creations undone by the runtime (op 2) and by the
	// validator (op 5 on a created one), normal and undo-shaped removals.
	seed(existing, plain, val, []byte{0, 0, 0, 0, 0, 2, 1, 0, 0, 3, 1, 0, 0, 5, 3, 0, 0, 3, 2, 7, 0, 0, 0})

	f.Fuzz(func(t *testing.T, syncBytes, tmplBytes, valBytes, script []byte) {
		var sync api.SynchronizeRequest
		tmpl, val := &api.Container{}, &api.ValidateContainerAdjustmentRequest{}
		if proto.Unmarshal(syncBytes, &sync) != nil || proto.Unmarshal(tmplBytes, tmpl) != nil || proto.Unmarshal(valBytes, val) != nil {
			return
		}
		if len(sync.Pods) > 16 || len(sync.Containers) > 64 || len(script) > 256 || len(script) == 0 {
			return
		}
		fp := plugins[script[0]%2]
		p, tracker, gauge, exact := fp.p, fp.tracker, fp.gauge, script[0]%2 == 1
		script = script[1:]
		supply(t, "enforce.yaml", fuzzEnforce)
		m := &fuzzModel{}
		check := func(after string) {
			t.Helper()
			if live, n, g := tracker.Live(), m.size(), gauge.get(); live != n || g != n {
				t.Fatalf("after %s: tracker %d, gauge %d, live containers %d", after, live, g, n)
			}
		}
		checkNewest := func(k restarts.Key) {
			t.Helper()
			if n, ok := tracker.Newest(k); ok != hasKey(m.newest, k) || n != m.newest[k] {
				t.Fatalf("%v: tracker's newest %d (%v), want %d (%v)", k, n, ok, m.newest[k], hasKey(m.newest, k))
			}
		}
		mustSync := func(pods []*api.PodSandbox, ctrs []*api.Container) {
			t.Helper()
			if _, err := p.Synchronize(ctx, nil, nil); err != nil { // a fresh plugin
				t.Fatal(err)
			}
			if _, err := p.Synchronize(ctx, pods, ctrs); err != nil {
				t.Fatal(err)
			}
			m.synchronize(pods, ctrs)
			check("Synchronize")
		}
		mustSync(sync.Pods, sync.Containers)

		// The pods the script acts on: three of its own and those synchronized.
		linux := func() *api.LinuxPodSandbox {
			return &api.LinuxPodSandbox{Namespaces: []*api.LinuxNamespace{{Type: "network", Path: "/proc/42/ns/net"},
				{Type: "pid", Path: "/proc/42/ns/pid"}, {Type: "ipc", Path: "/proc/42/ns/ipc"}}}
		}
		pool := []*api.PodSandbox{
			{Id: "sb0", Uid: "u0", Name: "web-0", Namespace: "team-a", Labels: map[string]string{"team": "blue"}, Linux: linux()},
			{Id: "sb1", Uid: "u1", Name: "web-1", Namespace: "team-a", Annotations: map[string]string{"owner": "é"}, Linux: linux()},
			{Id: "sb2", Uid: "u2", Name: "db-0", Namespace: "kube-system"},
		}
		pool = append(pool, sync.Pods...)
		names := []string{"c0", "c1", tmpl.GetName()}
		// What the runtime sent CreateContainer for, allowed or not.
		var created []struct {
			pod      *api.PodSandbox
			name, id string
		}
		seq := 0
		for i := 0; i+1 < len(script); i += 2 {
			op, arg := script[i]%8, int(script[i+1])
			pod := pool[arg%len(pool)]
			name := names[(arg/len(pool))%len(names)]
			key := restarts.Key{PodUID: pod.GetUid(), Container: name}
			switch op {
			case 0, 1: // CreateContainer; op 1 also sends the kubelet's count
				c := proto.Clone(tmpl).(*api.Container)
				seq++
				c.Id, c.PodSandboxId, c.Name = "ctr"+strconv.Itoa(seq), pod.GetId(), name
				delete(c.Annotations, "io.kubernetes.container.restartCount")
				want, known := m.newest[key]
				want++
				if !known {
					want = 0
				}
				if op == 1 {
					want = arg
					if c.Annotations == nil {
						c.Annotations = map[string]string{}
					}
					c.Annotations["io.kubernetes.container.restartCount"] = strconv.Itoa(arg)
				}
				assigned.Store(-1)
				adj, upd, err := p.CreateContainer(ctx, proto.Clone(pod).(*api.PodSandbox), c)
				if upd != nil {
					t.Fatalf("CreateContainer returned updates %v", upd)
				}
				if _, merr := proto.Marshal(adj); merr != nil {
					t.Fatalf("the adjustment cannot be sent: %v", merr)
				}
				if err != nil && !utf8.ValidString(err.Error()) {
					t.Fatalf("the refusal is not valid UTF-8: %q", err)
				}
				if got := int(assigned.Load()); got != want {
					t.Fatalf("%v: restart count %d, want %d (known %v)", key, got, want, known)
				}
				if got, ok := adj.GetAnnotations()["specguard.io/restart-count"]; ok && got != strconv.Itoa(want) {
					t.Fatalf("%v: annotated restart count %s, want %d", key, got, want)
				}
				switch {
				case exact:
					m.pending[key] = want
				case err == nil: // allowed: committed at once
					m.commit(key, c.Id, want)
				}
				checkNewest(key)
				created = append(created, struct {
					pod      *api.PodSandbox
					name, id string
				}{pod, name, c.Id})
			case 2: // exact: PostCreateContainer of a created one; default: containerd undoes one
				if len(created) == 0 {
					continue
				}
				cr := created[arg%len(created)]
				k := restarts.Key{PodUID: cr.pod.GetUid(), Container: cr.name}
				if exact {
					if err := p.PostCreateContainer(ctx, cr.pod, &api.Container{Id: cr.id, PodSandboxId: cr.pod.GetId(), Name: cr.name,
						State: api.ContainerState_CONTAINER_CREATED, CreatedAt: 1}); err != nil {
						t.Fatal(err)
					}
					if n, ok := m.pending[k]; ok {
						delete(m.pending, k)
						m.observe(k.PodUID, cr.id, k.Container, n)
					}
				} else {
					undone := &api.Container{Id: cr.id, PodSandboxId: cr.pod.GetId(), Name: cr.name, State: api.ContainerState_CONTAINER_UNKNOWN}
					if !UndoneCreation(undone) {
						t.Fatal("containerd's undo not recognised")
					}
					if err := p.RemoveContainer(ctx, cr.pod, undone); err != nil {
						t.Fatal(err)
					}
					m.remove(k, cr.id, true)
				}
				checkNewest(k)
			case 3: // RemoveContainer: a live one, or one never seen; undo-shaped for odd args
				id := "none"
				for cid, lc := range m.live[pod.GetUid()] {
					id, name = cid, lc.name
					break
				}
				key = restarts.Key{PodUID: pod.GetUid(), Container: name}
				c := &api.Container{Id: id, PodSandboxId: pod.GetId(), Name: name, State: api.ContainerState(arg / 2 % 5), CreatedAt: 1}
				if arg%2 == 1 {
					c.State, c.CreatedAt = api.ContainerState_CONTAINER_UNKNOWN, 0
				}
				if err := p.RemoveContainer(ctx, pod, c); err != nil {
					t.Fatal(err)
				}
				m.remove(key, id, arg%2 == 1)
				if lc, ok := m.live[pod.GetUid()][id]; ok {
					t.Fatalf("model kept %v", lc)
				}
				checkNewest(key)
			case 4: // RemovePodSandbox
				if err := p.RemovePodSandbox(ctx, pod); err != nil {
					t.Fatal(err)
				}
				delete(m.live, pod.GetUid())
				for k := range m.newest {
					if k.PodUID == pod.GetUid() {
						delete(m.newest, k)
					}
				}
				for k := range m.pending {
					if k.PodUID == pod.GetUid() {
						delete(m.pending, k)
					}
				}
				for k := range m.inflight {
					if k.PodUID == pod.GetUid() {
						delete(m.inflight, k)
					}
				}
			case 5: // ValidateContainerAdjustment of arbitrary merged adjustments, for a created container on odd args
				req := proto.Clone(val).(*api.ValidateContainerAdjustmentRequest)
				if arg%2 == 1 && len(created) > 0 {
					cr := created[arg/2%len(created)]
					req.Pod = cr.pod
					if req.Container == nil {
						req.Container = &api.Container{}
					}
					req.Container.Id, req.Container.Name = cr.id, cr.name
				}
				err := p.ValidateContainerAdjustment(ctx, req)
				if err != nil && !utf8.ValidString(err.Error()) {
					t.Fatalf("the validation refusal is not valid UTF-8: %q", err)
				}
				if err != nil { // the creation fails: its count comes back
					k := restarts.Key{PodUID: req.GetPod().GetUid(), Container: req.GetContainer().GetName()}
					m.remove(k, req.GetContainer().GetId(), true)
					checkNewest(k)
				}
			case 6: // a reload
				if arg%2 == 0 {
					supply(t, "enforce.yaml", fuzzEnforce)
				} else {
					supply(t, "audit.yaml", fuzzAudit)
				}
			case 7: // the plugin restarts: the runtime reports what exists
				var pods []*api.PodSandbox
				var ctrs []*api.Container
				seen := map[string]bool{}
				for _, pd := range pool {
					if seen[pd.GetId()] {
						continue
					}
					seen[pd.GetId()] = true
					pods = append(pods, pd)
					for id, c := range m.live[pd.GetUid()] {
						var ann map[string]string
						if c.count >= 0 {
							ann = map[string]string{"specguard.io/restart-count": strconv.Itoa(c.count)}
						}
						ctrs = append(ctrs, &api.Container{Id: id, PodSandboxId: pd.GetId(), Name: c.name, Annotations: ann})
					}
				}
				mustSync(pods, ctrs)
				continue
			}
			check(strconv.Itoa(int(op)))
		}
	})
}

func hasKey(m map[restarts.Key]int, k restarts.Key) bool {
	_, ok := m[k]
	return ok
}
