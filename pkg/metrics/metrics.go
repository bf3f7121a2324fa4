// Package metrics holds specguard's Prometheus collectors and the HTTP server
// that exposes them next to the /healthz and /readyz endpoints.
//
// A *Metrics owns its registry (nothing is registered globally), so tests and
// several plugin instances in one process never collide. Every method is safe
// on a nil *Metrics and then does nothing, so code under test can pass nil.
package metrics

import (
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Namespace prefixes every specguard metric name.
const Namespace = "specguard"

// Values of the event label of specguard_requests_total and
// specguard_request_duration_seconds: the NRI requests specguard times,
// named as NRI names its plugin methods. These are the only values the
// plugin uses; docs/operations.md lists them (TestDocumentedLabelValues).
const (
	EventSynchronize     = "Synchronize"
	EventCreateContainer = "CreateContainer"
	EventValidate        = "ValidateContainerAdjustment"
)

// Values of the result label of specguard_requests_total.
const (
	// ResultAdjusted: CreateContainer allowed the container with
	// specguard's adjustment (which may be empty).
	ResultAdjusted = "adjusted"
	// ResultAllowed: a validation found nothing against the adjustments.
	ResultAllowed = "allowed"
	// ResultAudit: a validation's findings were reported, not refused
	// (audit mode).
	ResultAudit = "audit"
	// ResultRefused: specguard refused the container or the adjustment.
	ResultRefused = "refused"
	// ResultError: an internal error or a missed deadline; failurePolicy
	// decided the outcome.
	ResultError = "error"
	// ResultOK: a request with no verdict (Synchronize).
	ResultOK = "ok"
)

// Values of the action label of specguard_rule_actions_total that the
// plugin sets itself (for the validation pseudo-rule); the engine's trace
// gives the rest.
const (
	ActionRefuse = "refuse"
	ActionAudit  = "audit"
)

// Values of the result label of specguard_policy_reloads_total.
const (
	ReloadSuccess = "success"
	ReloadFailure = "failure"
)

// DurationBuckets returns the upper bounds, in seconds, of the request latency
// histogram: powers of two from 10us to about 1.3s. A no-op NRI plugin costs
// about 120us per CreateContainer, so the interesting range (tens to hundreds
// of microseconds) gets several buckets, and the top one sits under
// containerd's 2s request timeout. A new slice each call: the histogram's
// buckets cannot be changed by a caller.
func DurationBuckets() []float64 { return prometheus.ExponentialBuckets(10e-6, 2, 18) }

// maxCachedChildren bounds each label-child cache. Label values come from
// the policy (rule names) and the plugin (events, results, actions), so
// the bound is never reached in practice; past it, calls still count, they
// just take the slower uncached path.
const maxCachedChildren = 4096

// BuildInfo labels specguard_build_info. Empty fields are filled in: the Go
// version from the runtime, the NRI version from the binary's build info.
type BuildInfo struct {
	Version    string
	NRIVersion string
	GoVersion  string
}

// Metrics is the set of specguard's collectors, on a registry of its own.
// Create it with New.
type Metrics struct {
	registry *prometheus.Registry

	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	ruleActions *prometheus.CounterVec
	refusals    *prometheus.CounterVec
	reloads     *prometheus.CounterVec
	connected   prometheus.Gauge
	tracked     prometheus.Gauge
	drift       prometheus.Counter

	// Label children cached by their values, so the hot path does no
	// label hashing into the vectors and no allocation.
	requestChildren *childCache[requestChild]
	ruleChildren    *childCache[prometheus.Counter]
	refusalChildren *childCache[prometheus.Counter]
	reloadSuccess   prometheus.Counter
	reloadFailure   prometheus.Counter
}

type requestChild struct {
	count    prometheus.Counter
	duration prometheus.Observer
}

// New creates the collectors and registers them, the build info and the Go
// runtime and process collectors on a new registry.
func New(info BuildInfo) *Metrics {
	info = info.withDefaults()
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "requests_total",
			Help:      "NRI requests handled, by event and result.",
		}, []string{"event", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: Namespace,
			Name:      "request_duration_seconds",
			Help:      "Time specguard spent handling an NRI request, by event.",
			Buckets:   DurationBuckets(),
		}, []string{"event"}),
		ruleActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "rule_actions_total",
			Help:      "Actions taken (or, in audit mode, reported) by policy rules, by rule and action.",
		}, []string{"rule", "action"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "refusals_total",
			Help:      "Containers or adjustments refused, by the rule that refused.",
		}, []string{"rule"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "policy_reloads_total",
			Help:      "Policy loads and reloads, by result (success, failure). A failed reload keeps the last good policy.",
		}, []string{"result"}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "nri_connected",
			Help:      "1 while specguard is registered with the runtime over NRI, else 0.",
		}),
		tracked: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: Namespace,
			Name:      "tracked_containers",
			Help:      "Containers whose restart count specguard tracks.",
		}),
		drift: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: Namespace,
			Name:      "restart_count_drift_total",
			Help:      "Creations where the kubelet's restart count differed from specguard's tracked count.",
		}),
	}
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: Namespace,
		Name:      "build_info",
		Help:      "Always 1; the labels say which specguard is running.",
		ConstLabels: prometheus.Labels{
			"version":     info.Version,
			"nri_version": info.NRIVersion,
			"go_version":  info.GoVersion,
		},
	})
	buildInfo.Set(1)

	m.registry.MustRegister(
		m.requests, m.duration, m.ruleActions, m.refusals, m.reloads,
		m.connected, m.tracked, m.drift, buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	m.requestChildren = newChildCache(func(event, result string) requestChild {
		return requestChild{
			count:    m.requests.WithLabelValues(event, result),
			duration: m.duration.WithLabelValues(event),
		}
	})
	m.ruleChildren = newChildCache(func(rule, action string) prometheus.Counter {
		return m.ruleActions.WithLabelValues(rule, action)
	})
	m.refusalChildren = newChildCache(func(rule, _ string) prometheus.Counter {
		return m.refusals.WithLabelValues(rule)
	})
	m.reloadSuccess = m.reloads.WithLabelValues(ReloadSuccess)
	m.reloadFailure = m.reloads.WithLabelValues(ReloadFailure)

	// Series that exist from the start read 0 rather than "no data", so
	// rate() and increase() work before the first refusal or error.
	for _, result := range []string{ResultAdjusted, ResultRefused, ResultError} {
		m.requestChildren.get(EventCreateContainer, result)
	}
	m.requestChildren.get(EventSynchronize, ResultOK)
	return m
}

func (i BuildInfo) withDefaults() BuildInfo {
	if i.Version == "" {
		i.Version = "unknown"
	}
	if i.GoVersion == "" {
		i.GoVersion = runtime.Version()
	}
	if i.NRIVersion == "" {
		i.NRIVersion = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, d := range bi.Deps {
				if d.Path == "github.com/containerd/nri" {
					i.NRIVersion = d.Version
				}
			}
		}
	}
	return i
}

// Registry returns the registry holding every specguard collector, for
// callers that add their own collectors or gather in tests.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// Handler serves the registry in the Prometheus exposition formats. On a nil
// *Metrics it serves an empty registry.
func (m *Metrics) Handler() http.Handler {
	reg := prometheus.NewRegistry()
	if m != nil {
		reg = m.registry
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      reg, // promhttp_metric_handler_errors_total
	})
}

// ObserveRequest counts one NRI request of the given event with its result
// and records how long specguard took over it.
func (m *Metrics) ObserveRequest(event, result string, d time.Duration) {
	if m == nil {
		return
	}
	c := m.requestChildren.get(event, result)
	c.count.Inc()
	c.duration.Observe(d.Seconds())
}

// RuleAction counts one action of a rule (set, default, clamp, inject,
// audit, ...: the engine's trace actions).
func (m *Metrics) RuleAction(rule, action string) {
	if m == nil {
		return
	}
	m.ruleChildren.get(rule, action).Inc()
}

// Refusal counts one refusal by the named rule.
func (m *Metrics) Refusal(rule string) {
	if m == nil {
		return
	}
	m.refusalChildren.get(rule, "").Inc()
}

// PolicyReload counts one policy load or reload, successful or not.
func (m *Metrics) PolicyReload(ok bool) {
	if m == nil {
		return
	}
	if ok {
		m.reloadSuccess.Inc()
	} else {
		m.reloadFailure.Inc()
	}
}

// SetConnected records whether specguard is registered with the runtime.
func (m *Metrics) SetConnected(connected bool) {
	if m == nil {
		return
	}
	if connected {
		m.connected.Set(1)
	} else {
		m.connected.Set(0)
	}
}

// SetTracked records how many containers the restart tracker holds.
func (m *Metrics) SetTracked(n int) {
	if m == nil {
		return
	}
	m.tracked.Set(float64(n))
}

// Drift counts one restart-count disagreement with the kubelet.
func (m *Metrics) Drift() {
	if m == nil {
		return
	}
	m.drift.Inc()
}
