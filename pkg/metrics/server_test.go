package metrics_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/pkg/metrics"
)

func TestReadinessTransitions(t *testing.T) {
	var r metrics.Readiness
	base := serve(t, metrics.NewServer("", metrics.New(metrics.BuildInfo{}), r.Check))

	steps := []struct {
		name          string
		apply         func()
		wantCode      int
		wantInBody    []string
		wantNotInBody []string
	}{
		{"at start", func() {}, 503, []string{"not connected to NRI", "no valid policy loaded"}, nil},
		{"connected, no policy", func() { r.SetConnected(true) }, 503, []string{"no valid policy loaded"}, []string{"not connected"}},
		{"connected with policy", func() { r.SetPolicyLoaded(true) }, 200, []string{"ok"}, nil},
		{"containerd restarted", func() { r.SetConnected(false) }, 503, []string{"not connected to NRI"}, []string{"policy"}},
		{"reconnected", func() { r.SetConnected(true) }, 200, []string{"ok"}, nil},
	}
	for _, s := range steps {
		s.apply()
		code, body := get(t, base+"/readyz")
		if code != s.wantCode {
			t.Errorf("%s: /readyz = %d %q, want %d", s.name, code, body, s.wantCode)
		}
		for _, w := range s.wantInBody {
			if !strings.Contains(body, w) {
				t.Errorf("%s: /readyz body %q lacks %q", s.name, body, w)
			}
		}
		for _, w := range s.wantNotInBody {
			if strings.Contains(body, w) {
				t.Errorf("%s: /readyz body %q has %q", s.name, body, w)
			}
		}
		if strings.Count(body, "\n") != 1 {
			t.Errorf("%s: /readyz body %q is not one line", s.name, body)
		}
		// Liveness does not follow readiness: losing containerd must not
		// get the pod killed.
		if code, body := get(t, base+"/healthz"); code != 200 {
			t.Errorf("%s: /healthz = %d %q, want 200", s.name, code, body)
		}
	}
}

func TestReadinessCheckErrors(t *testing.T) {
	var r metrics.Readiness
	err := r.Check()
	if !errors.Is(err, metrics.ErrNotConnected) || !errors.Is(err, metrics.ErrNoPolicy) {
		t.Errorf("zero Readiness: %v, want both ErrNotConnected and ErrNoPolicy", err)
	}
	r.SetPolicyLoaded(true)
	if err := r.Check(); !errors.Is(err, metrics.ErrNotConnected) || errors.Is(err, metrics.ErrNoPolicy) {
		t.Errorf("policy only: %v, want ErrNotConnected alone", err)
	}
}

func TestReadyFuncReasonIsServed(t *testing.T) {
	ready := func() error {
		return errors.New(`policy "/etc/specguard/policy.yaml": spec.mode: unknown value "enforcing"`)
	}
	base := serve(t, metrics.NewServer("", nil, ready))
	code, body := get(t, base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `unknown value "enforcing"`) {
		t.Errorf("/readyz = %d %q", code, body)
	}
}

func TestNilReadyFuncMeansReady(t *testing.T) {
	base := serve(t, metrics.NewServer("", nil, nil))
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d %q, want 200", code, body)
	}
}

func TestOnlyGETAndHEAD(t *testing.T) {
	base := serve(t, metrics.NewServer("", metrics.New(metrics.BuildInfo{}), nil))
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Head(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("HEAD %s = %d, want 200", path, resp.StatusCode)
		}
		resp, err = http.Post(base+path, "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s = %d, want 405", path, resp.StatusCode)
		}
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("GET /nope = %d, want 404", code)
	}
}

func TestRunFailsAtOnceWhenAddressIsTaken(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err = metrics.NewServer(busy.Addr().String(), nil, nil).Run(ctx)
	if err == nil {
		t.Fatal("Run on a bound address returned nil")
	}
	if !strings.Contains(err.Error(), busy.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("Run took %v to report the bind error", time.Since(start))
	}
}

func TestRunServesUntilContextEnds(t *testing.T) {
	// Find a free port, then let Run bind it itself.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.NewServer(addr, metrics.New(metrics.BuildInfo{}), nil).Run(ctx) }()

	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("server never came up: %v", err)
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned early: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Error("address still accepts connections after Run returned")
	}
}

func TestRunWithoutAddressWaitsForContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- metrics.NewServer("", nil, nil).Run(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Run with no address returned before cancel: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
}
