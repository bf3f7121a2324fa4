package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/test/cluster/node"
	"github.com/specguard/specguard/test/e2e/harness"
)

// chart is specguard's Helm chart, relative to the repository root.
const chart = "deploy/helm/specguard"

// helmValues is the install's values: enforce, with the cluster policy's
// downward-api rule at POLICY_GENERATION gen.
func helmValues(gen int) string {
	return fmt.Sprintf(`mode: enforce
policy:
  rules:
    - name: downward-api
      match:
        namespaces: ["sg-*"]
      env:
        - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
        - {name: POLICY_GENERATION, value: "%d"}
`, gen)
}

// TestHelm installs specguard with its Helm chart on a node of its own, the
// way a node admin does: the rendered objects validated by the API server
// (server-side dry run, strict field validation: the Kubernetes 1.37
// schemas), `helm install`, `helm upgrade` with a policy change that new
// pods follow without a restart of specguard, `helm rollback`, and `helm
// uninstall`, each checked on what Kubernetes and the runtime report.
func TestHelm(t *testing.T) {
	requireEnv(t)
	n := startNode(t, "cluster-e2e-helm")
	if err := n.Stack.ImportImage(suite.archive); err != nil {
		t.Fatal(err)
	}
	h := &helmCluster{cluster: &cluster{t: t, n: n}, home: t.TempDir()}
	// The chart renders the release namespace itself (with its Pod
	// Security label); docs/deploy.md installs with --create-namespace
	// --take-ownership, so the namespace may exist first, as here.
	h.kubectl("create", "namespace", node.Namespace)
	h.kubectl("create", "namespace", testNS)

	run := func(name string, f func(h *helmCluster)) bool {
		return t.Run(name, func(t *testing.T) {
			f(&helmCluster{cluster: &cluster{t: t, n: n}, home: h.home})
		})
	}
	if !run("dry-run", (*helmCluster).dryRun) || !run("install", (*helmCluster).install) {
		t.FailNow()
	}
	run("upgrade", (*helmCluster).upgrade)
	run("rollback", (*helmCluster).rollback)
	run("uninstall", (*helmCluster).uninstall)
}

type helmCluster struct {
	*cluster
	home string // HELM_*_HOME: nothing written to the user's home
}

// helm runs the helm pinned in deploy/tools/go.mod against the node.
func (h *helmCluster) helm(args ...string) (string, error) {
	cmd := exec.Command("go", append([]string{"tool", "helm", "--kubeconfig", h.n.Kubeconfig()}, args...)...)
	cmd.Dir = filepath.Join(suite.root, "deploy", "tools")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(h.home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(h.home, "config"), "HELM_DATA_HOME="+filepath.Join(h.home, "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func (h *helmCluster) mustHelm(args ...string) string {
	h.t.Helper()
	out, err := h.helm(args...)
	if err != nil {
		h.t.Fatal(err)
	}
	return out
}

func (h *helmCluster) valuesFile(gen int) string {
	f := filepath.Join(h.t.TempDir(), "values.yaml")
	if err := os.WriteFile(f, []byte(helmValues(gen)), 0o644); err != nil {
		h.t.Fatal(err)
	}
	return f
}

// dryRun: the defaults and each example values file render objects the
// API server accepts (server-side dry run with strict field validation).
// The prometheus-operator objects are left out: the node has no such CRDs.
func (h *helmCluster) dryRun() {
	examples, _ := filepath.Glob(filepath.Join(suite.root, chart, "examples", "*.yaml"))
	if len(examples) == 0 {
		h.t.Fatal("no example values files")
	}
	for _, values := range append([]string{""}, examples...) {
		args := []string{"template", "specguard", filepath.Join(suite.root, chart), "--namespace", node.Namespace}
		if values != "" {
			args = append(args, "-f", values)
		}
		out := h.mustHelm(args...)
		var docs []string
		for _, doc := range strings.Split(out, "\n---\n") {
			if !strings.Contains(doc, "apiVersion: monitoring.coreos.com/") {
				docs = append(docs, doc)
			}
		}
		cmd := exec.Command(filepath.Join(h.n.Tools.KubeBin, "kubectl"), "--kubeconfig", h.n.Kubeconfig(),
			"apply", "--dry-run=server", "--validate=strict", "-f", "-")
		cmd.Stdin = strings.NewReader(strings.Join(docs, "\n---\n"))
		res, err := cmd.CombinedOutput()
		if err != nil {
			h.t.Errorf("the API server refuses the chart's objects with %q: %v\n%s", filepath.Base(values), err, res)
			continue
		}
		if got := strings.Count(string(res), "(server dry run)"); got < 9 {
			h.t.Errorf("%s: %d objects dry-run, want the chart's 9 or more:\n%s", filepath.Base(values), got, res)
		}
	}
}

// install: helm install; the DaemonSet rolls out, specguard is Ready and
// connected, and a new pod gets its annotations and the rule's env.
func (h *helmCluster) install() {
	h.mustHelm("install", "specguard", filepath.Join(suite.root, chart), "--namespace", node.Namespace,
		"--create-namespace", "--take-ownership", "-f", h.valuesFile(1))
	if err := h.n.WaitSpecguard(3 * time.Minute); err != nil {
		h.t.Fatal(err)
	}
	h.releaseStatus(1)
	m, err := h.n.SpecguardMetrics()
	if err != nil {
		h.t.Fatal(err)
	}
	if v := node.MetricValue(m, "specguard_nri_connected"); v != 1 {
		h.t.Errorf("specguard_nri_connected = %v, want 1", v)
	}
	if ns := h.kubectl("get", "namespace", node.Namespace, "-o", "jsonpath={.metadata.labels}"); !strings.Contains(ns, `"pod-security.kubernetes.io/enforce":"privileged"`) {
		h.t.Errorf("namespace labels %s, want the chart's Pod Security label", ns)
	}
	h.checkPod("helm-installed", "1")
}

// releaseStatus checks helm's record: deployed at revision rev.
func (h *helmCluster) releaseStatus(rev int) {
	var st struct {
		Info struct {
			Status string `json:"status"`
		} `json:"info"`
		Version int `json:"version"`
	}
	if err := json.Unmarshal([]byte(h.mustHelm("status", "specguard", "--namespace", node.Namespace, "-o", "json")), &st); err != nil {
		h.t.Fatal(err)
	}
	if st.Info.Status != "deployed" || st.Version != rev {
		h.t.Errorf("helm status: %s revision %d, want deployed revision %d", st.Info.Status, st.Version, rev)
	}
}

// checkPod starts a pod in the test namespace and checks specguard adjusted
// it: its annotations in the runtime spec, the rule's env at generation gen.
func (h *helmCluster) checkPod(name, gen string) {
	h.apply(podManifest(name, "sleep 3600", ""))
	p := h.waitPodReady(name, 2*time.Minute)
	in, err := h.inspect(containerID(p.Status.ContainerStatuses[0].ContainerID))
	if err != nil {
		h.t.Fatal(err)
	}
	a := in.Info.RuntimeSpec.Annotations
	if a["specguard.io/restart-count"] != "0" || !strings.Contains(a["specguard.io/rules"], "downward-api") {
		h.t.Errorf("pod %s: specguard.io/restart-count %q, specguard.io/rules %q", name, a["specguard.io/restart-count"], a["specguard.io/rules"])
	}
	env := harness.ParseEnv(h.kubectl("-n", testNS, "exec", name, "--", "env"))
	if env["POLICY_GENERATION"] != gen || env["RESTART_COUNT"] != "0" {
		h.t.Errorf("pod %s: POLICY_GENERATION=%q RESTART_COUNT=%q, want %s and 0", name, env["POLICY_GENERATION"], env["RESTART_COUNT"], gen)
	}
}

// policyChange runs a helm command that changes the policy and waits for
// the running specguard to reload it (the kubelet's ConfigMap sync, nudged
// as setPolicy does), without a restart of its pod.
func (h *helmCluster) policyChange(args ...string) {
	before, err := h.n.SpecguardPod()
	if err != nil {
		h.t.Fatal(err)
	}
	ok := h.reloads("success")
	h.mustHelm(args...)
	h.kubectl("-n", node.Namespace, "annotate", "pod", before.Name, "--overwrite",
		"specguard-e2e/policy-sync="+fmt.Sprint(time.Now().UnixNano()))
	h.waitReload("success", ok)
	if now, err := h.n.SpecguardPod(); err != nil || now.UID != before.UID {
		h.t.Errorf("specguard's pod was replaced or is not ready after a policy change: %v", err)
	}
}

// upgrade: helm upgrade with a changed policy; new pods follow it.
func (h *helmCluster) upgrade() {
	h.policyChange("upgrade", "specguard", filepath.Join(suite.root, chart), "--namespace", node.Namespace, "-f", h.valuesFile(2))
	h.releaseStatus(2)
	h.checkPod("helm-upgraded", "2")
}

// rollback: helm rollback to revision 1 brings its policy back.
func (h *helmCluster) rollback() {
	h.policyChange("rollback", "specguard", "1", "--namespace", node.Namespace)
	h.releaseStatus(3)
	h.checkPod("helm-rolled-back", "1")
}

// uninstall: helm uninstall removes specguard and its admission policies
// and keeps the namespace (it holds helm's release record); new pods start
// without specguard's changes.
func (h *helmCluster) uninstall() {
	h.mustHelm("uninstall", "specguard", "--namespace", node.Namespace, "--wait", "--timeout", "3m")
	// --wait waits for the DaemonSet; its pod goes after it.
	if err := eventually(2*time.Minute, time.Second, func() error {
		if out := h.kubectl("get", "all", "--namespace", node.Namespace, "-o", "name"); strings.TrimSpace(out) != "" {
			return fmt.Errorf("left in %s after helm uninstall:\n%s", node.Namespace, out)
		}
		return nil
	}); err != nil {
		h.t.Error(err)
	}
	if out, err := h.n.Kubectl("-n", node.Namespace, "get", "configmap", "specguard-policy", "-o", "name"); err == nil {
		h.t.Errorf("the policy ConfigMap is left after helm uninstall: %s", out)
	}
	if out, err := h.helm("status", "specguard", "--namespace", node.Namespace); err == nil {
		h.t.Errorf("helm still knows the release after uninstall:\n%s", out)
	}
	for _, name := range []string{tolerationPolicy, subPathPolicy} {
		if out, err := h.n.Kubectl("get", "validatingadmissionpolicy", name, "-o", "name"); err == nil || !strings.Contains(err.Error(), "NotFound") {
			h.t.Errorf("validatingadmissionpolicy %s after helm uninstall: %q %v, want NotFound", name, out, err)
		}
	}
	h.apply(podManifest("after-helm-uninstall", "sleep 3600", ""))
	p := h.waitPodReady("after-helm-uninstall", 2*time.Minute)
	in, err := h.inspect(containerID(p.Status.ContainerStatuses[0].ContainerID))
	if err != nil {
		h.t.Fatal(err)
	}
	if v, ok := in.Info.RuntimeSpec.Annotations["specguard.io/restart-count"]; ok {
		h.t.Errorf("a pod after helm uninstall still got specguard.io/restart-count=%q", v)
	}
}
