package plugin

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// actionRecorder keeps the rule actions the plugin counts.
type actionRecorder struct {
	nopRecorder
	mu      sync.Mutex
	actions []string // "rule/action"
}

func (r *actionRecorder) RuleAction(rule, action string) {
	r.mu.Lock()
	r.actions = append(r.actions, rule+"/"+action)
	r.mu.Unlock()
}

// TestAuditReportsApart: what an audit-mode rule would add where the
// container has nothing is kept out of specguard.io/violations and the info
// log, and counted under its own metric action; what it would change of
// the container's own is a finding, in all three. Both reach the audit
// trail.
func TestAuditReportsApart(t *testing.T) {
	const doc = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: audit
  rules:
  - name: downward-api
    env:
    - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
    - {name: NODE_NAME, value: "{{ .Node.Name }}"}
`
	cases := map[string]struct {
		env        []string
		level      logrus.Level
		infoLine   bool   // "container adjusted with audit findings" at info
		debugLine  string // the debug line's message, "" for none
		violations string
		actions    []string
		additions  int
	}{
		"additions only, info level": {env: []string{"PATH=/bin"}, level: logrus.InfoLevel,
			actions: []string{"identity/set", "downward-api/audit-add", "downward-api/audit-add"}, additions: 2},
		"additions only, debug level": {env: []string{"PATH=/bin"}, level: logrus.DebugLevel,
			debugLine: "container created; audit-mode rules would only add",
			actions:   []string{"identity/set", "downward-api/audit-add", "downward-api/audit-add"}, additions: 2},
		"a finding": {env: []string{"PATH=/bin", "NODE_NAME=elsewhere"}, level: logrus.InfoLevel, infoLine: true,
			violations: `downward-api: would change env NODE_NAME from "elsewhere" to "node-1"`,
			actions:    []string{"identity/set", "downward-api/audit-add", "downward-api/audit"}, additions: 1},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			pol, err := policy.Parse("audit.yaml", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			logger, hook := logtest.NewNullLogger()
			logger.SetOutput(io.Discard)
			logger.SetLevel(c.level)
			rec := &actionRecorder{}
			trail := make(chan AuditRecord, 1)
			p, err := New(Config{Policy: policy.NewStaticStore(pol), Tracker: restarts.NewTracker(nil), Log: logrus.NewEntry(logger),
				Recorder: rec, NodeName: "node-1", Audit: func(r AuditRecord) { trail <- r }})
			if err != nil {
				t.Fatal(err)
			}
			pod := &api.PodSandbox{Id: "sb", Name: "web-0", Namespace: "shop", Uid: "uid-1"}
			ctr := &api.Container{Id: "c1", PodSandboxId: "sb", Name: "app", Env: c.env}
			adj, _, err := p.CreateContainer(context.Background(), pod, ctr)
			if err != nil {
				t.Fatal(err)
			}
			if len(adj.GetEnv()) != 0 {
				t.Errorf("audit set env: %v", adj.GetEnv())
			}
			if got := adj.GetAnnotations()["specguard.io/violations"]; got != c.violations {
				t.Errorf("specguard.io/violations = %q, want %q", got, c.violations)
			}
			rec.mu.Lock()
			actions := slices.Clone(rec.actions)
			rec.mu.Unlock()
			if !slices.Equal(actions, c.actions) {
				t.Errorf("metric actions %v, want %v", actions, c.actions)
			}

			var r AuditRecord
			select {
			case r = <-trail:
			case <-time.After(10 * time.Second):
				t.Fatal("no audit trail record")
			}
			if len(r.Additions) != c.additions || (c.violations != "") != (len(r.Violations) == 1) {
				t.Errorf("audit record additions %v violations %v", r.Additions, r.Violations)
			}
			var info, debug []string
			for _, e := range hook.AllEntries() {
				switch e.Level {
				case logrus.InfoLevel:
					info = append(info, e.Message)
				case logrus.DebugLevel:
					debug = append(debug, e.Message)
					if c.debugLine != "" {
						if a, ok := e.Data["additions"].([]engine.Finding); !ok || len(a) != c.additions {
							t.Errorf("debug line additions = %v", e.Data["additions"])
						}
					}
				}
			}
			if got := slices.Contains(info, "container adjusted with audit findings"); got != c.infoLine || len(info) > 1 {
				t.Errorf("info lines %q, want the findings line: %v", info, c.infoLine)
			}
			if c.debugLine != "" && !slices.Contains(debug, c.debugLine) {
				t.Errorf("debug lines %q lack %q", debug, c.debugLine)
			}
		})
	}
}
