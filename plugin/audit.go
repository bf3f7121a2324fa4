package plugin

import (
	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/restarts"
)

// AuditRecord is one decision that changed or refused something.
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
// at debug only. Formatting the trace is the costly part of a request, so
// the plugin runs this after the reply.
func (p *Plugin) logDecision(pod *api.PodSandbox, c *api.Container, a restarts.Assignment, d *engine.Decision) {
	rec := AuditRecord{
		Pod: pod.GetNamespace() + "/" + pod.GetName(), PodUID: pod.GetUid(), Container: c.GetName(), ContainerID: c.GetId(),
		Allowed: d.Allowed, Reason: d.Reason, RestartCount: a.Count, CountSource: a.Source,
		Rules: d.Rules, Violations: d.Violations,
	}
	eventful := !d.Allowed || len(d.Rules) > 0 || len(d.Violations) > 0
	log := p.cfg.Log.WithFields(logrus.Fields{"pod": rec.Pod, "container": rec.Container, "containerID": rec.ContainerID,
		"restartCount": a.Count, "restartCountSource": a.Source})
	if !eventful {
		log.Debug("container created with recomputed metadata")
		return
	}
	rec.Trace = d.Trace
	log = log.WithFields(logrus.Fields{"rules": d.Rules, "trace": d.Trace})
	switch {
	case !d.Allowed:
		log.WithField("reason", d.Reason).Warn("container refused")
	case len(d.Violations) > 0:
		log.WithField("violations", d.Violations).Info("container adjusted with audit findings")
	default:
		log.Info("container adjusted")
	}
	if p.cfg.Audit != nil {
		p.cfg.Audit(rec)
	}
}
