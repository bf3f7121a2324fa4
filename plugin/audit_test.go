package plugin

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/restarts"
)

// TestDecisionRecords: what a decision leaves in the log and the audit
// trail at each log level. At info (the default) a container created the
// way the policy says leaves no line and queues nothing; refusals and
// audit findings are logged; the audit trail gets every decision that
// changed or refused something whatever the level.
func TestDecisionRecords(t *testing.T) {
	decisions := map[string]*engine.Decision{
		"metadata only": {Allowed: true},
		"adjusted":      {Allowed: true, Rules: []string{"team-defaults"}},
		"audit findings": {Allowed: true, Rules: []string{"watch"},
			Violations: []engine.Finding{{Rule: "watch", Message: "memory over 1Gi"}}},
		"refused": {Reason: `rule "cap": memory 3Gi exceeds max 2Gi`, Rules: []string{"cap"}},
	}
	for name, tc := range map[string]struct {
		level   logrus.Level
		audit   bool
		queued  []string // decisions that queue a record
		logged  map[string]string
		audited []string
	}{
		"info": {level: logrus.InfoLevel, queued: []string{"audit findings", "refused"},
			logged: map[string]string{"audit findings": "container adjusted with audit findings", "refused": "container refused"}},
		"info with an audit trail": {level: logrus.InfoLevel, audit: true, queued: []string{"adjusted", "audit findings", "refused"},
			logged:  map[string]string{"audit findings": "container adjusted with audit findings", "refused": "container refused"},
			audited: []string{"adjusted", "audit findings", "refused"}},
		"warn": {level: logrus.WarnLevel, queued: []string{"refused"}, logged: map[string]string{"refused": "container refused"}},
		"debug": {level: logrus.DebugLevel, queued: []string{"metadata only", "adjusted", "audit findings", "refused"},
			logged: map[string]string{"metadata only": "container created with recomputed metadata", "adjusted": "level=debug msg=\"container adjusted\"",
				"audit findings": "container adjusted with audit findings", "refused": "container refused"}},
	} {
		t.Run(name, func(t *testing.T) {
			for dname, d := range decisions {
				var buf bytes.Buffer
				l := logrus.New()
				l.SetOutput(&buf)
				l.SetLevel(tc.level)
				var audited []AuditRecord
				cfg := Config{Log: logrus.NewEntry(l)}
				if tc.audit {
					cfg.Audit = func(r AuditRecord) { audited = append(audited, r) }
				}
				p := &Plugin{cfg: cfg}
				pod := &api.PodSandbox{Name: "web-0", Namespace: "team-a", Uid: "u1"}
				c := &api.Container{Id: "c1", Name: "app"}
				queued := p.wantsRecord(d)
				if want := slices.Contains(tc.queued, dname); queued != want {
					t.Errorf("%s: queued %v, want %v", dname, queued, want)
				}
				p.logDecision(pod, c, restarts.Assignment{Count: 3, Source: restarts.SourceKubelet}, d)
				want, ok := tc.logged[dname]
				switch {
				case ok && !strings.Contains(buf.String(), want):
					t.Errorf("%s: log %q lacks %q", dname, buf.String(), want)
				case !ok && buf.Len() > 0:
					t.Errorf("%s: logged %q, want nothing", dname, buf.String())
				case ok && !strings.Contains(buf.String(), "restartCount=3"):
					t.Errorf("%s: log %q lacks the restart count", dname, buf.String())
				case ok && tc.level == logrus.DebugLevel && strings.Contains(buf.String(), "trace=") != (dname != "metadata only"):
					t.Errorf("%s: log %q: the trace belongs in debug lines of decisions that changed something", dname, buf.String())
				}
				if got, want := len(audited) == 1, slices.Contains(tc.audited, dname); got != want {
					t.Errorf("%s: audited %v, want %v", dname, audited, want)
				}
				if queued != (buf.Len() > 0 || len(audited) > 0) {
					t.Errorf("%s: queued %v, but the record wrote %q and audited %d", dname, queued, buf.String(), len(audited))
				}
			}
		})
	}
}
