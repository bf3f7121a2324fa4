package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/metrics"
	"github.com/specguard/specguard/pkg/policy"
)

// ValidationRule is the name validation findings carry in metrics.
const ValidationRule = "validation"

// ValidateContainerAdjustment polices the merged adjustment of every
// plugin against the policy's validation section. The runtime calls it
// after all plugins have answered CreateContainer, and only if specguard
// subscribed (Configure does when the policy has a validation section).
func (p *Plugin) ValidateContainerAdjustment(ctx context.Context, req *api.ValidateContainerAdjustmentRequest) (err error) {
	start := time.Now()
	pol := p.cfg.Policy.Current()
	result := metrics.ResultAllowed
	defer func() {
		if err != nil {
			// The creation fails: the count specguard committed at
			// CreateContainer is given back at once. (containerd's undo
			// says so too, but a refusal by specguard itself needs no
			// second opinion.)
			p.cfg.Tracker.Undo(req.GetContainer().GetId(), keyOf(req.GetPod(), req.GetContainer()))
			p.cfg.Recorder.SetTracked(p.cfg.Tracker.Live())
		}
		p.cfg.Recorder.ObserveRequest(metrics.EventValidate, result, time.Since(start))
	}()
	if pol.Validation == nil {
		return nil
	}
	// Under the same deadline as a CreateContainer decision: a validation
	// that does not finish in time is an internal error, and failurePolicy
	// decides (the runtime would otherwise wait for it up to its own
	// request timeout, every other creation on the node behind it).
	r, err := p.decide(ctx, decideJob{pol: pol, validate: req})
	findings := r.findings
	pod, c := req.GetPod(), req.GetContainer()
	log := p.cfg.Log.WithFields(logrus.Fields{"pod": pod.GetNamespace() + "/" + pod.GetName(), "container": c.GetName()})
	var refused *engine.Refusal
	switch {
	case errors.As(err, &refused):
		result = metrics.ResultRefused
		p.cfg.Recorder.Refusal(ValidationRule)
		p.cfg.Recorder.RuleAction(ValidationRule, metrics.ActionRefuse)
		log.WithField("findings", findings).Warn("container refused: another plugin's adjustment breaks the validation policy")
		return err
	case err != nil:
		result = metrics.ResultError
		return p.onValidateFailure(pol, log, err)
	case len(findings) > 0:
		result = metrics.ResultAudit
		p.cfg.Recorder.RuleAction(ValidationRule, metrics.ActionAudit)
		log.WithField("findings", findings).Info("validation findings (audit mode): another plugin's adjustment breaks the validation policy")
	}
	return nil
}

// validator is what the validation knows of specguard's connection and
// node.
func (p *Plugin) validator() engine.Validator {
	self := ""
	if s := p.registeredAs.Load(); s != nil {
		self = *s
	}
	return engine.Validator{Self: self, Node: p.gather.Node}
}

// onValidateFailure applies failurePolicy to a validation that could not
// be carried out.
func (p *Plugin) onValidateFailure(pol *policy.Policy, log *logrus.Entry, err error) error {
	log = log.WithField("failurePolicy", pol.FailurePolicy).WithError(err)
	if pol.FailurePolicy == policy.FailureFail {
		log.Error("refusing container: validation failed")
		return fmt.Errorf("specguard could not validate the NRI adjustments (failurePolicy: fail): %w", err)
	}
	log.Error("allowing container: validation failed")
	return nil
}
