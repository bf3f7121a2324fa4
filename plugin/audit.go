package plugin

import (
	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/restarts"
)

// AuditRecord is one decision that changed or refused something, or for
// which an audit-mode rule reported something.
type AuditRecord struct {
	Pod          string              `json:"pod"`
	PodUID       string              `json:"podUID"`
	Container    string              `json:"container"`
	ContainerID  string              `json:"containerID"`
	Allowed      bool                `json:"allowed"`
	Reason       string              `json:"reason,omitempty"`
	RestartCount int                 `json:"restartCount"`
	CountSource  restarts.Source     `json:"restartCountSource"`
	Rules        []string            `json:"rules,omitempty"`
	Trace        []engine.TraceEntry `json:"trace,omitempty"`
	Violations   []engine.Violation  `json:"violations,omitempty"`
	Additions    []engine.Violation  `json:"additions,omitempty"`
}

// countDecision feeds the metrics; it is cheap and runs before the reply,
// so a scrape right after a container was created already counts it.
func (p *Plugin) countDecision(d *engine.Decision) {
	for _, t := range d.Trace {
		if t.Rule != engine.RuleMetadata && t.Action != "match" {
			p.cfg.Recorder.RuleAction(t.Rule, t.Action)
		}
	}
	for _, v := range d.Refusals {
		p.cfg.Recorder.Refusal(v.Rule)
	}
}

// logDecision logs a decision once and hands it to the audit trail.
// Decisions that changed nothing beyond the built-in metadata are logged
// at debug only, and so are those for which audit-mode rules report only
// additions (what enforce would add where the container has nothing): a
// rule adding env to every container would otherwise log every container
// (issue 20). The info line names the rules that acted; the trace (what
// each rule did to each field) goes to the audit trail, and into the line
// at debug level: formatting it is the costliest part of a request, more
// than the decision (issue 8). The plugin runs this after the reply.
func (p *Plugin) logDecision(pod *api.PodSandbox, c *api.Container, a restarts.Assignment, d *engine.Decision) {
	eventful := !d.Allowed || len(d.Rules) > 0 || len(d.Violations) > 0
	podRef := pod.GetNamespace() + "/" + pod.GetName()
	fields := logrus.Fields{"pod": podRef, "container": c.GetName(), "containerID": c.GetId(),
		"restartCount": a.Count, "restartCountSource": a.Source}
	debug := p.cfg.Log.Logger.IsLevelEnabled(logrus.DebugLevel)
	if !eventful {
		if debug {
			msg := "container created with recomputed metadata"
			if len(d.Additions) > 0 {
				fields["additions"] = d.Additions
				msg = "container created; audit-mode rules would only add"
			}
			p.cfg.Log.WithFields(fields).Debug(msg)
		}
		if len(d.Additions) > 0 {
			p.audit(pod, c, a, d)
		}
		return
	}
	fields["rules"] = d.Rules
	if debug {
		fields["trace"] = d.Trace
		if len(d.Additions) > 0 {
			fields["additions"] = d.Additions
		}
	}
	switch {
	case !d.Allowed:
		fields["reason"] = d.Reason
		p.cfg.Log.WithFields(fields).Warn("container refused")
	case len(d.Violations) > 0:
		fields["violations"] = d.Violations
		p.cfg.Log.WithFields(fields).Info("container adjusted with audit findings")
	default:
		p.cfg.Log.WithFields(fields).Info("container adjusted")
	}
	p.audit(pod, c, a, d)
}

// audit hands a decision to the audit trail, if there is one.
func (p *Plugin) audit(pod *api.PodSandbox, c *api.Container, a restarts.Assignment, d *engine.Decision) {
	if p.cfg.Audit == nil {
		return
	}
	p.cfg.Audit(AuditRecord{
		Pod: pod.GetNamespace() + "/" + pod.GetName(), PodUID: pod.GetUid(), Container: c.GetName(), ContainerID: c.GetId(),
		Allowed: d.Allowed, Reason: d.Reason, RestartCount: a.Count, CountSource: a.Source,
		Rules: d.Rules, Trace: d.Trace, Violations: d.Violations, Additions: d.Additions,
	})
}
