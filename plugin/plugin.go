// Package plugin is specguard's NRI side: it connects to the runtime,
// keeps the restart-count tracker current from lifecycle events, gathers
// the facts of each CreateContainer (pkg/facts) and asks the engine for a
// decision, both under one deadline, and turns the decision into the NRI
// reply. It decides nothing itself.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/internal/queue"
	"github.com/specguard/specguard/internal/worker"
	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/pkg/metrics"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// Recorder receives what the plugin observes; pkg/metrics implements it.
type Recorder interface {
	ObserveRequest(event, result string, d time.Duration)
	RuleAction(rule, action string)
	Refusal(rule string)
	SetConnected(bool)
	SetTracked(n int)
	Drift()
}

type nopRecorder struct{}

func (nopRecorder) ObserveRequest(string, string, time.Duration) {}
func (nopRecorder) RuleAction(string, string)                    {}
func (nopRecorder) Refusal(string)                               {}
func (nopRecorder) SetConnected(bool)                            {}
func (nopRecorder) SetTracked(int)                               {}
func (nopRecorder) Drift()                                       {}

// DecideFunc is the engine's decision; tests may slow it down.
type DecideFunc func(*policy.Policy, *engine.Request) *engine.Decision

// ValidateFunc is the engine's validation of the merged adjustment; tests
// may slow it down.
type ValidateFunc func(*policy.Policy, *api.ValidateContainerAdjustmentRequest, engine.Validator) ([]engine.Finding, error)

// Config is what a Plugin needs. Zero values get defaults.
type Config struct {
	Policy   *policy.Store // the current policy's only writer
	Tracker  *restarts.Tracker
	Log      *logrus.Entry
	Recorder Recorder
	NodeName string
	// Deadline bounds one CreateContainer decision and one validation; it
	// must stay well under the runtime's request timeout (containerd: 2s).
	Deadline time.Duration
	Decide   DecideFunc
	Validate ValidateFunc
	// Audit, when set, receives each decision that changed or refused
	// something (the audit trail).
	Audit func(AuditRecord)
	// ExactRestartCounts makes a restart count the base for the next only
	// once the runtime confirms the creation (PostCreateContainer), at the
	// price of a second round trip inside every container creation. By
	// default the count is committed when specguard lets the creation
	// through and given back when the runtime undoes a failed creation
	// (see RemoveContainer); docs/kubelet-parity.md says when the two differ.
	ExactRestartCounts bool
}

// DefaultDeadline leaves the runtime's 2s request timeout ample room.
const DefaultDeadline = 500 * time.Millisecond

// Plugin implements the NRI handlers. Its methods are picked up by the
// stub by interface.
type Plugin struct {
	cfg       Config
	connected atomic.Bool
	// validating says whether this connection subscribed to
	// ValidateContainerAdjustment; unsubscribedWarned is the last policy
	// whose validation section was found idle for want of it.
	validating         atomic.Bool
	unsubscribedWarned atomic.Pointer[policy.Policy]
	gather             facts.Gatherer
	deciders           *worker.Pool[decideJob, engine.Request, decideResult] // the decision workers
	records            queue.Queue

	// registeredAs is the "<index>-<name>" of the current connection, as
	// the runtime names plugins in a validation request.
	registeredAs atomic.Pointer[string]
}

// New returns a plugin over cfg.
func New(cfg Config) (*Plugin, error) {
	if cfg.Policy == nil || cfg.Policy.Current() == nil {
		return nil, errors.New("plugin: no policy loaded")
	}
	if cfg.Tracker == nil {
		return nil, errors.New("plugin: no restart tracker")
	}
	if cfg.Log == nil {
		cfg.Log = logrus.NewEntry(logrus.New())
	}
	if cfg.Recorder == nil {
		cfg.Recorder = nopRecorder{}
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = DefaultDeadline
	}
	if cfg.Decide == nil {
		cfg.Decide = engine.Decide
	}
	if cfg.Validate == nil {
		cfg.Validate = engine.ValidateAdjustmentAs
	}
	// The node's facts are built once, here: the runtime's default seccomp
	// profile costs about a millisecond to build.
	gather := facts.Gatherer{Node: facts.NewNode(cfg.NodeName), Counter: cfg.Tracker}
	p := &Plugin{cfg: cfg, gather: gather}
	p.deciders = worker.New(deciderIdle, p.run)
	return p, nil
}

// Connected reports whether the plugin is registered with the runtime.
func (p *Plugin) Connected() bool { return p.connected.Load() }

func (p *Plugin) setConnected(v bool) {
	p.connected.Store(v)
	p.cfg.Recorder.SetConnected(v)
}

// Configure subscribes to the events the tracker and the decision need.
// A plugin containerd launches from its plugin directory may be given its
// policy here (the file <plugin_config_path>/<idx>-<name>.conf); an
// external plugin gets an empty config and keeps the policy it loaded.
func (p *Plugin) Configure(_ context.Context, config, runtime, version string) (api.EventMask, error) {
	p.cfg.Log.WithFields(logrus.Fields{"runtime": runtime, "runtimeVersion": version,
		"exactRestartCounts": p.cfg.ExactRestartCounts}).Info("connected to runtime")
	if strings.TrimSpace(config) != "" {
		// The store reports it (OnReload), and from now on keeps its
		// file from replacing it.
		if _, err := p.cfg.Policy.Supply("<policy from the runtime's plugin config>", []byte(config)); err != nil {
			return 0, err
		}
	}
	// Each event subscribed to is a request on the node's serialized NRI
	// path; PostCreateContainer is one more inside every CRI
	// CreateContainer, so it is taken only in the exact mode.
	events := "CreateContainer,RemoveContainer,RemovePodSandbox"
	if p.cfg.ExactRestartCounts {
		events += ",PostCreateContainer"
	}
	// Validating costs the runtime a copy and a round trip per container,
	// so specguard is a validator only when the policy asks. The mask holds
	// for the connection: a validation section added by a reload takes
	// effect when specguard next connects (restart it; CreateContainer
	// warns until then); one removed turns validation into a no-op at once.
	validating := p.cfg.Policy.Current().Validation != nil
	if validating {
		events += ",ValidateContainerAdjustment"
	}
	p.validating.Store(validating)
	return api.ParseEventMask(events)
}

// Synchronize rebuilds the tracker from the containers that exist: the
// counts specguard (or the kubelet) wrote on them continue from there.
//
// The pods and containers are partly filled: the connection reads the
// request with wire.ReadLean, which fills only each pod's Id and Uid and
// each container's Id, PodSandboxId, Name and the restart-count keys of
// its Annotations (restarts.CountAnnotations); every other field is zero.
// Reading another field here takes filling it there first
// (TestSynchronizeReadsOnlyWhatReadLeanFills, plugin/lean_test.go).
func (p *Plugin) Synchronize(_ context.Context, pods []*api.PodSandbox, ctrs []*api.Container) ([]*api.ContainerUpdate, error) {
	start := time.Now()
	uidOf := make(map[string]string, len(pods))
	uids := make([]string, 0, len(pods))
	for _, pod := range pods {
		uid := strings.Clone(pod.GetUid())
		uidOf[pod.GetId()] = uid
		uids = append(uids, uid)
	}
	obs := make([]restarts.Observed, 0, len(ctrs))
	for _, c := range ctrs {
		uid, ok := uidOf[c.GetPodSandboxId()]
		if !ok {
			continue
		}
		n, ok := restarts.CountFromAnnotations(c.GetAnnotations())
		if !ok {
			n = -1
		}
		// The tracker copies the name if it keeps it; the ID it keeps as is.
		obs = append(obs, restarts.Observed{ID: strings.Clone(c.GetId()), Key: restarts.Key{PodUID: uid, Container: c.GetName()}, Count: n})
	}
	p.cfg.Tracker.Resync(uids, obs)
	p.setConnected(true)
	p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
	p.cfg.Recorder.ObserveRequest(metrics.EventSynchronize, metrics.ResultOK, time.Since(start))
	p.cfg.Log.WithFields(logrus.Fields{"pods": len(pods), "containers": len(ctrs)}).Info("synchronized")
	return nil, nil
}

// keyOf is the tracker's key for a container. The tracker copies the
// key's strings when it keeps them.
func keyOf(pod *api.PodSandbox, c *api.Container) restarts.Key {
	return restarts.Key{PodUID: pod.GetUid(), Container: c.GetName()}
}

// storedID is a container ID the tracker keeps: copied so that it does not
// pin the memory of the request it came in (a string kept from an
// unmarshalled message keeps its whole span alive; across Synchronize and
// churn that fragmentation measured 12 MiB of RSS at 10,000 containers).
func storedID(c *api.Container) string {
	return strings.Clone(c.GetId())
}

// ErrDeadline is returned (or logged) when a decision misses its deadline.
var ErrDeadline = errors.New("decision deadline exceeded")

// CreateContainer assigns the restart count, asks the engine and replies
// with its adjustment or its refusal.
func (p *Plugin) CreateContainer(ctx context.Context, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	start := time.Now()
	pol := p.cfg.Policy.Current()
	if pol.Validation != nil && !p.validating.Load() {
		p.warnValidationUnsubscribed(pol)
	}
	adj, err := p.createContainer(ctx, pol, pod, c)
	result := metrics.ResultAdjusted
	switch {
	case errors.Is(err, ErrDeadline) || errors.Is(err, errInternal):
		result = metrics.ResultError
	case err != nil:
		result = metrics.ResultRefused
	}
	p.cfg.Recorder.ObserveRequest(metrics.EventCreateContainer, result, time.Since(start))
	return adj, nil, err
}

var errInternal = errors.New("internal error")

// warnValidationUnsubscribed says, once per policy, that its validation
// section is idle: it arrived by a reload on a connection that did not
// subscribe to ValidateContainerAdjustment (see Configure).
func (p *Plugin) warnValidationUnsubscribed(pol *policy.Policy) {
	if p.unsubscribedWarned.Load() == pol || p.unsubscribedWarned.Swap(pol) == pol {
		return
	}
	p.cfg.Log.WithField("policy", pol.Source).Warn("the policy's validation section is not enforced: " +
		"specguard subscribed to ValidateContainerAdjustment without one; restart specguard to validate other plugins")
}

func (p *Plugin) createContainer(ctx context.Context, pol *policy.Policy, pod *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, error) {
	r, err := p.decide(ctx, decideJob{pol: pol, pod: pod, c: c})
	a := r.restart
	if r.gathered && a.Drift {
		p.cfg.Recorder.Drift()
		p.cfg.Log.WithFields(logrus.Fields{"pod": pod.GetNamespace() + "/" + pod.GetName(), "container": c.GetName(),
			"kubelet": a.Count, "tracked": a.Tracked}).Warn("restart count drift: the kubelet's count differs from the tracked one")
	}
	key := keyOf(pod, c)
	if err != nil {
		adj, err := p.onFailure(pol, pod, c, err)
		// A count is committed only if it was assigned in time: a gathering
		// abandoned at the deadline may still assign one after the reply,
		// which nothing then commits.
		if err == nil && r.gathered {
			p.commit(c, key, a.Count)
		}
		return adj, err
	}
	d := r.d
	p.countDecision(d)
	// The log line and the audit record are written after the reply: every
	// container creation on the node waits for this handler.
	if p.wantsRecord(d) {
		p.records.Add(func() { p.logDecision(pod, c, a, d) })
	}
	if err := d.Err(); err != nil {
		// Not committed: the retry gets the same count.
		return nil, err
	}
	p.commit(c, key, a.Count)
	return d.Adjustment, nil
}

// commit makes the count of a creation specguard lets through the base for
// the next one, unless the exact mode waits for PostCreateContainer.
func (p *Plugin) commit(c *api.Container, key restarts.Key, count int) {
	if p.cfg.ExactRestartCounts {
		return
	}
	p.cfg.Tracker.Commit(storedID(c), key, count)
	p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
}

// decide runs a job (gathering the facts and deciding, or validating) on a
// decision worker under the deadline. A job past the deadline runs on and
// its result is discarded: nothing it leaves in the tracker is committed.
// A panic is a bug, but it must not take the node's container creation
// down with it.
func (p *Plugin) decide(ctx context.Context, job decideJob) (decideResult, error) {
	r, err := p.deciders.Run(ctx, p.cfg.Deadline, job)
	if err == nil {
		return r, nil
	}
	// Declared past the return above: errors.As moves it to the heap.
	var panicked *worker.PanicError
	switch {
	case errors.Is(err, worker.ErrDeadline):
		err = fmt.Errorf("%w%s (%s)", ErrDeadline, job.what(), p.cfg.Deadline)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// ctx ended first. (A job takes no context: its own error is
		// never a context's.)
		err = fmt.Errorf("%w%s: %v", ErrDeadline, job.what(), err)
	case errors.As(err, &panicked):
		what := "engine"
		if job.validate != nil {
			what = "validation"
		}
		err = fmt.Errorf("%w: %s panic: %v", errInternal, what, panicked.Value)
	}
	return r, err
}

// decideJob is a CreateContainer to gather the facts of and decide on, or
// with validate set, a validation of the merged adjustment.
type decideJob struct {
	pol      *policy.Policy
	pod      *api.PodSandbox
	c        *api.Container
	validate *api.ValidateContainerAdjustmentRequest
}

// what names a validation in errors.
func (job *decideJob) what() string {
	if job.validate != nil {
		return ": validation"
	}
	return ""
}

// decideResult is a job's outcome. gathered says that restart holds the
// creation's restart count, assigned in time. (The rest of its facts, the
// node's, the handler does not need: the element stays small, and with it
// the reply channel allocated per request.)
type decideResult struct {
	restart  restarts.Assignment
	gathered bool
	d        *engine.Decision
	findings []engine.Finding
}

// deciderIdle is how long a decision worker waits for the next request
// before it exits. Reusing the goroutine saves growing a fresh goroutine's
// stack to the engine's depth on every request (16% of the handler's CPU
// in pprof).
const deciderIdle = 30 * time.Second

// run runs one job on a decision worker; req is the worker's engine
// request, reused: one allocation per worker, not per request. What it has
// written to r when the engine panics still counts: a restart count
// assigned in time.
func (p *Plugin) run(job decideJob, req *engine.Request, r *decideResult) (err error) {
	if job.validate != nil {
		r.findings, err = p.cfg.Validate(job.pol, job.validate, p.validator())
		return err
	}
	facts := p.gather.Gather(job.pol, job.pod, job.c)
	r.restart, r.gathered = facts.Restart, true
	*req = engine.Request{Pod: job.pod, Container: job.c, Facts: facts}
	r.d = p.cfg.Decide(job.pol, req)
	return nil
}

// onFailure applies the policy's failurePolicy to an internal error.
func (p *Plugin) onFailure(pol *policy.Policy, pod *api.PodSandbox, c *api.Container, err error) (*api.ContainerAdjustment, error) {
	log := p.cfg.Log.WithFields(logrus.Fields{"pod": pod.GetNamespace() + "/" + pod.GetName(), "container": c.GetName(),
		"failurePolicy": pol.FailurePolicy}).WithError(err)
	if pol.FailurePolicy == policy.FailureFail {
		log.Error("refusing container: decision failed")
		return nil, fmt.Errorf("specguard could not decide on container %s of pod %s/%s (failurePolicy: fail): %w",
			c.GetName(), pod.GetNamespace(), pod.GetName(), err)
	}
	log.Error("allowing container unchanged: decision failed")
	return nil, nil
}

// PostCreateContainer confirms the count assigned at CreateContainer. The
// runtime sends it only in the exact mode (see Configure).
func (p *Plugin) PostCreateContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	p.cfg.Tracker.Confirm(storedID(c), keyOf(pod, c))
	p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
	return nil
}

// RemoveContainer forgets a removed container; its count stays known,
// unless the removal is the runtime undoing a creation that failed after
// specguard's answer: that count is given back for the retry.
func (p *Plugin) RemoveContainer(_ context.Context, pod *api.PodSandbox, c *api.Container) error {
	if UndoneCreation(c) {
		p.cfg.Tracker.Undo(c.GetId(), keyOf(pod, c))
	} else {
		p.cfg.Tracker.Remove(c.GetId(), keyOf(pod, c))
	}
	p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
	return nil
}

// UndoneCreation reports whether a removed container is one the runtime
// never created. When a creation fails after the plugins have answered
// CreateContainer (another plugin or a validator refused, the adjustments
// conflict, containerd could not create or store it), containerd 2.x
// undoes it (UndoCreateContainer in internal/cri/nri): StopContainer and
// RemoveContainer of a container built from its ID and spec alone, which
// is in no store, so it reports state UNKNOWN and no creation time. Every
// container containerd did create carries its creation time, whatever state
// it reports at removal (an exited one also reports UNKNOWN). One whose
// status containerd could not load after a restart has none either, but
// the Synchronize that follows every reconnect has closed every undo
// window by then (restarts.Tracker.Resync): its removal only forgets it.
func UndoneCreation(c *api.Container) bool {
	return c.GetState() == api.ContainerState_CONTAINER_UNKNOWN && c.GetCreatedAt() == 0
}

// RemovePodSandbox forgets the pod: a new pod UID starts again at 0.
func (p *Plugin) RemovePodSandbox(_ context.Context, pod *api.PodSandbox) error {
	p.cfg.Tracker.ForgetPod(pod.GetUid())
	p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
	return nil
}
