package plugin

import (
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// hooker is another NRI plugin: it adds an OCI hook to containers named
// "victim".
type hooker struct{}

func (hooker) CreateContainer(_ context.Context, _ *api.PodSandbox, c *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	adj := &api.ContainerAdjustment{}
	if c.GetName() == "victim" {
		adj.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: "/usr/local/bin/hook"}}})
	}
	return adj, nil, nil
}

// events records what the plugin reports to its Recorder.
type events struct {
	nopRecorder
	mu       sync.Mutex
	requests []string // event/result
	refusals []string
}

func (e *events) ObserveRequest(event, result string, _ time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, event+"/"+result)
}

func (e *events) Refusal(rule string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.refusals = append(e.refusals, rule)
}

func (e *events) has(req string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, r := range e.requests {
		if r == req {
			return true
		}
	}
	return false
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestValidatorThroughNRI(t *testing.T) {
	for name, tc := range map[string]struct {
		spec      string
		validator bool     // specguard subscribes to ValidateContainerAdjustment
		wantErr   []string // nil: the victim is created with the hook
		wantLog   string
	}{
		"another plugin's hook refused": {
			spec:      "  validation: {denyHooks: true}\n",
			validator: true,
			wantErr: []string{`validator "90-specguard" rejected container adjustment, reason: ` +
				`specguard refused the NRI adjustments to container victim of pod team-a/web-0: ` +
				`plugin "10-hooker" adds OCI hooks (prestart /usr/local/bin/hook) (hooks, validation.denyHooks)`},
		},
		"a trusted plugin": {
			spec:      "  validation: {denyHooks: true, trustedPlugins: [\"10-hooker\"]}\n",
			validator: true,
		},
		"audit logs and allows": {
			spec:      "  validation: {mode: audit, denyHooks: true}\n",
			validator: true,
			wantLog:   "validation findings (audit mode)",
		},
		"no validation section: not a validator": {
			spec: "  mode: enforce\n",
		},
	} {
		t.Run(name, func(t *testing.T) {
			rig := startNRIRig(t)
			rig.runStub(hooker{}, "hooker", "10")
			waitFor(t, "the hooker to register", func() bool {
				adj, err := rig.create("team-a", "victim")
				return err == nil && len(adj.GetHooks().GetPrestart()) == 1
			})
			rec := &events{}
			logs := &syncBuffer{}
			l := logrus.New()
			l.SetOutput(logs)
			rig.runSpecguard(Config{Policy: parsePolicy(t, tc.spec), Recorder: rec, Log: logrus.NewEntry(l)})
			rig.waitSpecguard(t)

			adj, err := rig.create("team-a", "victim")
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(adj.GetHooks().GetPrestart()) != 1 || adj.GetAnnotations()["specguard.io/restart-count"] == "" {
					t.Errorf("adjustment = %v, want the hook and specguard's annotations", adj)
				}
			} else {
				if err == nil {
					t.Fatal("created; want the validator to refuse it")
				}
				for _, w := range tc.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("err lacks %q:\n%v", w, err)
					}
				}
				if len(rec.refusals) != 1 || rec.refusals[0] != ValidationRule {
					t.Errorf("refusals = %v", rec.refusals)
				}
			}
			if got := rec.has("ValidateContainerAdjustment/allowed") || rec.has("ValidateContainerAdjustment/refused") ||
				rec.has("ValidateContainerAdjustment/audit"); got != tc.validator {
				t.Errorf("validated: %v, want %v (%v)", got, tc.validator, rec.requests)
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("logs lack %q:\n%s", tc.wantLog, logs)
			}
		})
	}
}

// specguard's own changes (an injected seccomp profile, masks) do not trip
// its own validator.
func TestValidatorTrustsSpecguardsOwnChanges(t *testing.T) {
	rig := startNRIRig(t)
	rig.runSpecguard(Config{Policy: parsePolicy(t, `  validation: {denyHostMounts: true, denySeccomp: true}
  rules:
  - name: harden
    security:
      seccomp: {unconfined: inject}
      maskedPaths: [/etc/shadow, /srv/secrets/]
`)})
	rig.waitSpecguard(t)
	adj, err := rig.create("team-a", "app")
	if err != nil {
		t.Fatalf("specguard refused its own changes: %v", err)
	}
	if adj.GetLinux().GetSeccompPolicy() == nil || len(adj.GetMounts()) != 2 {
		t.Errorf("adjustment = %v, want the profile and two masks", adj)
	}
}

// A validation section that arrives by a reload is idle until specguard
// reconnects (the event mask is fixed per connection): the container is
// not validated, and specguard says so once per policy.
func TestValidationAddedByReloadWarns(t *testing.T) {
	rig := startNRIRig(t)
	rig.runStub(hooker{}, "hooker", "10")
	waitFor(t, "the hooker to register", func() bool {
		adj, err := rig.create("team-a", "victim")
		return err == nil && len(adj.GetHooks().GetPrestart()) == 1
	})
	logs := &syncBuffer{}
	l := logrus.New()
	l.SetOutput(logs)
	pol := parsePolicy(t, "  mode: enforce\n")
	rig.runSpecguard(Config{Policy: pol, Log: logrus.NewEntry(l)})
	rig.waitSpecguard(t)
	const warning = "the policy's validation section is not enforced"
	if strings.Contains(logs.String(), warning) {
		t.Fatalf("warned without a validation section:\n%s", logs)
	}

	rewritePolicy(t, pol, "  validation: {denyHooks: true}\n")
	for range 3 {
		if _, err := rig.create("team-a", "victim"); err != nil {
			t.Fatalf("refused on a connection that is not a validator: %v", err)
		}
	}
	if n := strings.Count(logs.String(), warning); n != 1 {
		t.Errorf("warned %d times, want once per policy:\n%s", n, logs)
	}
}

// TestValidationDeadline: a validation that does not finish within the
// deadline does not hold the runtime (and every creation behind it): it
// fails as an internal error within the deadline, and failurePolicy
// decides whether the container is refused; the count committed at
// CreateContainer is given back when it is.
func TestValidationDeadline(t *testing.T) {
	for name, tc := range map[string]struct {
		failurePolicy string
		wantErr       string
	}{
		"ignore admits": {failurePolicy: "ignore"},
		"fail refuses":  {failurePolicy: "fail", wantErr: "specguard could not validate the NRI adjustments (failurePolicy: fail): decision deadline exceeded: validation (100ms)"},
	} {
		t.Run(name, func(t *testing.T) {
			release := make(chan struct{})
			defer close(release)
			rec := &events{}
			l := logrus.New()
			l.SetOutput(io.Discard)
			p, err := New(Config{
				Policy:   parsePolicy(t, "  failurePolicy: "+tc.failurePolicy+"\n  validation: {denyHooks: true}\n"),
				Tracker:  restarts.NewTracker(nil),
				Log:      logrus.NewEntry(l),
				Recorder: rec,
				Deadline: 100 * time.Millisecond,
				Validate: func(*policy.Policy, *api.ValidateContainerAdjustmentRequest, engine.Validator) ([]engine.Finding, error) {
					<-release // a wedged validation
					return nil, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			req := &api.ValidateContainerAdjustmentRequest{
				Pod:       &api.PodSandbox{Id: "s", Uid: "u", Name: "web", Namespace: "shop"},
				Container: &api.Container{Id: "c", PodSandboxId: "s", Name: "app"},
			}
			start := time.Now()
			err = p.ValidateContainerAdjustment(context.Background(), req)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("returned after %v with a 100ms deadline", d)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("err = %v, want %q", err, tc.wantErr)
			}
			if !rec.has("ValidateContainerAdjustment/error") {
				t.Errorf("recorded %v, want ValidateContainerAdjustment/error", rec.requests)
			}
		})
	}
}
