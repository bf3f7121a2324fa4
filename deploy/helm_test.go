package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/policy"
)

const chartDir = "helm/specguard"

// helmLabels are the labels the chart adds to every object's metadata and
// deploy/base does not: Helm's standard ones. They are the only documented
// difference between the chart's defaults and the base (docs/deploy.md).
var helmLabels = []string{"helm.sh/chart", "app.kubernetes.io/instance", "app.kubernetes.io/managed-by", "app.kubernetes.io/version"}

// goTool runs a tool pinned in deploy/tools/go.mod (helm, promtool) with
// `go tool`, which builds it from the pinned module on first use. A missing
// go command or a failed build fails the test: there is no skip.
func goTool(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to build the pinned %s", tool)
	}
	cmd := exec.Command(goBin, append([]string{"tool", tool}, args...)...)
	cmd.Dir = kustomizeDir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %v\n%s%s", tool, strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// helmTemplate renders the chart into namespace specguard-system with the
// given values files (paths relative to the chart) and --set values.
func helmTemplate(t *testing.T, valuesFiles []string, set ...string) (string, error) {
	t.Helper()
	chart, err := filepath.Abs(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"template", "specguard", chart, "--namespace", namespace}
	for _, f := range valuesFiles {
		args = append(args, "-f", filepath.Join(chart, f))
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	return goTool(t, "helm", args...)
}

func renderChart(t *testing.T, valuesFiles ...string) *objects {
	t.Helper()
	out, err := helmTemplate(t, valuesFiles)
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict("helm template "+strings.Join(valuesFiles, " "), []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHelmAndPromtoolArePinned(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(kustomizeDir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range []string{"helm.sh/helm/v4/cmd/helm", "github.com/prometheus/prometheus/cmd/promtool"} {
		if !hasTool(data, tool) {
			t.Errorf("deploy/tools/go.mod has no tool directive for %s", tool)
		}
	}
	for _, want := range []string{
		"helm.sh/helm/v4 v4.3.2",
		"github.com/prometheus/prometheus v0.316.0",
	} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("deploy/tools/go.mod lacks %q", want)
		}
	}
}

// hasTool reports whether a go.mod names pkg in a tool directive, on its
// own (`tool pkg`) or in a tool block.
func hasTool(gomod []byte, pkg string) bool {
	return regexp.MustCompile(`(?m)^(tool[ \t]+|[ \t]+)` + regexp.QuoteMeta(pkg) + `[ \t]*$`).Match(gomod)
}

// examples are the documented example values files (docs/deploy.md, "Helm").
func examples(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var rel []string
	for _, f := range files {
		rel = append(rel, strings.TrimPrefix(f, chartDir+"/"))
	}
	if len(rel) < 5 {
		t.Fatalf("%d example values files in %s/examples, want the five docs/deploy.md lists", len(rel), chartDir)
	}
	return rel
}

func TestHelmLint(t *testing.T) {
	chart, _ := filepath.Abs(chartDir)
	for _, values := range append([]string{""}, examples(t)...) {
		args := []string{"lint", "--strict", chart, "--namespace", namespace}
		if values != "" {
			args = append(args, "-f", filepath.Join(chart, values))
		}
		out, err := goTool(t, "helm", args...)
		if err != nil {
			t.Errorf("helm lint %s: %v", values, err)
		} else if !strings.Contains(out, "1 chart(s) linted, 0 chart(s) failed") {
			t.Errorf("helm lint %s: %s", values, out)
		}
	}
}

// TestHelmDefaultsMatchKustomizeBase: the chart's defaults render the
// objects of `kustomize build deploy/base`, field by field, but for Helm's
// standard labels.
func TestHelmDefaultsMatchKustomizeBase(t *testing.T) {
	base, err := decodeStrict("kustomize build base", kustomize(t, "base"))
	if err != nil {
		t.Fatal(err)
	}
	chart := renderChart(t)
	if base.count() != chart.count() {
		t.Fatalf("the chart renders %d objects, deploy/base %d", chart.count(), base.count())
	}
	for _, m := range chartMeta(chart) {
		for _, l := range helmLabels {
			if m.Labels[l] == "" {
				t.Errorf("%s lacks Helm's label %s", m.Name, l)
			}
			delete(m.Labels, l)
		}
	}
	// The other documented difference: helm uninstall keeps the namespace,
	// which holds the release record.
	if ns := chart.namespaces[0]; ns.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("namespace annotations %v, want helm.sh/resource-policy: keep", ns.Annotations)
	} else {
		delete(ns.Annotations, "helm.sh/resource-policy")
		if len(ns.Annotations) == 0 {
			ns.Annotations = nil
		}
	}

	// The policies are equal as documents (comments and layout differ).
	if len(base.configMaps) != 1 || len(chart.configMaps) != 1 {
		t.Fatalf("%d and %d policy ConfigMaps", len(base.configMaps), len(chart.configMaps))
	}
	bp, err := policy.Parse("deploy/base policy.yaml", []byte(base.configMaps[0].Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	cp, err := policy.Parse("chart policy.yaml", []byte(chart.configMaps[0].Data["policy.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(bp.Document, cp.Document) {
		t.Errorf("policies differ:\nbase  %+v\nchart %+v", bp.Document, cp.Document)
	}
	if !slices.Equal(mapKeys(base.configMaps[0].Data), mapKeys(chart.configMaps[0].Data)) {
		t.Errorf("ConfigMap keys %v, base %v", mapKeys(chart.configMaps[0].Data), mapKeys(base.configMaps[0].Data))
	}
	base.configMaps[0].Data, chart.configMaps[0].Data = nil, nil

	// kustomize re-folds the multi-line CEL expressions of the admission
	// policies (blank lines between folded lines); CEL does not care about
	// whitespace, so compare them with whitespace runs collapsed.
	for _, o := range []*objects{base, chart} {
		for _, p := range o.policies {
			for i := range p.Spec.Variables {
				p.Spec.Variables[i].Expression = strings.Join(strings.Fields(p.Spec.Variables[i].Expression), " ")
			}
			for i := range p.Spec.Validations {
				v := &p.Spec.Validations[i]
				v.Expression = strings.Join(strings.Fields(v.Expression), " ")
				v.MessageExpression = strings.Join(strings.Fields(v.MessageExpression), " ")
			}
		}
	}

	for _, pair := range []struct {
		kind        string
		base, chart any
	}{
		{"Namespace", base.namespaces, chart.namespaces},
		{"ResourceQuota", base.quotas, chart.quotas},
		{"ServiceAccount", base.serviceAccounts, chart.serviceAccounts},
		{"ConfigMap", base.configMaps, chart.configMaps},
		{"Service", base.services, chart.services},
		{"DaemonSet", base.daemonSets, chart.daemonSets},
		{"ValidatingAdmissionPolicy", base.policies, chart.policies},
		{"ValidatingAdmissionPolicyBinding", base.bindings, chart.bindings},
	} {
		b, c := byName(t, pair.base), byName(t, pair.chart)
		if !slices.Equal(slices.Sorted(maps.Keys(b)), slices.Sorted(maps.Keys(c))) {
			t.Errorf("%s: base has %v, the chart %v", pair.kind, slices.Sorted(maps.Keys(b)), slices.Sorted(maps.Keys(c)))
			continue
		}
		for name, bo := range b {
			if !equality.Semantic.DeepEqual(bo, c[name]) {
				bj, _ := yaml.Marshal(bo)
				cj, _ := yaml.Marshal(c[name])
				t.Errorf("%s %s differs:\n--- deploy/base\n%s--- chart\n%s", pair.kind, name, bj, cj)
			}
		}
	}
	checkDaemonSet(t, renderChart(t).daemonSets[0], false)
}

// chartMeta is every object's metadata, cluster-scoped ones included.
func chartMeta(o *objects) []*metav1.ObjectMeta {
	m := o.meta()
	for _, x := range o.namespaces {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.policies {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.bindings {
		m = append(m, &x.ObjectMeta)
	}
	return m
}

// byName maps a slice of objects (pointers to k8s.io/api types) by name.
func byName(t *testing.T, list any) map[string]any {
	t.Helper()
	out := map[string]any{}
	v := reflect.ValueOf(list)
	for i := range v.Len() {
		o := v.Index(i).Interface()
		name := v.Index(i).Elem().FieldByName("Name").String()
		out[name] = o
	}
	return out
}

var (
	specguardOnce sync.Once
	specguardBin  string
	specguardErr  error
)

// specguardValidate runs `specguard validate` (built once from this
// checkout) on a policy document.
func specguardValidate(t *testing.T, name, doc string) {
	t.Helper()
	specguardOnce.Do(func() {
		dir, err := os.MkdirTemp("", "specguard-deploy-")
		if err != nil {
			specguardErr = err
			return
		}
		specguardBin = filepath.Join(dir, "specguard")
		out, err := exec.Command("go", "build", "-o", specguardBin, "github.com/specguard/specguard/cmd/specguard").CombinedOutput()
		if err != nil {
			specguardErr = fmt.Errorf("building specguard: %v\n%s", err, out)
		}
	})
	if specguardErr != nil {
		t.Fatal(specguardErr)
	}
	f := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(f, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(specguardBin, "validate", f).CombinedOutput(); err != nil {
		t.Errorf("specguard validate of %s's policy: %v\n%s\n%s", name, err, out, doc)
	}
}

// TestHelmExamples renders the defaults and each example values file,
// decodes every object strictly, holds the DaemonSet to what every specguard
// DaemonSet must be, runs `specguard validate` on the rendered policy, and
// checks what each example is for.
func TestHelmExamples(t *testing.T) {
	rules, err := os.ReadFile(filepath.Join(chartDir, "monitoring", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dashboard, err := os.ReadFile(filepath.Join(chartDir, "monitoring", "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		mode, failure string
		rules         int
		hostNetwork   bool
		// The example changes what checkDaemonSet holds every DaemonSet
		// of deploy/ to (args, port, placement); check tests it instead.
		custom bool
		check  func(t *testing.T, o *objects)
	}{
		"":                          {mode: "audit", failure: "ignore"},
		"examples/enforce.yaml":     {mode: "enforce", failure: "ignore", rules: 2},
		"examples/fail-closed.yaml": {mode: "enforce", failure: "fail", hostNetwork: true},
		"examples/existing-configmap.yaml": {custom: true, check: func(t *testing.T, o *objects) {
			if len(o.configMaps) != 0 {
				t.Errorf("the chart renders a ConfigMap next to the existing one")
			}
			for _, v := range o.daemonSets[0].Spec.Template.Spec.Volumes {
				if v.Name == "policy" && (v.ConfigMap == nil || v.ConfigMap.Name != "my-policy") {
					t.Errorf("policy volume %+v, want ConfigMap my-policy", v)
				}
			}
		}},
		"examples/custom.yaml": {mode: "audit", failure: "ignore", custom: true, check: func(t *testing.T, o *objects) {
			spec := o.daemonSets[0].Spec.Template.Spec
			c := spec.Containers[0]
			if c.Image != "registry.example/specguard:v1.2.3" {
				t.Errorf("image %q", c.Image)
			}
			for flag, want := range map[string]string{"--plugin-idx": "10", "--metrics-addr": ":9102", "--log-format": "text",
				"--log-level": "debug", "--deadline": "300ms"} {
				if got := argValue(t, c.Args, flag); got != want {
					t.Errorf("%s %q, want %q", flag, got, want)
				}
			}
			if c.Ports[0].ContainerPort != 9102 || o.services[0].Spec.Ports[0].Port != 9102 {
				t.Errorf("metrics port: container %+v, Service %+v", c.Ports, o.services[0].Spec.Ports)
			}
			if c.Resources.Limits.Memory().String() != "256Mi" || spec.NodeSelector["kubernetes.io/os"] != "linux" ||
				spec.Affinity == nil || spec.PriorityClassName != "system-cluster-critical" || len(spec.Tolerations) != 1 {
				t.Errorf("resources %+v, nodeSelector %v, affinity %+v, priority class %q, tolerations %+v",
					c.Resources, spec.NodeSelector, spec.Affinity, spec.PriorityClassName, spec.Tolerations)
			}
			if vals := o.quotas[0].Spec.ScopeSelector.MatchExpressions[0].Values; !slices.Equal(vals, []string{"system-cluster-critical"}) {
				t.Errorf("ResourceQuota admits %v, the pods have priority class %s", vals, spec.PriorityClassName)
			}
		}},
		"examples/monitoring.yaml": {mode: "audit", failure: "ignore", check: func(t *testing.T, o *objects) {
			kinds := map[string]map[string]any{}
			for _, m := range o.monitoring {
				kinds[m["kind"].(string)] = m
			}
			sm, pr := kinds["ServiceMonitor"], kinds["PrometheusRule"]
			if sm == nil || pr == nil {
				t.Fatalf("monitoring objects %v, want a ServiceMonitor and a PrometheusRule", slices.Collect(maps.Keys(kinds)))
			}
			var want map[string]any
			if err := yaml.Unmarshal(rules, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(pr["spec"], want) {
				t.Errorf("the PrometheusRule's spec is not monitoring/rules.yaml:\n%v", pr["spec"])
			}
			smJSON, _ := json.Marshal(sm["spec"])
			for _, s := range []string{`"port":"metrics"`, `"app.kubernetes.io/name":"specguard"`, `"targetLabel":"node"`} {
				if !strings.Contains(string(smJSON), s) {
					t.Errorf("ServiceMonitor spec %s lacks %s", smJSON, s)
				}
			}
			var dash *string
			for _, cm := range o.configMaps {
				if cm.Name == "specguard-dashboard" && cm.Labels["grafana_dashboard"] == "1" {
					d := cm.Data["specguard.json"]
					dash = &d
				}
			}
			if dash == nil || strings.TrimSpace(*dash) != strings.TrimSpace(string(dashboard)) {
				t.Errorf("no dashboard ConfigMap holding monitoring/dashboard.json")
			}
		}},
	}
	if got := len(examples(t)); got != len(tests)-1 {
		t.Errorf("%d example values files, %d tested", got, len(tests)-1)
	}
	for values, want := range tests {
		name := strings.TrimSuffix(filepath.Base(values), ".yaml")
		if values == "" {
			name = "defaults"
		}
		t.Run(name, func(t *testing.T) {
			var files []string
			if values != "" {
				files = []string{values}
			}
			o := renderChart(t, files...)
			if len(o.daemonSets) != 1 {
				t.Fatalf("%d DaemonSets", len(o.daemonSets))
			}
			if !want.custom {
				checkDaemonSet(t, o.daemonSets[0], want.hostNetwork)
			}
			checkAdmissionPolicies(t, o)
			for _, m := range o.meta() {
				if m.Namespace != namespace {
					t.Errorf("%s is in namespace %q, want the release's %s", m.Name, m.Namespace, namespace)
				}
			}
			if want.mode != "" {
				var cm *string
				for _, c := range o.configMaps {
					if c.Name == policyMap {
						d := c.Data["policy.yaml"]
						cm = &d
					}
				}
				if cm == nil {
					t.Fatal("no policy ConfigMap")
				}
				specguardValidate(t, values, *cm)
				p, err := policy.Parse("policy.yaml", []byte(*cm))
				if err != nil {
					t.Fatal(err)
				}
				if string(p.Mode) != want.mode || string(p.FailurePolicy) != want.failure || len(p.Document.Spec.Rules) != want.rules ||
					string(p.Metadata.IdentityCheck) != want.mode {
					t.Errorf("policy mode %s failurePolicy %s identityCheck %s, %d rules; want %s %s %s, %d", p.Mode, p.FailurePolicy,
						p.Metadata.IdentityCheck, len(p.Document.Spec.Rules), want.mode, want.failure, want.mode, want.rules)
				}
			}
			if want.check != nil {
				want.check(t, o)
			}
		})
	}
}

// TestHelmAdmissionPolicyFollowsNamespace: installed elsewhere, the
// toleration policy exempts that namespace, not specguard-system.
func TestHelmAdmissionPolicyFollowsNamespace(t *testing.T) {
	chart, _ := filepath.Abs(chartDir)
	out, err := goTool(t, "helm", "template", "specguard", chart, "--namespace", "node-agents")
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict("helm template --namespace node-agents", []byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if o.namespaces[0].Name != "node-agents" || o.daemonSets[0].Namespace != "node-agents" {
		t.Errorf("namespace %s, DaemonSet in %s", o.namespaces[0].Name, o.daemonSets[0].Namespace)
	}
	if strings.Contains(out, "specguard-system") {
		t.Errorf("the chart still names specguard-system when installed in node-agents")
	}
	checkAdmissionPolicies(t, o)
}

// TestHelmRefusesBadValues: values.schema.json and the templates refuse bad
// values with a message naming the value.
func TestHelmRefusesBadValues(t *testing.T) {
	tests := map[string]struct {
		set  []string
		want string
	}{
		"mode":               {[]string{"mode=enforcing"}, "at '/mode': value must be one of 'audit', 'enforce'"},
		"failure policy":     {[]string{"failurePolicy=open"}, "at '/failurePolicy': value must be one of 'ignore', 'fail'"},
		"metrics port":       {[]string{"metrics.port=99999"}, "at '/metrics/port': maximum"},
		"plugin index":       {[]string{"pluginIndex=100"}, "at '/pluginIndex'"},
		"plugin index text":  {[]string{"pluginIndex=ab"}, "does not match pattern"},
		"log format":         {[]string{"logFormat=xml"}, "at '/logFormat': value must be one of 'json', 'text'"},
		"empty tag":          {[]string{"image.tag="}, "at '/image/tag': minLength"},
		"unknown value":      {[]string{"replicas=2"}, "additional properties 'replicas' not allowed"},
		"memory quantity":    {[]string{"resources.limits.memory=lots"}, "at '/resources/limits/memory'"},
		"rule without name":  {[]string{"policy.rules[0].mode=audit"}, "at '/policy/rules/0': missing property 'name'"},
		"pod logs dir":       {[]string{"policy.podLogsDir=var/log"}, "at '/policy/podLogsDir'"},
		"configmap and mode": {[]string{"policy.existingConfigMap=mine", "mode=enforce"}, "policy.existingConfigMap is set"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			out, err := helmTemplate(t, nil, tc.set...)
			if err == nil {
				t.Fatalf("--set %v rendered:\n%s", tc.set, out)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("--set %v: %v\nwant a message with %q", tc.set, err, tc.want)
			}
		})
	}
}
