package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/specguard/specguard/test/cluster/node"
	"github.com/specguard/specguard/test/e2e/harness"
)

// overlay is the install the scenarios use: deploy/overlays/enforce with
// the policy swapped (testdata/overlay/policy.yaml).
const overlay = "test/cluster/testdata/overlay"

// TestNode brings up the node once and runs the scenarios in order on it;
// each needs the state the previous ones left (specguard installed, the
// crash-looping pod restarting in the background).
func TestNode(t *testing.T) {
	requireEnv(t)
	n := startNode(t, "cluster-e2e")
	c := &cluster{t: t, n: n}

	if !t.Run("install", func(t *testing.T) { (&cluster{t: t, n: n}).install() }) {
		t.FailNow()
	}
	c.kubectl("create", "namespace", testNS)
	run := func(name string, f func(c *cluster)) bool {
		return t.Run(name, func(t *testing.T) { f(&cluster{t: t, n: n}) })
	}
	crash := (&cluster{t: t, n: n}).startCrashLoop("crashloop")
	defer crash.finish()

	run("deployment", (*cluster).deployment)
	run("resources", (*cluster).resources)
	run("refusal", (*cluster).refusal)
	run("crashloop", func(c *cluster) { c.crashLoopCounts(crash, 3) })
	run("policy-reload", (*cluster).policyReload)
	run("specguard-restarts", func(c *cluster) { c.specguardRestarts(crash) })
	run("admission", (*cluster).admission)
	run("uninstall", (*cluster).uninstall)
	run("fail-closed", (*cluster).failClosed)
}

// keepLogs copies the node's logs next to the test for a failed run.
func keepLogs(t *testing.T, n *node.Node) {
	dst := filepath.Join(suite.root, "test", "cluster", "_work")
	_ = os.MkdirAll(dst, 0o755)
	logs, _ := filepath.Glob(filepath.Join(n.Dir, "logs", "*.log"))
	logs = append(logs, n.Stack.ContainerdLog())
	for _, f := range logs {
		if b, err := os.ReadFile(f); err == nil {
			_ = os.WriteFile(filepath.Join(dst, filepath.Base(f)), b, 0o644)
		}
	}
	if out, err := n.Kubectl("-n", node.Namespace, "logs", "-l", "app.kubernetes.io/name=specguard", "--tail", "-1"); err == nil {
		_ = os.WriteFile(filepath.Join(dst, "specguard.log"), []byte(out), 0o644)
	}
	t.Logf("node logs kept in %s", dst)
}

// install: the image imported, `kubectl apply -k` of the overlay, the
// DaemonSet Ready under deploy/'s security context and mounts, connected.
func (c *cluster) install() {
	if err := c.n.InstallSpecguard(suite.archive, suite.root, overlay, 3*time.Minute); err != nil {
		c.t.Fatal(err)
	}
	p, err := c.n.SpecguardPod()
	if err != nil {
		c.t.Fatal(err)
	}
	in, err := c.inspect(containerID(p.Status.ContainerStatuses[0].ContainerID))
	if err != nil {
		c.t.Fatal(err)
	}
	spec := in.ContainerInspect.Info.RuntimeSpec
	if spec.Root == nil || !spec.Root.Readonly {
		c.t.Errorf("specguard's root filesystem is not read-only: %+v", spec.Root)
	}
	if spec.Process == nil || spec.Process.Capabilities == nil || len(spec.Process.Capabilities.Effective) != 0 ||
		len(spec.Process.Capabilities.Bounding) != 0 || !spec.Process.NoNewPrivileges {
		c.t.Errorf("specguard runs with capabilities or without no_new_privs: %+v", spec.Process)
	}
	mounts := map[string]bool{}
	for _, m := range spec.Mounts {
		mounts[m.Destination] = true
	}
	for _, d := range []string{"/var/run/nri", "/var/log/pods", "/etc/specguard"} {
		if !mounts[d] {
			c.t.Errorf("specguard's container has no mount at %s", d)
		}
	}
	metrics, err := c.n.SpecguardMetrics()
	if err != nil {
		c.t.Fatal(err)
	}
	if v := node.MetricValue(metrics, "specguard_nri_connected"); v != 1 {
		c.t.Errorf("specguard_nri_connected = %v, want 1", v)
	}
}

// deployment: a Deployment's pods carry specguard's annotations in their
// runtime spec and its templated env in their processes.
func (c *cluster) deployment() {
	c.apply(fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: %s
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
        - name: web
          image: %s
          imagePullPolicy: Never
          command: ["sleep", "3600"]
`, testNS, image))
	c.kubectl("-n", testNS, "rollout", "status", "deployment/web", "--timeout", "120s")
	pods := c.podsWithLabel("app=web")
	if len(pods) != 2 {
		c.t.Fatalf("%d pods of deployment web, want 2", len(pods))
	}
	for i := range pods {
		p := &pods[i]
		in, err := c.inspect(containerID(p.Status.ContainerStatuses[0].ContainerID))
		if err != nil {
			c.t.Fatal(err)
		}
		a := in.Info.RuntimeSpec.Annotations
		logPath := fmt.Sprintf("%s/%s_%s_%s/web/0.log", node.PodLogsDir, testNS, p.Name, p.UID)
		want := map[string]string{
			"specguard.io/restart-count":           "0",
			"specguard.io/log-path":                logPath,
			"specguard.io/qos-class":               string(p.Status.QOSClass),
			"io.kubernetes.pod.name":               p.Name,
			"io.kubernetes.pod.namespace":          testNS,
			"io.kubernetes.pod.uid":                string(p.UID),
			"io.kubernetes.container.name":         "web",
			"io.kubernetes.container.restartCount": "0",
		}
		for k, v := range want {
			if a[k] != v {
				c.t.Errorf("pod %s: annotation %s = %q, want %q", p.Name, k, a[k], v)
			}
		}
		if !strings.Contains(a["specguard.io/rules"], "downward-api") {
			c.t.Errorf("pod %s: specguard.io/rules = %q, want downward-api in it", p.Name, a["specguard.io/rules"])
		}
		env := harness.ParseEnv(c.kubectl("-n", testNS, "exec", p.Name, "--", "env"))
		for k, v := range map[string]string{"RESTART_COUNT": "0", "POD_LOG_PATH": logPath,
			"POD_QOS_CLASS": string(p.Status.QOSClass), "POLICY_GENERATION": "1"} {
			if env[k] != v {
				c.t.Errorf("pod %s: env %s = %q, want %q", p.Name, k, env[k], v)
			}
		}
		if in.Status.LogPath != logPath {
			c.t.Errorf("pod %s: the kubelet's log path %q, specguard's %q", p.Name, in.Status.LogPath, logPath)
		}
	}
}

// crashLoopCounts: after at least n restarts, every attempt's printed
// RESTART_COUNT, specguard.io/restart-count and the mirrored annotation
// equal the kubelet's count (its annotation and the pod status);
// specguard.io/log-path is the file the kubelet wrote and holds what that
// attempt printed; `kubectl logs --previous` shows the previous attempt;
// the drift metric stays 0.
func (c *cluster) crashLoopCounts(w *crashLoop, n int) {
	if err := w.waitAttempts(0, n, 3*time.Minute); err != nil {
		c.t.Fatal(err)
	}
	// Let the last attempts exit and be read.
	_ = eventually(30*time.Second, 500*time.Millisecond, func() error {
		for _, a := range w.snapshot() {
			if a.printed == "" {
				return fmt.Errorf("attempt %s not read", a.kubeletCount)
			}
		}
		return nil
	})
	checked := 0
	for _, a := range w.snapshot() {
		if a.printed == "" {
			continue // the attempt running now
		}
		checked++
		k := a.kubeletCount
		if a.specguard != k || a.mirrored != k {
			c.t.Errorf("attempt %s (%s): specguard.io/restart-count %q, mirrored %q, want the kubelet's %s", k, a.id, a.specguard, a.mirrored, k)
		}
		if a.statusCount >= 0 && strconv.Itoa(a.statusCount) != k {
			c.t.Errorf("attempt %s: the pod status said restartCount %d", k, a.statusCount)
		}
		if a.specguardPath != a.criLogPath || !strings.HasPrefix(a.criLogPath, node.PodLogsDir+"/") ||
			!strings.HasSuffix(a.criLogPath, "/c/"+k+".log") {
			c.t.Errorf("attempt %s: specguard.io/log-path %q, the kubelet's %q", k, a.specguardPath, a.criLogPath)
		}
		if want := "attempt=" + k + " path=" + a.criLogPath; a.printed != want {
			c.t.Errorf("attempt %s printed %q, want %q", k, a.printed, want)
		}
	}
	if checked < n {
		c.t.Errorf("only %d attempts checked, want at least %d", checked, n)
	}
	p := c.pod(w.name)
	s := statusContainer(p, "c")
	if s == nil || s.RestartCount < int32(n) {
		c.t.Fatalf("pod status: %+v", s)
	}
	// kubectl logs --previous is the previous attempt's output. The kubelet
	// removes that container once the next attempt has died, so read the
	// status, the logs and the status again, and retry when they disagree.
	err := eventually(30*time.Second, 200*time.Millisecond, func() error {
		last := func() string {
			s := statusContainer(c.pod(w.name), "c")
			if s == nil || s.LastTerminationState.Terminated == nil {
				return ""
			}
			return containerID(s.LastTerminationState.Terminated.ContainerID)
		}
		before := last()
		prev, err := c.n.Kubectl("-n", testNS, "logs", w.name, "--previous")
		if err != nil || before == "" || last() != before {
			return fmt.Errorf("the previous attempt changed while reading it: %q %v", prev, err)
		}
		prev = strings.TrimSpace(prev)
		for _, a := range w.snapshot() {
			if a.id == before {
				if a.printed != "" && prev != a.printed {
					return fmt.Errorf("kubectl logs --previous = %q, attempt %s printed %q", prev, a.kubeletCount, a.printed)
				}
				return nil
			}
		}
		return fmt.Errorf("kubectl logs --previous = %q for a container the watcher did not see (%s)", prev, before)
	})
	if err != nil {
		c.t.Error(err)
	}
	metrics, err := c.n.SpecguardMetrics()
	if err != nil {
		c.t.Fatal(err)
	}
	if v := node.MetricValue(metrics, "specguard_restart_count_drift_total"); v != 0 {
		c.t.Errorf("specguard_restart_count_drift_total = %v, want 0", v)
	}
	w.mu.Lock()
	errs := w.errs
	w.mu.Unlock()
	for _, e := range errs {
		c.t.Error(e)
	}
	c.t.Logf("%d attempts checked of %d made (kubelet counts seen %v)", checked, s.RestartCount+1, keys(w.kubeletCounts()))
}

// resources: the processes' oom_score_adj and cgroup CPU shares, quota,
// period and memory limit are what the kubelet computed and sent (its CRI
// config), for Guaranteed, Burstable and BestEffort pods, an init container
// and a sidecar; specguard's QoS class is the kubelet's.
func (c *cluster) resources() {
	res := func(req, lim string) string {
		var b strings.Builder
		b.WriteString("      resources:\n")
		if req != "" {
			b.WriteString("        requests: " + req + "\n")
		}
		if lim != "" {
			b.WriteString("        limits: " + lim + "\n")
		}
		return b.String()
	}
	pods := map[string]string{
		"guaranteed": podManifest("guaranteed", "sleep 3600", res("{cpu: 250m, memory: 64Mi}", "{cpu: 250m, memory: 64Mi}")),
		"burstable":  podManifest("burstable", "sleep 3600", res("{cpu: 100m, memory: 32Mi}", "{cpu: 500m, memory: 128Mi}")),
		"besteffort": podManifest("besteffort", "sleep 3600", ""),
		"sidecar": fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: sidecar
  namespace: %[1]s
spec:
  terminationGracePeriodSeconds: 1
  initContainers:
    - name: init
      image: %[2]s
      imagePullPolicy: Never
      command: ["true"]
      resources: {requests: {cpu: 50m, memory: 16Mi}}
    - name: side
      image: %[2]s
      imagePullPolicy: Never
      restartPolicy: Always
      command: ["sleep", "3600"]
      resources: {requests: {cpu: 50m, memory: 100Mi}, limits: {cpu: 200m, memory: 200Mi}}
  containers:
    - name: main
      image: %[2]s
      imagePullPolicy: Never
      command: ["sleep", "3600"]
      resources: {requests: {cpu: 100m, memory: 48Mi}, limits: {memory: 96Mi}}
`, testNS, image),
	}
	for _, m := range pods {
		c.apply(m)
	}
	containerdOOM := readInt(c.t, fmt.Sprintf("/proc/%d/oom_score_adj", c.containerdPid()))
	for name := range pods {
		p := c.waitPodReady(name, 2*time.Minute)
		statuses := append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
		for _, s := range statuses {
			if s.State.Running == nil {
				continue // the init container has finished
			}
			c.checkResources(p, s, containerdOOM)
		}
	}
}

func (c *cluster) containerdPid() int {
	st, err := harness.LoadState(c.n.StackDir())
	if err != nil {
		c.t.Fatal(err)
	}
	return st.ContainerdPid
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func (c *cluster) checkResources(p *corev1.Pod, s corev1.ContainerStatus, containerdOOM int64) {
	in, err := c.inspect(containerID(s.ContainerID))
	if err != nil {
		c.t.Fatal(err)
	}
	what := p.Name + "/" + s.Name
	kr := in.Info.Config.Linux.Resources
	if kr.CPUShares == 0 {
		c.t.Fatalf("%s: no CRI config in crictl inspect's info", what)
	}
	// containerd is told restrict_oom_score_adj (these VMs lack
	// CAP_SYS_RESOURCE): nothing goes below containerd's own score.
	wantOOM := max(kr.OOMScoreAdj, containerdOOM)
	if got := readInt(c.t, fmt.Sprintf("/proc/%d/oom_score_adj", in.Info.Pid)); got != wantOOM {
		c.t.Errorf("%s: oom_score_adj %d, the kubelet sent %d (containerd's own %d)", what, got, kr.OOMScoreAdj, containerdOOM)
	}
	lim, err := harness.ReadCgroupLimits(in.Info.RuntimeSpec.Linux.CgroupsPath)
	if err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
	if !lim.SharesMatch(uint64(kr.CPUShares)) {
		c.t.Errorf("%s: cgroup CPU shares %d (weight %d), the kubelet sent %d", what, lim.CPUShares, lim.CPUWeight, kr.CPUShares)
	}
	if kr.CPUQuota > 0 && (lim.CPUQuota != kr.CPUQuota || uint64(kr.CPUPeriod) != lim.CPUPeriod) {
		c.t.Errorf("%s: cgroup CPU quota/period %d/%d, the kubelet sent %d/%d", what, lim.CPUQuota, lim.CPUPeriod, kr.CPUQuota, kr.CPUPeriod)
	}
	if kr.CPUQuota <= 0 && lim.CPUQuota > 0 {
		c.t.Errorf("%s: cgroup CPU quota %d, the kubelet sent none", what, lim.CPUQuota)
	}
	if kr.MemoryLimitInBytes > 0 && lim.Memory != kr.MemoryLimitInBytes {
		c.t.Errorf("%s: cgroup memory limit %d, the kubelet sent %d", what, lim.Memory, kr.MemoryLimitInBytes)
	}
	if q := in.Info.RuntimeSpec.Annotations["specguard.io/qos-class"]; q != string(p.Status.QOSClass) {
		c.t.Errorf("%s: specguard.io/qos-class %q, the kubelet's %q", what, q, p.Status.QOSClass)
	}
	c.t.Logf("%s (%s): shares %d, quota %d/%d, memory %d, oom_score_adj %d (sent %d)", what, p.Status.QOSClass,
		kr.CPUShares, kr.CPUQuota, kr.CPUPeriod, kr.MemoryLimitInBytes, wantOOM, kr.OOMScoreAdj)
}

// refusal: a pod the policy refuses shows CreateContainerError with
// specguard's reason in its events; the node's other pods are unaffected
// and new pods start.
func (c *cluster) refusal() {
	c.apply(podManifest("host-etc", "sleep 3600", `      volumeMounts: [{name: etc, mountPath: /host-etc}]
  volumes: [{name: etc, hostPath: {path: /etc}}]
`))
	var reason string
	err := eventually(2*time.Minute, time.Second, func() error {
		p := c.pod("host-etc")
		s := statusContainer(p, "c")
		if s == nil || s.State.Waiting == nil || s.State.Waiting.Reason != "CreateContainerError" {
			return fmt.Errorf("container state %+v", s)
		}
		reason = s.State.Waiting.Message
		if ev := c.events("host-etc"); !strings.Contains(ev, "hostPaths") || !strings.Contains(ev, "no-host-etc") {
			return fmt.Errorf("events do not carry specguard's reason yet:\n%s", ev)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
	if !strings.Contains(reason, "/etc") || !strings.Contains(reason, "no-host-etc") {
		c.t.Errorf("the waiting message does not say why: %q", reason)
	}
	c.t.Logf("refused: %s", reason)
	for _, p := range c.podsWithLabel("app=web") {
		if !podIsReady(&p) {
			c.t.Errorf("pod %s not Ready after the refusal", p.Name)
		}
	}
	c.apply(podManifest("after-refusal", "sleep 3600", ""))
	c.waitPodReady("after-refusal", time.Minute)
	c.kubectl("-n", testNS, "delete", "pod", "host-etc", "--wait=false")
}

func podIsReady(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// setPolicy replaces the policy ConfigMap and nudges the kubelet to sync
// specguard's pod volume (an annotation change makes it sync the pod now
// instead of at its next periodic sync).
func (c *cluster) setPolicy(policy string) {
	dir := c.t.TempDir()
	f := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(f, []byte(policy), 0o644); err != nil {
		c.t.Fatal(err)
	}
	cm := c.kubectl("-n", node.Namespace, "create", "configmap", "specguard-policy", "--from-file=policy.yaml="+f,
		"--dry-run=client", "-o", "yaml")
	c.apply(cm)
	p, err := c.n.SpecguardPod()
	if err != nil {
		c.t.Fatal(err)
	}
	c.kubectl("-n", node.Namespace, "annotate", "pod", p.Name, "--overwrite", "specguard-e2e/policy-sync="+strconv.FormatInt(time.Now().UnixNano(), 10))
}

// waitReload waits until specguard's reload counter with result has grown
// past before.
func (c *cluster) waitReload(result string, before float64) {
	sample := `specguard_policy_reloads_total{result="` + result + `"}`
	err := eventually(3*time.Minute, time.Second, func() error {
		m, err := c.n.SpecguardMetrics()
		if err != nil {
			return err
		}
		if v := node.MetricValue(m, sample); v <= before {
			return fmt.Errorf("%s = %v", sample, v)
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) reloads(result string) float64 {
	m, err := c.n.SpecguardMetrics()
	if err != nil {
		c.t.Fatal(err)
	}
	return node.MetricValue(m, `specguard_policy_reloads_total{result="`+result+`"}`)
}

// policyReload: an edit of the policy ConfigMap reaches the running
// specguard through the kubelet's ConfigMap sync and new pods follow it
// without a restart; an invalid edit keeps the last good policy and shows
// in the metrics and the log.
func (c *cluster) policyReload() {
	base, err := os.ReadFile(filepath.Join(suite.root, overlay, "policy.yaml"))
	if err != nil {
		c.t.Fatal(err)
	}
	sgPod, err := c.n.SpecguardPod()
	if err != nil {
		c.t.Fatal(err)
	}
	gen2 := strings.Replace(string(base), `{name: POLICY_GENERATION, value: "1"}`, `{name: POLICY_GENERATION, value: "2"}`, 1)
	if gen2 == string(base) {
		c.t.Fatal("the overlay's policy has no POLICY_GENERATION 1 to edit")
	}
	ok := c.reloads("success")
	c.setPolicy(gen2)
	c.waitReload("success", ok)
	c.apply(podManifest("gen2", "sleep 3600", ""))
	c.waitPodReady("gen2", time.Minute)
	if env := harness.ParseEnv(c.kubectl("-n", testNS, "exec", "gen2", "--", "env")); env["POLICY_GENERATION"] != "2" {
		c.t.Errorf("a pod after the edit has POLICY_GENERATION=%q, want 2", env["POLICY_GENERATION"])
	}

	bad := c.reloads("failure")
	c.setPolicy(strings.Replace(gen2, "mode: enforce", "mode: enforcing", 1))
	c.waitReload("failure", bad)
	c.apply(podManifest("after-bad-edit", "sleep 3600", ""))
	c.waitPodReady("after-bad-edit", time.Minute)
	if env := harness.ParseEnv(c.kubectl("-n", testNS, "exec", "after-bad-edit", "--", "env")); env["POLICY_GENERATION"] != "2" {
		c.t.Errorf("after an invalid edit a new pod has POLICY_GENERATION=%q, want the last good policy's 2", env["POLICY_GENERATION"])
	}
	logs := c.kubectl("-n", node.Namespace, "logs", sgPod.Name)
	if !strings.Contains(logs, "policy reload refused") || !strings.Contains(logs, "enforcing") {
		c.t.Errorf("specguard's log does not report the refused reload:\n%s", lastLines(logs, 10))
	}
	if now, err := c.n.SpecguardPod(); err != nil || now.UID != sgPod.UID {
		c.t.Errorf("specguard's pod changed or is not ready after the reloads: %v", err)
	}
	ok = c.reloads("success")
	c.setPolicy(string(base))
	c.waitReload("success", ok)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// specguardRestarts: deleting specguard's pod (the DaemonSet recreates it)
// and a rolling update of the DaemonSet keep the crash-looping pod's
// restart counts continuous.
func (c *cluster) specguardRestarts(w *crashLoop) {
	old, err := c.n.SpecguardPod()
	if err != nil {
		c.t.Fatal(err)
	}
	c.kubectl("-n", node.Namespace, "delete", "pod", old.Name)
	var recreated *corev1.Pod
	if err := eventually(2*time.Minute, time.Second, func() error {
		p, err := c.n.SpecguardPod()
		if err != nil {
			return err
		}
		if p.UID == old.UID {
			return fmt.Errorf("still the old pod")
		}
		recreated = p
		return nil
	}); err != nil {
		c.t.Fatal(err)
	}
	c.t.Logf("specguard pod %s replaced by %s", old.Name, recreated.Name)
	if err := w.waitAttempts(w.newest()+1, 1, 2*time.Minute); err != nil {
		c.t.Fatal(err)
	}
	c.kubectl("-n", node.Namespace, "rollout", "restart", "daemonset/"+node.DaemonSet)
	if err := c.n.WaitSpecguard(3 * time.Minute); err != nil {
		c.t.Fatal(err)
	}
	if err := w.waitAttempts(w.newest()+1, 1, 2*time.Minute); err != nil {
		c.t.Fatal(err)
	}
	// Every attempt made while specguard ran carries the kubelet's count;
	// an attempt created in the moment specguard was replaced is created
	// without it (the enforce overlay fails open), never with a wrong one.
	bare := 0
	for _, a := range w.snapshot() {
		if a.specguard == "" {
			bare++
			continue
		}
		if a.specguard != a.kubeletCount {
			c.t.Errorf("attempt %s: specguard.io/restart-count %q", a.kubeletCount, a.specguard)
		}
	}
	// The kubelet's own counts never repeat (each attempt one container).
	counts := keys(w.kubeletCounts())
	seenIDs := map[string]string{}
	for _, a := range w.snapshot() {
		if other, dup := seenIDs[a.kubeletCount]; dup && other != a.id {
			c.t.Errorf("count %s given to two containers, %s and %s", a.kubeletCount, other, a.id)
		}
		seenIDs[a.kubeletCount] = a.id
	}
	if bare > 2 {
		c.t.Errorf("%d attempts were created without specguard", bare)
	}
	metrics, err := c.n.SpecguardMetrics()
	if err != nil {
		c.t.Fatal(err)
	}
	if v := node.MetricValue(metrics, "specguard_restart_count_drift_total"); v != 0 {
		c.t.Errorf("specguard_restart_count_drift_total = %v after the restarts, want 0", v)
	}
	c.t.Logf("attempts %v, %d created while specguard was being replaced", counts, bare)
}

// uninstall: `kubectl delete -k` removes specguard and its admission
// policies, and new pods start normally, without its changes.
func (c *cluster) uninstall() {
	if _, err := c.n.KubectlIn(suite.root, "delete", "-k", overlay, "--wait=true", "--timeout=2m"); err != nil {
		c.t.Fatal(err)
	}
	if err := eventually(2*time.Minute, time.Second, func() error {
		out, err := c.n.Kubectl("-n", node.Namespace, "get", "pods", "-l", "app.kubernetes.io/name=specguard", "-o", "name")
		if err == nil && strings.TrimSpace(out) != "" {
			return fmt.Errorf("still there: %s", out)
		}
		return nil
	}); err != nil {
		c.t.Fatal(err)
	}
	// The admission policies went with it, and no longer decide.
	for _, name := range []string{tolerationPolicy, subPathPolicy} {
		for _, kind := range []string{"validatingadmissionpolicy", "validatingadmissionpolicybinding"} {
			if out, err := c.n.Kubectl("get", kind, name, "-o", "name"); err == nil || !strings.Contains(err.Error(), "NotFound") {
				c.t.Errorf("%s %s after kubectl delete -k: %q %v, want NotFound", kind, name, out, err)
			}
		}
	}
	c.admitted(strings.Replace(podManifest("after-uninstall-tolerated", "sleep 3600", ""), "  namespace: "+testNS+"\n",
		"  namespace: "+testNS+"\n  annotations: {"+toleration+": \"true\"}\n", 1))
	c.apply(podManifest("after-uninstall", "sleep 3600", ""))
	p := c.waitPodReady("after-uninstall", time.Minute)
	in, err := c.inspect(containerID(p.Status.ContainerStatuses[0].ContainerID))
	if err != nil {
		c.t.Fatal(err)
	}
	if v, ok := in.Info.RuntimeSpec.Annotations["specguard.io/restart-count"]; ok {
		c.t.Errorf("a pod after uninstall still got specguard.io/restart-count=%q", v)
	}
	if v, ok := in.env()["RESTART_COUNT"]; ok {
		c.t.Errorf("a pod after uninstall still got RESTART_COUNT=%q", v)
	}
}

// failClosed: with containerd requiring specguard (deploy/containerd/
// fail-closed.toml) and deploy/overlays/fail-closed installed, new pods are
// refused while specguard is down and start once it is back.
func (c *cluster) failClosed() {
	snippet := filepath.Join(suite.root, "deploy", "containerd", "fail-closed.toml")
	if err := c.n.Stack.SetImports([]string{snippet}); err != nil {
		c.t.Fatal(err)
	}
	if err := c.n.Stack.RestartContainerd(); err != nil {
		c.t.Fatal(err)
	}
	if err := c.n.WaitNodeReady(2 * time.Minute); err != nil {
		c.t.Fatal(err)
	}
	const fcOverlay = "deploy/overlays/fail-closed"
	if _, err := c.n.KubectlIn(suite.root, "apply", "-k", fcOverlay); err != nil {
		c.t.Fatal(err)
	}
	if err := c.n.WaitSpecguard(3 * time.Minute); err != nil {
		c.t.Fatal(err)
	}
	c.apply(podManifest("fc-up", "sleep 3600", ""))
	c.waitPodReady("fc-up", time.Minute)

	// specguard down: its DaemonSet selects no node.
	c.kubectl("-n", node.Namespace, "patch", "daemonset", node.DaemonSet, "-p",
		`{"spec":{"template":{"spec":{"nodeSelector":{"specguard-e2e/down":"true"}}}}}`)
	if err := eventually(2*time.Minute, time.Second, func() error {
		out, err := c.n.Kubectl("-n", node.Namespace, "get", "pods", "-l", "app.kubernetes.io/name=specguard", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "" {
			return fmt.Errorf("specguard pods: %q %v", out, err)
		}
		return nil
	}); err != nil {
		c.t.Fatal(err)
	}
	refused := func(pod string) error {
		return eventually(time.Minute, time.Second, func() error {
			p := c.pod(pod)
			s := statusContainer(p, "c")
			if s != nil && s.State.Running != nil {
				return errAdmitted
			}
			if ev := c.events(pod); !strings.Contains(ev, "specguard") {
				return fmt.Errorf("no refusal naming specguard yet: %+v\n%s", s, ev)
			}
			return nil
		})
	}
	down := []string{"fc-down"}
	c.apply(podManifest("fc-down", "sleep 3600", ""))
	err := refused("fc-down")
	if errors.Is(err, errAdmitted) {
		// containerd 2.4.2 (NRI v0.12.3) admits the first creation after
		// the plugin left; docs/e2e.md, "Known behaviour".
		c.t.Logf("KNOWN GAP: the first creation after specguard left was admitted")
		down = append(down, "fc-down2")
		c.apply(podManifest("fc-down2", "sleep 3600", ""))
		err = refused("fc-down2")
	}
	if err != nil {
		c.t.Fatal(err)
	}
	// Still refused a while later: the kubelet retries.
	time.Sleep(5 * time.Second)
	if s := statusContainer(c.pod(down[len(down)-1]), "c"); s != nil && s.State.Running != nil {
		c.t.Fatalf("%s started while specguard was down", down[len(down)-1])
	}
	c.t.Logf("refused while specguard is down: %s", lastLines(c.events(down[len(down)-1]), 1))

	c.kubectl("-n", node.Namespace, "patch", "daemonset", node.DaemonSet, "--type", "json", "-p",
		`[{"op":"remove","path":"/spec/template/spec/nodeSelector"}]`)
	if err := c.n.WaitSpecguard(3 * time.Minute); err != nil {
		c.t.Fatal(err)
	}
	for _, p := range down {
		c.waitPodReady(p, 2*time.Minute)
	}
}

var errAdmitted = errors.New("admitted")
