package deploy_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/policy"
)

const (
	namespace     = "specguard-system"
	policyMap     = "specguard-policy"
	nriDir        = "/var/run/nri"
	podLogsDir    = "/var/log/pods"
	toleration    = "tolerate-missing-nri-plugins.noderesource.dev"
	kustomizeDir  = "tools" // deploy/tools: the pinned kustomize
	metricsPortNo = 9090
)

// wantArgs is the command line the DaemonSet and the systemd unit run.
var wantArgs = []string{
	"run", "--config", "/etc/specguard/policy.yaml", "--socket-path", "/var/run/nri/nri.sock",
	"--metrics-addr", ":9090", "--log-format", "json",
}

// objects is a decoded manifest stream, by kind.
type objects struct {
	namespaces      []*corev1.Namespace
	quotas          []*corev1.ResourceQuota
	serviceAccounts []*corev1.ServiceAccount
	configMaps      []*corev1.ConfigMap
	services        []*corev1.Service
	daemonSets      []*appsv1.DaemonSet
	policies        []*admissionv1.ValidatingAdmissionPolicy
	bindings        []*admissionv1.ValidatingAdmissionPolicyBinding
	// prometheus-operator objects (the chart's ServiceMonitor and
	// PrometheusRule), whose types are not in k8s.io/api.
	monitoring []map[string]any
}

func (o *objects) count() int {
	return len(o.namespaces) + len(o.quotas) + len(o.serviceAccounts) + len(o.configMaps) + len(o.services) + len(o.daemonSets) +
		len(o.policies) + len(o.bindings) + len(o.monitoring)
}

func (o *objects) meta() []*metav1.ObjectMeta {
	var m []*metav1.ObjectMeta
	for _, x := range o.quotas {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.serviceAccounts {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.configMaps {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.services {
		m = append(m, &x.ObjectMeta)
	}
	for _, x := range o.daemonSets {
		m = append(m, &x.ObjectMeta)
	}
	return m
}

// decodeStrict decodes every YAML document of a stream into its k8s.io/api
// type. Unknown fields, duplicate fields and unknown kinds are errors.
func decodeStrict(name string, data []byte) (*objects, error) {
	out := &objects{}
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", name, i, err)
		}
		if tm.Kind == "" && len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var obj any
		switch tm.APIVersion + "/" + tm.Kind {
		case "v1/Namespace":
			x := &corev1.Namespace{}
			out.namespaces, obj = append(out.namespaces, x), x
		case "v1/ResourceQuota":
			x := &corev1.ResourceQuota{}
			out.quotas, obj = append(out.quotas, x), x
		case "v1/ServiceAccount":
			x := &corev1.ServiceAccount{}
			out.serviceAccounts, obj = append(out.serviceAccounts, x), x
		case "v1/ConfigMap":
			x := &corev1.ConfigMap{}
			out.configMaps, obj = append(out.configMaps, x), x
		case "v1/Service":
			x := &corev1.Service{}
			out.services, obj = append(out.services, x), x
		case "apps/v1/DaemonSet":
			x := &appsv1.DaemonSet{}
			out.daemonSets, obj = append(out.daemonSets, x), x
		case "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy":
			x := &admissionv1.ValidatingAdmissionPolicy{}
			out.policies, obj = append(out.policies, x), x
		case "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicyBinding":
			x := &admissionv1.ValidatingAdmissionPolicyBinding{}
			out.bindings, obj = append(out.bindings, x), x
		case "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule":
			x := map[string]any{}
			if err := yaml.Unmarshal(doc, &x); err != nil {
				return nil, fmt.Errorf("%s: document %d (%s): %w", name, i, tm.Kind, err)
			}
			out.monitoring = append(out.monitoring, x)
			continue
		default:
			return nil, fmt.Errorf("%s: document %d: unexpected kind %s %s", name, i, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("%s: document %d (%s): %w", name, i, tm.Kind, err)
		}
	}
}

func decodeFile(t *testing.T, path string) *objects {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := decodeStrict(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// kustomize builds dir with the kustomize pinned in deploy/tools/go.mod.
func kustomize(t *testing.T, dir string) []byte {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("no go command to run the pinned kustomize")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin, "tool", "kustomize", "build", abs)
	cmd.Dir = kustomizeDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	return out
}

func TestKustomizeIsPinned(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(kustomizeDir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !hasTool(data, "sigs.k8s.io/kustomize/kustomize/v5") {
		t.Error("deploy/tools/go.mod has no tool directive for sigs.k8s.io/kustomize/kustomize/v5")
	}
	for _, want := range []string{
		"sigs.k8s.io/kustomize/kustomize/v5 v5.8.2",
		"sigs.k8s.io/kustomize/api v0.21.2",
	} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("deploy/tools/go.mod lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(kustomizeDir, "go.sum")); err != nil {
		t.Errorf("deploy/tools/go.sum: %v (the pin needs its checksums)", err)
	}
}

// TestSourceManifestsDecodeStrictly decodes every manifest and patch file as
// written, before kustomize has seen it.
func TestSourceManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("base/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	patches, _ := filepath.Glob("overlays/*/*-patch.yaml")
	files = append(files, patches...)
	decoded := 0
	for _, f := range files {
		switch filepath.Base(f) {
		case "kustomization.yaml", "policy.yaml":
			continue
		}
		decodeFile(t, f)
		decoded++
	}
	if decoded < 8 {
		t.Errorf("decoded %d manifest files, want the base's 7 and the fail-closed patch", decoded)
	}
	// The decoder is strict: a misspelled field fails.
	bad := []byte("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      hostNetwrok: true\n")
	if _, err := decodeStrict("bad.yaml", bad); err == nil || !strings.Contains(err.Error(), "hostNetwrok") {
		t.Errorf("strict decode of a misspelled field: %v", err)
	}
}

func TestBaseDaemonSet(t *testing.T) {
	o := decodeFile(t, "base/daemonset.yaml")
	if len(o.daemonSets) != 1 {
		t.Fatalf("base/daemonset.yaml holds %d DaemonSets", len(o.daemonSets))
	}
	checkDaemonSet(t, o.daemonSets[0], false)
}

// checkDaemonSet asserts what every specguard DaemonSet must be.
func checkDaemonSet(t *testing.T, ds *appsv1.DaemonSet, hostNetwork bool) {
	t.Helper()
	spec := ds.Spec.Template.Spec

	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		t.Errorf("selector %v: %v", ds.Spec.Selector, err)
	} else if !sel.Matches(labelSet(ds.Spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", ds.Spec.Selector, ds.Spec.Template.Labels)
	}

	// Never two specguards on a node.
	us := ds.Spec.UpdateStrategy
	if us.Type != appsv1.RollingUpdateDaemonSetStrategyType || us.RollingUpdate == nil ||
		us.RollingUpdate.MaxSurge == nil || us.RollingUpdate.MaxSurge.IntValue() != 0 {
		t.Errorf("update strategy %+v, want RollingUpdate with maxSurge 0", us)
	}

	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName %q", spec.PriorityClassName)
	}
	if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	}) {
		t.Errorf("tolerations %+v do not tolerate every taint", spec.Tolerations)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Error("the API token is mounted; specguard never calls the API server")
	}
	if spec.HostPID || spec.HostIPC {
		t.Error("hostPID or hostIPC set")
	}
	if spec.HostNetwork != hostNetwork {
		t.Errorf("hostNetwork = %v, want %v", spec.HostNetwork, hostNetwork)
	}
	if hostNetwork && spec.DNSPolicy != corev1.DNSClusterFirstWithHostNet {
		t.Errorf("hostNetwork with dnsPolicy %q", spec.DNSPolicy)
	}
	if ds.Spec.Template.Annotations[toleration] != "true" {
		t.Errorf("pod annotation %s is not \"true\": specguard's own pod would be refused under fail-closed", toleration)
	}

	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("%d containers, %d init containers; want one container", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	if len(c.Command) != 0 {
		t.Errorf("command %v overrides the image's entrypoint", c.Command)
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args %q, want %q", c.Args, wantArgs)
	}
	if !strings.Contains(c.Image, ":") || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %q pull policy %q, want a tagged image, IfNotPresent", c.Image, c.ImagePullPolicy)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "SPECGUARD_NODE_NAME" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "spec.nodeName"
	}) {
		t.Errorf("env %+v lacks SPECGUARD_NODE_NAME from spec.nodeName", c.Env)
	}

	// Least privilege.
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and nothing added", sc.Capabilities)
	}
	// uid 0 is what opens the root-only NRI socket, nothing more.
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser %v, want 0 (the NRI socket is root's)", sc.RunAsUser)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile %+v, want RuntimeDefault", sc.SeccompProfile)
	}

	// Volumes: the NRI directory (not the socket), pod logs read-only, the
	// policy ConfigMap as a directory. No other host path.
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m
		if m.SubPath != "" || m.SubPathExpr != "" {
			t.Errorf("mount %s uses a subPath: updates (socket re-creation, ConfigMap edits) would not show", m.MountPath)
		}
		v, ok := vols[m.Name]
		if !ok {
			t.Errorf("mount %s names no volume %q", m.MountPath, m.Name)
			continue
		}
		if v.HostPath != nil && !m.ReadOnly {
			t.Errorf("host path %s is mounted writable at %s", v.HostPath.Path, m.MountPath)
		}
	}
	hostPaths := 0
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			hostPaths++
		}
	}
	if hostPaths != 2 {
		t.Errorf("%d hostPath volumes, want 2 (NRI directory, pod logs)", hostPaths)
	}

	socket := argValue(t, c.Args, "--socket-path")
	nri, ok := mounts[filepath.Dir(socket)]
	if !ok {
		t.Fatalf("no mount at %s, the directory of --socket-path %s", filepath.Dir(socket), socket)
	}
	if hp := vols[nri.Name].HostPath; hp == nil || hp.Path != nriDir || hp.Type == nil || *hp.Type != corev1.HostPathDirectory {
		t.Errorf("NRI volume %s is hostPath %+v, want %s of type Directory (the directory, not the socket file)", nri.Name, hp, nriDir)
	}
	if nri.MountPath != nriDir {
		t.Errorf("NRI directory mounted at %s, want %s", nri.MountPath, nriDir)
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil && strings.HasSuffix(v.HostPath.Path, ".sock") {
			t.Errorf("volume %s mounts the socket file %s; a containerd restart would orphan it", v.Name, v.HostPath.Path)
		}
	}
	logs, ok := mounts[podLogsDir]
	if !ok {
		t.Errorf("no mount at %s", podLogsDir)
	} else if hp := vols[logs.Name].HostPath; hp == nil || hp.Path != podLogsDir || !logs.ReadOnly {
		t.Errorf("pod logs mount %+v, volume %+v: want hostPath %s read-only", logs, vols[logs.Name], podLogsDir)
	}
	config := argValue(t, c.Args, "--config")
	pm, ok := mounts[filepath.Dir(config)]
	if !ok {
		t.Fatalf("no mount at %s, the directory of --config %s", filepath.Dir(config), config)
	}
	if cm := vols[pm.Name].ConfigMap; cm == nil || cm.Name != policyMap {
		t.Errorf("policy volume %+v, want ConfigMap %s", vols[pm.Name], policyMap)
	}

	// Probes on the health endpoints, on the metrics port.
	_, port, err := net.SplitHostPort(argValue(t, c.Args, "--metrics-addr"))
	if err != nil || port != fmt.Sprint(metricsPortNo) {
		t.Errorf("--metrics-addr port %q (%v), want %d", port, err, metricsPortNo)
	}
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool {
		return p.Name == "metrics" && p.ContainerPort == metricsPortNo && p.HostPort == 0
	}) {
		t.Errorf("ports %+v, want metrics on %d without a hostPort", c.Ports, metricsPortNo)
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe %+v is not an HTTP GET", p.name, p.probe)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "metrics" {
			t.Errorf("%s probe GET %s on port %s, want %s on metrics", p.name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path)
		}
	}

	// Requests and limits, limits no lower than requests.
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim {
			t.Errorf("%s: request %v limit %v, want both", res, req.String(), lim.String())
			continue
		}
		if lim.Cmp(req) < 0 {
			t.Errorf("%s limit %s below request %s", res, lim.String(), req.String())
		}
	}
}

func argValue(t *testing.T, args []string, flag string) string {
	t.Helper()
	i := slices.Index(args, flag)
	if i < 0 || i+1 >= len(args) {
		t.Fatalf("args %q lack %s", args, flag)
	}
	return args[i+1]
}

type labelSet map[string]string

func (l labelSet) Has(k string) bool   { _, ok := l[k]; return ok }
func (l labelSet) Get(k string) string { return l[k] }
func (l labelSet) Lookup(k string) (string, bool) {
	v, ok := l[k]
	return v, ok
}

func TestOverlays(t *testing.T) {
	tests := map[string]struct {
		mode        policy.Mode
		failure     policy.FailurePolicy
		hostNetwork bool
		// What a container whose identity labels contradict its sandbox
		// gets: refused where the overlay enforces, reported where it audits.
		identityCheck policy.Mode
	}{
		"base":                 {policy.ModeAudit, policy.FailureIgnore, false, policy.ModeAudit},
		"overlays/audit":       {policy.ModeAudit, policy.FailureIgnore, false, policy.ModeAudit},
		"overlays/enforce":     {policy.ModeEnforce, policy.FailureIgnore, false, policy.ModeEnforce},
		"overlays/fail-closed": {policy.ModeEnforce, policy.FailureFail, true, policy.ModeEnforce},
	}
	for dir, want := range tests {
		t.Run(dir, func(t *testing.T) {
			out := kustomize(t, dir)
			o, err := decodeStrict(dir+" (kustomize build)", out)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.daemonSets) != 1 || len(o.configMaps) != 1 || len(o.namespaces) != 1 || len(o.services) != 1 ||
				len(o.serviceAccounts) != 1 || len(o.quotas) != 1 || len(o.policies) != 2 || len(o.bindings) != 2 || o.count() != 10 {
				t.Fatalf("built %d objects (%d DaemonSets, %d ConfigMaps, %d Namespaces, %d Services, %d ServiceAccounts, %d ResourceQuotas, "+
					"%d ValidatingAdmissionPolicies, %d bindings), want one of each and two admission policies with their bindings",
					o.count(), len(o.daemonSets), len(o.configMaps), len(o.namespaces), len(o.services), len(o.serviceAccounts), len(o.quotas),
					len(o.policies), len(o.bindings))
			}
			checkAdmissionPolicies(t, o)
			if ns := o.namespaces[0]; ns.Name != namespace || ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged" {
				t.Errorf("namespace %s labels %v", ns.Name, ns.Labels)
			}
			for _, m := range o.meta() {
				if m.Namespace != namespace {
					t.Errorf("%s is in namespace %q, want %s", m.Name, m.Namespace, namespace)
				}
			}

			ds := o.daemonSets[0]
			checkDaemonSet(t, ds, want.hostNetwork)
			if ds.Spec.Template.Spec.ServiceAccountName != o.serviceAccounts[0].Name {
				t.Errorf("DaemonSet runs as %q, the ServiceAccount is %q", ds.Spec.Template.Spec.ServiceAccountName, o.serviceAccounts[0].Name)
			}

			// The policy the DaemonSet mounts exists and is valid.
			cm := o.configMaps[0]
			if cm.Name != policyMap {
				t.Errorf("ConfigMap %q, want %q (a fixed name: policy edits hot-reload instead of restarting the pods)", cm.Name, policyMap)
			}
			config := argValue(t, ds.Spec.Template.Spec.Containers[0].Args, "--config")
			doc, ok := cm.Data[filepath.Base(config)]
			if !ok {
				t.Fatalf("ConfigMap keys %v lack %s", mapKeys(cm.Data), filepath.Base(config))
			}
			p, err := policy.Parse(dir+"/policy.yaml", []byte(doc))
			if err != nil {
				t.Fatalf("the ConfigMap's policy is invalid: %v", err)
			}
			if p.Mode != want.mode || p.FailurePolicy != want.failure {
				t.Errorf("policy mode %s failurePolicy %s, want %s %s", p.Mode, p.FailurePolicy, want.mode, want.failure)
			}
			if p.Document.Spec.Metadata.IdentityCheck != want.identityCheck || p.Metadata.IdentityCheck != want.identityCheck {
				t.Errorf("spec.metadata.identityCheck %q (resolved %q), want %q written out", p.Document.Spec.Metadata.IdentityCheck,
					p.Metadata.IdentityCheck, want.identityCheck)
			}
			if !strings.Contains(doc, "metadata:") {
				t.Error("the policy has no metadata block")
			}

			// The metrics Service reaches every pod, ready or not.
			svc := o.services[0]
			sel, err := metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector})
			if err != nil || sel.Empty() || !sel.Matches(labelSet(ds.Spec.Template.Labels)) {
				t.Errorf("Service selector %v does not select the pods %v", svc.Spec.Selector, ds.Spec.Template.Labels)
			}
			if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
				t.Errorf("Service clusterIP %q publishNotReadyAddresses %v, want headless and true", svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
			}
			if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].TargetPort.String() != "metrics" {
				t.Errorf("Service ports %+v, want one targeting the metrics port", svc.Spec.Ports)
			}

			q := o.quotas[0]
			if q.Spec.ScopeSelector == nil || len(q.Spec.ScopeSelector.MatchExpressions) != 1 ||
				!slices.Contains(q.Spec.ScopeSelector.MatchExpressions[0].Values, ds.Spec.Template.Spec.PriorityClassName) {
				t.Errorf("ResourceQuota %+v does not admit priority class %s", q.Spec, ds.Spec.Template.Spec.PriorityClassName)
			}
		})
	}
}

func mapKeys(m map[string]string) []string {
	var k []string
	for x := range m {
		k = append(k, x)
	}
	slices.Sort(k)
	return k
}

// TestFailClosedMatchesContainerd checks the two halves of fail-closed agree:
// containerd requires the plugin name specguard registers with, and lets
// specguard's own pod through with the annotation the DaemonSet carries.
func TestFailClosedMatchesContainerd(t *testing.T) {
	data, err := os.ReadFile("containerd/fail-closed.toml")
	if errors.Is(err, os.ErrNotExist) {
		t.Fatal("deploy/containerd/fail-closed.toml is missing")
	}
	if err != nil {
		t.Fatal(err)
	}
	toml := string(data)
	if !strings.Contains(toml, `required_plugins = ["specguard"]`) {
		t.Errorf(`deploy/containerd/fail-closed.toml does not require "specguard"`)
	}
	key := tomlString(toml, "tolerate_missing_plugins_annotation")
	if key == "" {
		t.Fatalf("deploy/containerd/fail-closed.toml sets no tolerate_missing_plugins_annotation; "+
			"specguard's own DaemonSet pod could not start under it (the DaemonSet carries %s)", toleration)
	}
	if key != toleration {
		t.Errorf("containerd tolerates missing plugins with annotation %q, the DaemonSet carries %q", key, toleration)
	}
}

// tomlString returns the value of `key = "value"` in a TOML text, or "".
func tomlString(toml, key string) string {
	for _, line := range strings.Split(toml, "\n") {
		line = strings.TrimSpace(line)
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.TrimSpace(k) != key {
			continue
		}
		v = strings.TrimSpace(v)
		if i := strings.Index(v, "#"); i > 0 {
			v = strings.TrimSpace(v[:i])
		}
		return strings.Trim(v, `"'`)
	}
	return ""
}

// The admission policies deploy/base ships (docs/deploy.md, "Admission
// policies").
const (
	tolerationPolicy = "specguard-tolerate-missing-nri-plugins"
	subPathPolicy    = "specguard-hostpath-subpath"
	subPathExemption = "specguard.io/hostpath-subpath"
)

// checkAdmissionPolicies asserts what the built admission policies must be:
// cluster-scoped, failing closed, each bound with Deny, matching Pod
// creation, and naming what the rest of deploy/ names (the namespace the
// objects are built into, the toleration key containerd reads). What the
// expressions decide is tested on a real API server (test/cluster, the
// "admission" scenario).
func checkAdmissionPolicies(t *testing.T, o *objects) {
	t.Helper()
	policies := map[string]*admissionv1.ValidatingAdmissionPolicy{}
	for _, p := range o.policies {
		policies[p.Name] = p
		if p.Namespace != "" {
			t.Errorf("ValidatingAdmissionPolicy %s has namespace %q; it is cluster-scoped", p.Name, p.Namespace)
		}
		if p.Spec.FailurePolicy == nil || *p.Spec.FailurePolicy != admissionv1.Fail {
			t.Errorf("policy %s failurePolicy %v, want Fail: an expression error must not admit the pod", p.Name, p.Spec.FailurePolicy)
		}
		if !matchesPodCreate(p.Spec.MatchConstraints) {
			t.Errorf("policy %s does not match the creation of core/v1 pods: %+v", p.Name, p.Spec.MatchConstraints)
		}
		if len(p.Spec.Validations) == 0 {
			t.Errorf("policy %s has no validations", p.Name)
		}
		for i, v := range p.Spec.Validations {
			if v.MessageExpression == "" || v.Reason == nil || *v.Reason != metav1.StatusReasonForbidden {
				t.Errorf("policy %s validation %d: messageExpression %q reason %v, want a message naming what and why, reason Forbidden",
					p.Name, i, v.MessageExpression, v.Reason)
			}
		}
	}
	bound := map[string]*admissionv1.ValidatingAdmissionPolicyBinding{}
	for _, b := range o.bindings {
		bound[b.Spec.PolicyName] = b
		if b.Namespace != "" {
			t.Errorf("binding %s has namespace %q; it is cluster-scoped", b.Name, b.Namespace)
		}
		if _, ok := policies[b.Spec.PolicyName]; !ok {
			t.Errorf("binding %s names policy %q, which is not built", b.Name, b.Spec.PolicyName)
		}
		if !slices.Equal(b.Spec.ValidationActions, []admissionv1.ValidationAction{admissionv1.Deny}) {
			t.Errorf("binding %s validationActions %v, want [Deny]", b.Name, b.Spec.ValidationActions)
		}
		if b.Spec.ParamRef != nil {
			t.Errorf("binding %s has a paramRef; the policies take no parameters", b.Name)
		}
	}
	for _, name := range []string{tolerationPolicy, subPathPolicy} {
		if policies[name] == nil || bound[name] == nil {
			t.Errorf("policy %s built %v, bound %v; want both", name, policies[name] != nil, bound[name] != nil)
		}
	}

	// The toleration: reserved for the namespace the DaemonSet is built
	// into, for the key the DaemonSet carries and containerd reads.
	if p, b := policies[tolerationPolicy], bound[tolerationPolicy]; p != nil && b != nil {
		ns := o.daemonSets[0].Namespace
		if !slices.ContainsFunc(p.Spec.Validations, func(v admissionv1.Validation) bool {
			return strings.Contains(v.Expression, "request.namespace == '"+ns+"'")
		}) {
			t.Errorf("policy %s does not exempt namespace %s, where the DaemonSet is: %+v", p.Name, ns, p.Spec.Validations)
		}
		if !slices.ContainsFunc(p.Spec.Variables, func(v admissionv1.Variable) bool {
			return v.Name == "key" && v.Expression == "'"+toleration+"'"
		}) {
			t.Errorf("policy %s does not guard the key %s: %+v", p.Name, toleration, p.Spec.Variables)
		}
		if !slices.Contains(p.Spec.MatchConstraints.ResourceRules[0].Operations, admissionv1.Update) {
			t.Errorf("policy %s does not match pod updates: adding the annotation later takes effect at the next sandbox", p.Name)
		}
		if b.Spec.MatchResources != nil {
			t.Errorf("binding %s narrows its scope (%+v); the annotation is refused in every other namespace", b.Name, b.Spec.MatchResources)
		}
	}

	// hostPath with subPath: every namespace but the ones labelled exempt.
	if b := bound[subPathPolicy]; b != nil {
		var sel *metav1.LabelSelector
		if b.Spec.MatchResources != nil {
			sel = b.Spec.MatchResources.NamespaceSelector
		}
		s, err := metav1.LabelSelectorAsSelector(sel)
		switch {
		case sel == nil || err != nil:
			t.Errorf("binding %s namespaceSelector %+v (%v), want one exempting %s=allow", b.Name, sel, err, subPathExemption)
		case !s.Matches(labelSet{}) || !s.Matches(labelSet{subPathExemption: "deny"}):
			t.Errorf("binding %s selector %s skips namespaces that are not exempt", b.Name, s)
		case s.Matches(labelSet{subPathExemption: "allow"}):
			t.Errorf("binding %s selector %s still selects a namespace labelled %s=allow", b.Name, s, subPathExemption)
		}
	}
}

// matchesPodCreate reports whether match constraints cover CREATE of
// core/v1 pods.
func matchesPodCreate(m *admissionv1.MatchResources) bool {
	if m == nil {
		return false
	}
	return slices.ContainsFunc(m.ResourceRules, func(r admissionv1.NamedRuleWithOperations) bool {
		return slices.Equal(r.APIGroups, []string{""}) && slices.Contains(r.APIVersions, "v1") &&
			slices.Contains(r.Resources, "pods") && slices.Contains(r.Operations, admissionv1.Create)
	})
}
