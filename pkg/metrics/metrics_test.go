package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/specguard/specguard/pkg/metrics"
)

// serve runs a Server for h on a fresh loopback listener until the test ends
// and returns its base URL.
func serve(t *testing.T, s *metrics.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve returned %v after cancel, want nil", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape fetches /metrics in the text format and parses it.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// sample finds the metric of family name whose labels are exactly want.
func sample(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	t.Helper()
	fam, ok := fams[name]
	if !ok {
		t.Fatalf("metric family %s missing", name)
	}
	for _, m := range fam.GetMetric() {
		got := map[string]string{}
		for _, lp := range m.GetLabel() {
			got[lp.GetName()] = lp.GetValue()
		}
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return m
		}
	}
	t.Fatalf("%s%v missing; have %v", name, want, fam.GetMetric())
	return nil
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	t.Helper()
	m := sample(t, fams, name, labels)
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v is neither counter nor gauge", name, labels)
	return 0
}

func TestScrapeReportsEveryMetric(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{Version: "v1.2.3", NRIVersion: "v0.12.5"})
	m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, 40*time.Microsecond)
	m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, 150*time.Microsecond)
	m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultRefused, 3*time.Millisecond)
	m.ObserveRequest(metrics.EventValidate, metrics.ResultAllowed, 5*time.Microsecond)
	m.RuleAction("team-defaults", "clamp")
	m.RuleAction("team-defaults", "clamp")
	m.RuleAction("team-defaults", "default")
	m.Refusal("no-root")
	m.PolicyReload(true)
	m.PolicyReload(false)
	m.PolicyReload(true)
	m.SetConnected(true)
	m.SetTracked(42)
	m.Drift()
	m.Drift()

	base := serve(t, metrics.NewServer("unused", m, nil))
	fams := scrape(t, base)

	counters := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"specguard_requests_total", map[string]string{"event": "CreateContainer", "result": "adjusted"}, 2},
		{"specguard_requests_total", map[string]string{"event": "CreateContainer", "result": "refused"}, 1},
		{"specguard_requests_total", map[string]string{"event": "ValidateContainerAdjustment", "result": "allowed"}, 1},
		// Created at zero on start, so alerts see the series before any request.
		{"specguard_requests_total", map[string]string{"event": "CreateContainer", "result": "error"}, 0},
		{"specguard_requests_total", map[string]string{"event": "Synchronize", "result": "ok"}, 0},
		{"specguard_rule_actions_total", map[string]string{"rule": "team-defaults", "action": "clamp"}, 2},
		{"specguard_rule_actions_total", map[string]string{"rule": "team-defaults", "action": "default"}, 1},
		{"specguard_refusals_total", map[string]string{"rule": "no-root"}, 1},
		{"specguard_policy_reloads_total", map[string]string{"result": "success"}, 2},
		{"specguard_policy_reloads_total", map[string]string{"result": "failure"}, 1},
		{"specguard_nri_connected", map[string]string{}, 1},
		{"specguard_tracked_containers", map[string]string{}, 42},
		{"specguard_restart_count_drift_total", map[string]string{}, 2},
		{"specguard_build_info", map[string]string{"version": "v1.2.3", "nri_version": "v0.12.5", "go_version": runtime.Version()}, 1},
	}
	for _, c := range counters {
		if got := value(t, fams, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}

	types := map[string]dto.MetricType{
		"specguard_requests_total":            dto.MetricType_COUNTER,
		"specguard_request_duration_seconds":  dto.MetricType_HISTOGRAM,
		"specguard_rule_actions_total":        dto.MetricType_COUNTER,
		"specguard_refusals_total":            dto.MetricType_COUNTER,
		"specguard_policy_reloads_total":      dto.MetricType_COUNTER,
		"specguard_nri_connected":             dto.MetricType_GAUGE,
		"specguard_tracked_containers":        dto.MetricType_GAUGE,
		"specguard_restart_count_drift_total": dto.MetricType_COUNTER,
		"specguard_build_info":                dto.MetricType_GAUGE,
		"go_goroutines":                       dto.MetricType_GAUGE,
		"process_start_time_seconds":          dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		fam, ok := fams[name]
		if !ok {
			t.Errorf("%s missing from /metrics", name)
			continue
		}
		if fam.GetType() != typ {
			t.Errorf("%s has type %v, want %v", name, fam.GetType(), typ)
		}
		if fam.GetHelp() == "" {
			t.Errorf("%s has no help text", name)
		}
	}

	h := sample(t, fams, "specguard_request_duration_seconds", map[string]string{"event": "CreateContainer"}).GetHistogram()
	if h.GetSampleCount() != 3 {
		t.Errorf("CreateContainer duration count = %d, want 3", h.GetSampleCount())
	}
	if want := 40e-6 + 150e-6 + 3e-3; h.GetSampleSum() < want*0.999 || h.GetSampleSum() > want*1.001 {
		t.Errorf("CreateContainer duration sum = %v, want %v", h.GetSampleSum(), want)
	}
	// Tens of microseconds resolve: 40us and 150us land in different buckets.
	cumulative := map[float64]uint64{}
	for _, b := range h.GetBucket() {
		cumulative[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	for bound, want := range map[float64]uint64{10e-6: 0, 40e-6: 1, 80e-6: 1, 160e-6: 2, 2.56e-3: 2, 5.12e-3: 3} {
		got, ok := cumulative[bound]
		if !ok {
			t.Errorf("no bucket with upper bound %v; have %v", bound, cumulative)
			continue
		}
		if got != want {
			t.Errorf("bucket le=%v holds %d, want %d", bound, got, want)
		}
	}

	m.SetConnected(false)
	if got := value(t, scrape(t, base), "specguard_nri_connected", map[string]string{}); got != 0 {
		t.Errorf("specguard_nri_connected after SetConnected(false) = %v, want 0", got)
	}
}

func TestDurationBucketsResolveMicroseconds(t *testing.T) {
	b := metrics.DurationBuckets()
	if b[0] > 10e-6 {
		t.Errorf("first bucket %v, want at most 10us", b[0])
	}
	if last := b[len(b)-1]; last < 1 || last > 2 {
		t.Errorf("last bucket %v, want between 1s and containerd's 2s timeout", last)
	}
	under1ms := 0
	for _, x := range b {
		if x < 1e-3 {
			under1ms++
		}
	}
	if under1ms < 6 {
		t.Errorf("%d buckets under 1ms, want at least 6 to resolve tens of microseconds", under1ms)
	}
}

func TestBuildInfoDefaults(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	fams := scrape(t, serve(t, metrics.NewServer("", m, nil)))
	fam := fams["specguard_build_info"]
	if fam == nil || len(fam.GetMetric()) != 1 {
		t.Fatalf("specguard_build_info: %v", fam)
	}
	for _, lp := range fam.GetMetric()[0].GetLabel() {
		if lp.GetValue() == "" {
			t.Errorf("build_info label %s is empty", lp.GetName())
		}
		if lp.GetName() == "go_version" && lp.GetValue() != runtime.Version() {
			t.Errorf("go_version = %q, want %q", lp.GetValue(), runtime.Version())
		}
	}
}

func TestOwnRegistry(t *testing.T) {
	// Two instances in one process must not collide (no global registration).
	a, b := metrics.New(metrics.BuildInfo{}), metrics.New(metrics.BuildInfo{})
	a.Drift()
	fa, err := a.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	fb, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	drift := func(fams []*dto.MetricFamily) float64 {
		for _, f := range fams {
			if f.GetName() == "specguard_restart_count_drift_total" {
				return f.GetMetric()[0].GetCounter().GetValue()
			}
		}
		return -1
	}
	if drift(fa) != 1 || drift(fb) != 0 {
		t.Errorf("drift: a=%v b=%v, want 1 and 0", drift(fa), drift(fb))
	}
}

func TestNilMetricsIsANoOp(t *testing.T) {
	var m *metrics.Metrics
	m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, time.Millisecond)
	m.RuleAction("r", "set")
	m.Refusal("r")
	m.PolicyReload(true)
	m.SetConnected(true)
	m.SetTracked(3)
	m.Drift()
	if m.Registry() != nil {
		t.Error("nil Metrics has a registry")
	}
	base := serve(t, metrics.NewServer("", m, nil))
	if code, body := get(t, base+"/metrics"); code != http.StatusOK || strings.Contains(body, "specguard_") {
		t.Errorf("GET /metrics on nil Metrics: %d\n%s", code, body)
	}
}

func TestHotPathDoesNotAllocate(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	calls := map[string]func(){
		"ObserveRequest": func() {
			m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, 120*time.Microsecond)
		},
		"ObserveRequest/new labels": func() { m.ObserveRequest("custom_event", "custom_result", time.Microsecond) },
		"RuleAction":                func() { m.RuleAction("team-defaults", "clamp") },
		"Refusal":                   func() { m.Refusal("no-root") },
		"PolicyReload":              func() { m.PolicyReload(false) },
		"SetConnected":              func() { m.SetConnected(true) },
		"SetTracked":                func() { m.SetTracked(10) },
		"Drift":                     func() { m.Drift() },
	}
	for name, call := range calls {
		call() // the first call with new label values may allocate its child
		if n := testing.AllocsPerRun(100, call); n != 0 {
			t.Errorf("%s allocates %v times per call, want 0", name, n)
		}
	}
}

func TestConcurrentUpdatesAreCounted(t *testing.T) {
	m := metrics.New(metrics.BuildInfo{})
	const workers, perWorker = 8, 500
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				rule := fmt.Sprintf("rule-%d", i%7)
				m.RuleAction(rule, "set")
				m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAllowed, time.Duration(w*i)*time.Nanosecond)
				m.Refusal(rule)
			}
		})
	}
	wg.Wait()
	fams := scrape(t, serve(t, metrics.NewServer("", m, nil)))
	var actions, refusals float64
	for _, s := range fams["specguard_rule_actions_total"].GetMetric() {
		actions += s.GetCounter().GetValue()
	}
	for _, s := range fams["specguard_refusals_total"].GetMetric() {
		refusals += s.GetCounter().GetValue()
	}
	if actions != workers*perWorker || refusals != workers*perWorker {
		t.Errorf("rule actions %v, refusals %v, want %d each", actions, refusals, workers*perWorker)
	}
	if got := value(t, fams, "specguard_requests_total", map[string]string{"event": "CreateContainer", "result": "allowed"}); got != workers*perWorker {
		t.Errorf("requests = %v, want %d", got, workers*perWorker)
	}
	if n := len(fams["specguard_refusals_total"].GetMetric()); n != 7 {
		t.Errorf("%d refusal series, want 7", n)
	}
}

func TestManyLabelValuesStillCount(t *testing.T) {
	// Past the child cache's bound the slow path must still count.
	m := metrics.New(metrics.BuildInfo{})
	const rules = 5000
	for i := range rules {
		m.Refusal(fmt.Sprintf("rule-%d", i))
	}
	m.Refusal("rule-4999")
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "specguard_refusals_total" {
			continue
		}
		if n := len(f.GetMetric()); n != rules {
			t.Fatalf("%d refusal series, want %d", n, rules)
		}
		var total float64
		for _, s := range f.GetMetric() {
			total += s.GetCounter().GetValue()
		}
		if total != rules+1 {
			t.Errorf("refusals total %v, want %d", total, rules+1)
		}
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New(metrics.BuildInfo{})
	b.ReportAllocs()
	for b.Loop() {
		m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, 120*time.Microsecond)
	}
}

func BenchmarkRuleAction(b *testing.B) {
	m := metrics.New(metrics.BuildInfo{})
	b.ReportAllocs()
	for b.Loop() {
		m.RuleAction("team-defaults", "clamp")
	}
}

func BenchmarkObserveRequestParallel(b *testing.B) {
	m := metrics.New(metrics.BuildInfo{})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(metrics.EventCreateContainer, metrics.ResultAdjusted, 120*time.Microsecond)
		}
	})
}
