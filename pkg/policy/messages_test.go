package policy

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// validationMessages has one row per message compile.go gives: a policy
// spec (indented under spec:) and what the error must say, field path
// included. TestEveryValidationMessageIsAsserted keeps it complete.
var validationMessages = []struct {
	name, spec, want string
}{
	{"failurePolicy", "  failurePolicy: sometimes\n", `spec.failurePolicy: must be ignore or fail, got "sometimes"`},
	{"podLogsDir relative", "  node: {podLogsDir: var/log/pods}\n", `spec.node.podLogsDir: must be an absolute path, got "var/log/pods"`},
	{"node name", "  node: {name: Node_1}\n", `spec.node.name: a lowercase RFC 1123 subdomain`},
	{"mode", "  mode: loud\n", `spec.mode: must be enforce, audit or off, got "loud"`},
	{"identityCheck", "  metadata: {identityCheck: maybe}\n", `spec.metadata.identityCheck: must be enforce, audit or off, got "maybe"`},
	{"rule name required", "  rules:\n  - env: [{name: A, value: x}]\n", `spec.rules[0].name: required`},
	{"rule name characters", "  rules:\n  - name: -r\n", `spec.rules[0].name: "-r" must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit`},
	{"duplicate rule", "  rules:\n  - name: r\n  - name: r\n", `spec.rules[1].name: duplicate rule name "r" (also spec.rules[0])`},
	{"rule mode", "  rules:\n  - name: r\n    mode: loud\n", `spec.rules[0].mode: must be enforce, audit or off, got "loud"`},
	{"namespace glob", "  rules:\n  - name: r\n    match: {namespaces: [\"a[b\"]}\n", `spec.rules[0].match.namespaces[0]: `},
	{"podLabels", "  rules:\n  - name: r\n    match: {podLabels: {matchExpressions: [{key: x, operator: Maybe}]}}\n", `spec.rules[0].match.podLabels: `},
	{"env name", "  rules:\n  - name: r\n    env: [{name: \"A=B\", value: x}]\n", `spec.rules[0].env[0].name: "A=B" is not a valid environment variable name`},
	{"env duplicate", "  rules:\n  - name: r\n    env: [{name: A, value: x}, {name: A, value: y}]\n", `spec.rules[0].env[1].name: duplicate variable "A"`},
	{"env template", "  rules:\n  - name: r\n    env: [{name: A, value: \"{{ .Nope }}\"}]\n", `spec.rules[0].env[0].value: bad template`},
	{"annotation key", "  rules:\n  - name: r\n    annotations: {add: {\"a b\": x}}\n", `spec.rules[0].annotations.add["a b"]: invalid annotation key: `},
	{"annotation template", "  rules:\n  - name: r\n    annotations: {add: {a: \"{{ .Nope }}\"}}\n", `spec.rules[0].annotations.add["a"]: bad template`},
	{"annotation remove key", "  rules:\n  - name: r\n    annotations: {remove: [\"a b\"]}\n", `spec.rules[0].annotations.remove[0]: invalid annotation key: `},
	{"override unknown", "  rules:\n  - name: r\n    overrides: {allow: [resources.bogus]}\n", `spec.rules[0].overrides.allow[0]: "resources.bogus" cannot be overridden (allowed: resources.cpu.shares, resources.cpu.quota, resources.cpu.period, resources.memory.limit, resources.memory.reservation, resources.memory.swap, resources.pids.limit, resources.oomScoreAdj)`},
	{"override without bounds", "  rules:\n  - name: r\n    overrides: {allow: [resources.memory.limit]}\n", `spec.rules[0].overrides.allow[0]: "resources.memory.limit" has no bounds in this rule: an override needs resources.memory.limit with min/max`},
	{"override without max", "  rules:\n  - name: r\n    resources: {memory: {limit: {default: 1Gi}}}\n    overrides: {allow: [resources.memory.limit]}\n", `spec.rules[0].overrides.allow[0]: "resources.memory.limit" needs a max`},
	{"value too long", "  rules:\n  - name: r\n    resources: {memory: {limit: {max: \"0." + strings.Repeat("0", 70) + "1\"}}}\n", `spec.rules[0].resources.memory.limit.max: `},
	{"not a quantity", "  rules:\n  - name: r\n    resources: {cpu: {quota: {max: lots}}}\n", `spec.rules[0].resources.cpu.quota.max: "lots" is not a number or quantity`},
	{"not whole", "  rules:\n  - name: r\n    resources: {cpu: {shares: {default: 1.5}}}\n", `spec.rules[0].resources.cpu.shares.default: "1.5" is not a whole number`},
	{"out of range", "  rules:\n  - name: r\n    resources: {oomScoreAdj: {max: 5000}}\n", `spec.rules[0].resources.oomScoreAdj.max: 5000 is out of range [-1000, 1000]`},
	{"min above max", "  rules:\n  - name: r\n    resources: {memory: {limit: {min: 2Gi, max: 1Gi}}}\n", `spec.rules[0].resources.memory.limit.min: min 2Gi is above max 1Gi`},
	{"default outside", "  rules:\n  - name: r\n    resources: {pids: {limit: {default: 5000, max: 100}}}\n", `spec.rules[0].resources.pids.limit.default: default 5000 is outside min/max`},
	{"set outside", "  rules:\n  - name: r\n    resources: {pids: {limit: {set: 5000, max: 100}}}\n", `spec.rules[0].resources.pids.limit.set: set 5000 is outside min/max`},
	{"default and set", "  rules:\n  - name: r\n    resources: {pids: {limit: {set: 50, default: 60}}}\n", `spec.rules[0].resources.pids.limit.default: default has no effect next to set; remove one`},
	{"empty bounds", "  rules:\n  - name: r\n    resources: {pids: {limit: {}}}\n", `spec.rules[0].resources.pids.limit: empty bounds: give default, min, max or set`},
	{"unlimited as a bound", "  rules:\n  - name: r\n    resources: {memory: {limit: {max: 0}}}\n", `spec.rules[0].resources.memory.limit.max: 0 means no limit to the runtime; a bounded resources.memory.limit needs a positive value`},
	{"cpuset", "  rules:\n  - name: r\n    resources: {cpu: {cpus: \"0-3,x\"}}\n", `spec.rules[0].resources.cpu.cpus: "0-3,x" is not a cpuset like 0-3,6`},
	{"mems", "  rules:\n  - name: r\n    resources: {cpu: {mems: \"a\"}}\n", `spec.rules[0].resources.cpu.mems: "a" is not a node set like 0-1`},
	{"swap below limit", "  rules:\n  - name: r\n    resources: {memory: {limit: {set: 1Gi}, swap: {max: 512Mi}}}\n", `spec.rules[0].resources.memory.swap.max: max 512Mi is below the memory limit's 1Gi: memory.swap is memory plus swap and cannot be below the limit`},
	{"hugepage size", "  rules:\n  - name: r\n    resources: {hugepages: [{pageSize: 2M, limit: {max: 1Gi}}]}\n", `spec.rules[0].resources.hugepages[0].pageSize: "2M" is not a page size like 2MB or 1GB`},
	{"hugepage duplicate", "  rules:\n  - name: r\n    resources: {hugepages: [{pageSize: 2MB, limit: {max: 1Gi}}, {pageSize: 2MB, limit: {max: 2Gi}}]}\n", `spec.rules[0].resources.hugepages[1].pageSize: duplicate page size 2MB`},
	{"hugepage limit", "  rules:\n  - name: r\n    resources: {hugepages: [{pageSize: 2MB, limit: {min: 2Gi, max: 1Gi}}]}\n", `spec.rules[0].resources.hugepages[0].limit.min: min 2Gi is above max 1Gi`},
	{"rlimit type", "  rules:\n  - name: r\n    resources: {rlimits: [{type: NOFILE, soft: 1, hard: 2}]}\n", `spec.rules[0].resources.rlimits[0].type: "NOFILE" is not an RLIMIT_* type`},
	{"rlimit duplicate", "  rules:\n  - name: r\n    resources: {rlimits: [{type: RLIMIT_NOFILE, soft: 1, hard: 2}, {type: RLIMIT_NOFILE, soft: 1, hard: 2}]}\n", `spec.rules[0].resources.rlimits[1].type: duplicate RLIMIT_NOFILE`},
	{"rlimit soft above hard", "  rules:\n  - name: r\n    resources: {rlimits: [{type: RLIMIT_NOFILE, soft: 3, hard: 2}]}\n", `spec.rules[0].resources.rlimits[0].soft: soft 3 is above hard 2`},
	{"blockio class", "  rules:\n  - name: r\n    resources: {blockioClass: \"a/b\"}\n", `spec.rules[0].resources.blockioClass: "a/b" is not a class name`},
	{"rdt class", "  rules:\n  - name: r\n    resources: {rdtClass: \"a/b\"}\n", `spec.rules[0].resources.rdtClass: "a/b" is not a class name`},
	{"unified", "  rules:\n  - name: r\n    resources: {unified: {memorymax: \"1\"}}\n", `spec.rules[0].resources.unified["memorymax"]: not a cgroup v2 file name and value`},
	{"onViolation", "  rules:\n  - name: r\n    resources: {onViolation: explode}\n", `spec.rules[0].resources.onViolation: must be clamp or reject, got "explode"`},
	{"rootInUserNamespace", "  rules:\n  - name: r\n    security: {rootInUserNamespace: maybe}\n", `spec.rules[0].security.rootInUserNamespace: must be allow or deny, got "maybe"`},
	{"hostNamespaces", "  rules:\n  - name: r\n    security: {hostNamespaces: maybe}\n", `spec.rules[0].security.hostNamespaces: must be deny or allow, got "maybe"`},
	{"hostPaths relative", "  rules:\n  - name: r\n    security: {hostPaths: {deny: [etc/**]}}\n", `spec.rules[0].security.hostPaths.deny[0]: path pattern "etc/**" must be absolute`},
	{"devices", "  rules:\n  - name: r\n    security: {devices: maybe}\n", `spec.rules[0].security.devices: must be deny or allow, got "maybe"`},
	{"device not well known", "  rules:\n  - name: r\n    security: {allowedDevices: [/dev/nvidia0]}\n", `spec.rules[0].security.allowedDevices[0]: "/dev/nvidia0" is not a well-known device: a device node is what its type and numbers say, whatever its path, so give them: {path: "/dev/nvidia0", type: c, major: N} (minor: N, or none for any)`},
	{"device type required", "  rules:\n  - name: r\n    security: {allowedDevices: [{path: /dev/x}]}\n", `spec.rules[0].security.allowedDevices[0].type: required: c, b, u or p (what the device is, not only where)`},
	{"device type", "  rules:\n  - name: r\n    security: {allowedDevices: [{path: /dev/x, type: q, major: 1}]}\n", `spec.rules[0].security.allowedDevices[0].type: must be c, b, u or p, got "q"`},
	{"FIFO numbers", "  rules:\n  - name: r\n    security: {allowedDevices: [{path: /dev/p, type: p, major: 3}]}\n", `spec.rules[0].security.allowedDevices[0].major: a FIFO (p) has no device numbers`},
	{"negative device number", "  rules:\n  - name: r\n    security: {allowedDevices: [{path: /dev/w, type: c, major: 1, minor: -1}]}\n", `spec.rules[0].security.allowedDevices[0].minor: -1 is negative`},
	{"device major required", "  rules:\n  - name: r\n    security: {allowedDevices: [{path: /dev/y, type: b}]}\n", `spec.rules[0].security.allowedDevices[0].major: required for a b device: without it any device could be admitted under this name`},
	{"sysctl glob", "  rules:\n  - name: r\n    security: {sysctls: {allow: [\"net.[\"]}}\n", `spec.rules[0].security.sysctls.allow[0]: `},
	{"seccomp", "  rules:\n  - name: r\n    security: {seccomp: {unconfined: maybe}}\n", `spec.rules[0].security.seccomp.unconfined: must be inject, reject or allow, got "maybe"`},
	{"trusted plugin without an index", "  validation: {trustedPlugins: [gpu-*]}\n", `spec.validation.trustedPlugins[0]: "gpu-*" does not start with the plugin's two-digit index: write "<index>-<name>" as NRI names plugins (e.g. "10-dra-driver"); a name alone would trust a plugin that registers that name at any index`},
	{"allowFields", "  validation: {allowFields: [hooks]}\n", `spec.validation.allowFields[0]: "hooks" is not a field only allowFields decides; one of: args, linux.cgroupsPath, linux.ioPriority, linux.scheduler, linux.rdt, linux.memoryPolicy, linux.resources.cpu.realtimeRuntime, linux.resources.cpu.realtimePeriod, linux.resources.memory.kernel, linux.resources.memory.kernelTcp, linux.resources.memory.swappiness, linux.resources.memory.disableOomKiller, linux.resources.memory.useHierarchy`},
	{"masked path", "  rules:\n  - name: r\n    security: {maskedPaths: [/etc/../shadow]}\n", `spec.rules[0].security.maskedPaths[0]: "/etc/../shadow" must be a clean absolute path below /, with a trailing / for a directory`},
}

// TestValidationMessages: each row's policy is refused with its message,
// the file and field named.
func TestValidationMessages(t *testing.T) {
	for _, c := range validationMessages {
		t.Run(c.name, func(t *testing.T) {
			doc := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n" + c.spec
			p, err := Parse("p.yaml", []byte(doc))
			if err == nil {
				t.Fatalf("accepted: %+v", p.Rules)
			}
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "p.yaml") {
				t.Errorf("error does not name the file or wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error does not say %q:\n%v", c.want, err)
			}
		})
	}
}

// TestEveryValidationMessageIsAsserted: every message format compile.go
// passes to errs.add is matched by the expected text of some row of
// validationMessages (or of another test's table, named here), so a check
// added without its message asserted fails here. Formats that are only a
// verb ("%s", "%v") pass on an error made elsewhere (a glob, a label
// selector, a template, a quantity, a DNS name); their rows above assert
// the field path, and the text is the other package's.
func TestEveryValidationMessageIsAsserted(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "compile.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	verb := regexp.MustCompile(`%[-+# 0-9.]*[a-zA-Z]`)
	var formats []string
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) < 2 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "add" {
			return true
		}
		if id, ok := sel.X.(*ast.Ident); !ok || id.Name != "e" {
			return true
		}
		lit, ok := call.Args[1].(*ast.BasicLit)
		if !ok {
			t.Errorf("%s: errs.add with a format that is not a literal", fset.Position(call.Pos()))
			return true
		}
		s, err := strconv.Unquote(lit.Value)
		if err != nil {
			t.Fatal(err)
		}
		formats = append(formats, s)
		return true
	})
	if len(formats) < 50 {
		t.Fatalf("found %d errs.add formats in compile.go; the scan is broken", len(formats))
	}
	// The apiVersion/kind formats are asserted by
	// TestBadPoliciesReportEveryProblemWithLines.
	wants := []string{`apiVersion: must be "specguard.io/v1alpha1", got "v1"`, `kind: must be "Policy", got "Pod"`}
	for _, c := range validationMessages {
		wants = append(wants, c.want)
	}
	for _, format := range formats {
		if strings.Trim(verb.ReplaceAllString(format, ""), " ") == "" {
			continue
		}
		parts := verb.Split(format, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile(strings.Join(parts, ".*"))
		found := false
		for _, w := range wants {
			found = found || re.MatchString(w)
		}
		if !found {
			t.Errorf("no row of validationMessages asserts the message %q", format)
		}
	}
}
