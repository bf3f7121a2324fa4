package policy

// DefaultYAML is the built-in policy used when `specguard run` has no
// --config: the kubelet metadata recomputation, no rules. It refuses
// nothing a runtime accepts: container labels that contradict their
// sandbox are legal CRI (critest sends them) and are reported, not refused;
// the mirrored annotations carry the sandbox's identity either way.
const DefaultYAML = `apiVersion: specguard.io/v1alpha1
kind: Policy
spec:
  mode: enforce
  failurePolicy: ignore
  metadata:
    restartCount: true
    logPath: true
    identity: true
    identityCheck: audit
    qosClass: true
`

// Default returns the compiled built-in policy.
func Default() *Policy {
	p, err := Parse("<built-in default policy>", []byte(DefaultYAML))
	if err != nil {
		panic("built-in default policy is invalid: " + err.Error())
	}
	return p
}
