package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"
)

func runGenerate(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := dispatch(append([]string{"generate"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writePod(t *testing.T, doc string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "pod.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const genPod = `apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  uid: 0b1c2d3e-0000-4000-8000-000000000001
spec:
  containers:
  - name: app
    image: nginx:1.27
    resources:
      requests: {memory: 512Mi}
  - name: side
    image: busybox
`

func TestGenerateJSON(t *testing.T) {
	pod := writePod(t, genPod)
	code, out, errs := runGenerate(t, "--pod", pod, "--restart-count", "2", "--node-memory", "16Gi")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		PodSandboxConfig json.RawMessage `json:"podSandboxConfig"`
		ContainerConfig  json.RawMessage `json:"containerConfig"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	// Decode each half the way crictl runp/create do.
	var sb runtimeapi.PodSandboxConfig
	var cc runtimeapi.ContainerConfig
	if err := yaml.Unmarshal(doc.PodSandboxConfig, &sb); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(doc.ContainerConfig, &cc); err != nil {
		t.Fatal(err)
	}
	if sb.GetMetadata().GetName() != "web" || sb.GetLogDirectory() != "/var/log/pods/shop_web_0b1c2d3e-0000-4000-8000-000000000001" {
		t.Errorf("sandbox %v", sb.GetMetadata())
	}
	if cc.GetMetadata().GetName() != "app" || cc.GetMetadata().GetAttempt() != 2 || cc.GetLogPath() != "app/2.log" {
		t.Errorf("container %v %s", cc.GetMetadata(), cc.GetLogPath())
	}
	// 512Mi of 16Gi, Burstable: 1000 - 1000*512Mi/16Gi = 969 (the kubelet's qos/policy.go; pkg/kubelet/qos_test.go).
	if got := cc.GetLinux().GetResources().GetOomScoreAdj(); got != 969 {
		t.Errorf("oom_score_adj %d", got)
	}
	for _, key := range []string{`"log_directory"`, `"security_context"`, `"cpu_period"`} {
		if !strings.Contains(out, key) {
			t.Errorf("output lacks the protobuf field name %s", key)
		}
	}
	if !strings.Contains(errs, "warning: ") {
		t.Errorf("want warnings on stderr, got %q", errs)
	}
}

func TestGenerateOptions(t *testing.T) {
	pod := writePod(t, genPod)
	// --node-memory as a byte count: 1Gi node, 512Mi request -> 500.
	code, out, _ := runGenerate(t, "--pod", pod, "--restart-count", "0", "--node-memory", "1073741824", "--quiet")
	if code != exitOK || !strings.Contains(out, `"oom_score_adj": 500`) {
		t.Errorf("node memory in bytes: %d\n%s", code, out)
	}
	code, out, errs := runGenerate(t, "--pod", pod, "--container", "side", "--restart-count", "1", "-o", "yaml", "--quiet")
	if code != exitOK || errs != "" {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var doc struct {
		ContainerConfig runtimeapi.ContainerConfig `json:"containerConfig"`
	}
	if err := yaml.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ContainerConfig.GetMetadata().GetName() != "side" || doc.ContainerConfig.GetLogPath() != "side/1.log" {
		t.Errorf("yaml output: %v", doc.ContainerConfig.GetMetadata())
	}
	code, out, _ = runGenerate(t, "--pod", pod, "--restart-count", "0", "--cgroup-driver", "cgroupfs", "--cgroup-version", "1", "--hugepage-sizes", "", "--quiet")
	if code != exitOK || !strings.Contains(out, `"cgroup_parent": "/kubepods/burstable/pod0b1c2d3e-0000-4000-8000-000000000001"`) ||
		strings.Contains(out, "hugepage_limits") || strings.Contains(out, "unified") {
		t.Errorf("cgroupfs v1 without huge pages: %d\n%s", code, out)
	}
}

func TestGenerateRestartCountFromLogDir(t *testing.T) {
	pod := writePod(t, genPod)
	logs := t.TempDir()
	dir := filepath.Join(logs, "shop_web_0b1c2d3e-0000-4000-8000-000000000001", "app")
	os.MkdirAll(dir, 0o755)
	for _, f := range []string{"0.log", "1.log.20250101-000000.gz", "2.log"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	code, out, errs := runGenerate(t, "--pod", pod, "--pod-logs-dir", logs, "--quiet")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, `"attempt": 3`) || !strings.Contains(out, `"log_path": "app/3.log"`) {
		t.Errorf("restart count from the log directory:\n%s", out)
	}
}

func TestGenerateImageUserAndRunAsNonRoot(t *testing.T) {
	pod := writePod(t, strings.Replace(genPod, "spec:\n", "spec:\n  securityContext: {runAsNonRoot: true}\n", 1))
	code, _, errs := runGenerate(t, "--pod", pod, "--restart-count", "0", "--image-user", "")
	if code != exitInput || !strings.Contains(errs, `container has runAsNonRoot and image will run as root (pod: "web_shop(0b1c2d3e-0000-4000-8000-000000000001)", container: app)`) {
		t.Errorf("root image: %d %q", code, errs)
	}
	code, out, errs := runGenerate(t, "--pod", pod, "--restart-count", "0", "--image-user", "1000:1000", "--quiet")
	var doc struct {
		ContainerConfig runtimeapi.ContainerConfig `json:"containerConfig"`
	}
	if code != exitOK || yaml.Unmarshal([]byte(out), &doc) != nil ||
		doc.ContainerConfig.GetLinux().GetSecurityContext().GetRunAsUser().GetValue() != 1000 {
		t.Errorf("numeric image user: %d %q\n%s", code, errs, out)
	}
}

func TestGenerateErrors(t *testing.T) {
	good := writePod(t, genPod)
	bad := writePod(t, "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: a\n    imagePullPolicyy: Always\n")
	cases := map[string]struct {
		args []string
		code int
		want string
	}{
		"no pod":            {nil, exitUsage, "--pod is required"},
		"bad output":        {[]string{"--pod", good, "-o", "xml"}, exitUsage, "-o: want json or yaml"},
		"bad restart count": {[]string{"--pod", good, "--restart-count", "-1"}, exitUsage, "--restart-count"},
		"huge restart":      {[]string{"--pod", good, "--restart-count", "99999999999"}, exitUsage, "--restart-count"},
		"bad memory":        {[]string{"--pod", good, "--node-memory", "lots"}, exitUsage, "--node-memory"},
		"bad driver":        {[]string{"--pod", good, "--cgroup-driver", "x"}, exitUsage, "--cgroup-driver"},
		// Two bad flags: the first in the order generate checks them.
		"bad driver and restart count":  {[]string{"--pod", good, "--restart-count", "-1", "--cgroup-driver", "x"}, exitUsage, "--cgroup-driver"},
		"bad version and restart count": {[]string{"--pod", good, "--restart-count", "-1", "--cgroup-version", "3"}, exitUsage, "--cgroup-version"},
		"bad restart count and memory":  {[]string{"--pod", good, "--node-memory", "0", "--restart-count", "-1"}, exitUsage, "--restart-count"},
		"bad version":                   {[]string{"--pod", good, "--cgroup-version", "3"}, exitUsage, "--cgroup-version"},
		"bad ephemeral":                 {[]string{"--pod", good, "--node-ephemeral-storage", "-1Gi"}, exitUsage, "--node-ephemeral-storage: want a positive quantity"},
		"unknown gate":                  {[]string{"--pod", good, "--feature-gates", "Foo=true"}, exitUsage, `--feature-gates: "Foo": unknown feature gate`},
		"bad gate value":                {[]string{"--pod", good, "--feature-gates", "MemoryQoS=yes please"}, exitUsage, "--feature-gates: MemoryQoS: want true or false"},
		"bad flag":                      {[]string{"--nope"}, exitUsage, ""},
		"extra args":                    {[]string{"--pod", good, "x"}, exitUsage, "unexpected arguments"},
		"missing file":                  {[]string{"--pod", "/nonexistent/pod.yaml"}, exitInput, "no such file"},
		"unknown field":                 {[]string{"--pod", bad}, exitInput, "pod.yaml:7: spec.containers[0].imagePullPolicyy: unknown field"},
		"unknown container":             {[]string{"--pod", good, "--container", "x", "--restart-count", "0"}, exitInput, `container "x" not found`},
		"missing resolv":                {[]string{"--pod", good, "--resolv-conf", "/nonexistent/resolv.conf"}, exitInput, "resolv.conf"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			code, out, errs := runGenerate(t, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, errs, tc.code, tc.want)
			}
			if out != "" {
				t.Errorf("stdout must be empty on error, got %q", out)
			}
			if strings.Contains(errs, "goroutine") {
				t.Errorf("panic trace: %s", errs)
			}
		})
	}
}

func TestGenerateHelp(t *testing.T) {
	code, _, errs := runGenerate(t, "-h")
	if code != exitOK || !strings.Contains(errs, "-pod") {
		t.Errorf("help: %d %q", code, errs)
	}
}

// On a cgroup v1 host, the default (cgroup v2) configs would be refused by
// runc: generate says so unless --cgroup-version was given or --quiet.
func TestGenerateWarnsOfHostCgroupVersion(t *testing.T) {
	pod := writePod(t, genPod)
	const warning = "this host runs cgroup v1 and these configs are for cgroup v2"
	_, _, errs := runGenerate(t, "--pod", pod)
	if got := strings.Contains(errs, warning); got != hostCgroupV1() {
		t.Errorf("warned %v on a host with cgroup v1 %v: %q", got, hostCgroupV1(), errs)
	}
	for _, args := range [][]string{{"--cgroup-version", "2"}, {"--cgroup-version", "1"}, {"--quiet"}} {
		if _, _, errs := runGenerate(t, append([]string{"--pod", pod}, args...)...); strings.Contains(errs, warning) {
			t.Errorf("%v: warned: %q", args, errs)
		}
	}
}

func TestGenerateNodeEphemeralStorageAndGates(t *testing.T) {
	pod := writePod(t, `apiVersion: v1
kind: Pod
metadata: {name: p, uid: 0b1c2d3e-0000-4000-8000-000000000002}
spec:
  containers:
  - name: app
    image: busybox
    lifecycle: {stopSignal: SIGUSR1}
    env:
    - name: DISK
      valueFrom: {resourceFieldRef: {resource: limits.ephemeral-storage, divisor: 1Gi}}
`)
	container := func(out string) *runtimeapi.ContainerConfig {
		t.Helper()
		var doc struct {
			ContainerConfig json.RawMessage `json:"containerConfig"`
		}
		var cc runtimeapi.ContainerConfig
		if err := json.Unmarshal([]byte(out), &doc); err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(doc.ContainerConfig, &cc); err != nil {
			t.Fatal(err)
		}
		return &cc
	}
	// Without the flag the variable is left out, and said so.
	code, out, errs := runGenerate(t, "--pod", pod, "--restart-count", "0")
	if code != exitOK || len(container(out).GetEnvs()) != 0 || !strings.Contains(errs, "DISK (limits.ephemeral-storage)") {
		t.Errorf("without --node-ephemeral-storage: exit %d, stderr %q\n%s", code, errs, out)
	}
	// The kubelet uses node allocatable when the container sets no limit.
	code, out, errs = runGenerate(t, "--pod", pod, "--restart-count", "0", "--node-ephemeral-storage", "100Gi", "--quiet")
	cc := container(out)
	if code != exitOK || len(cc.GetEnvs()) != 1 || string(cc.GetEnvs()[0].GetValue()) != "100" {
		t.Errorf("with --node-ephemeral-storage 100Gi: exit %d, stderr %q, env %v", code, errs, cc.GetEnvs())
	}
	// v1.37.2 defaults: no stop signal, memory.min/low on cgroup v2.
	if u := cc.GetLinux().GetResources().GetUnified(); cc.GetStopSignal() != runtimeapi.Signal_SIGNAL_RUNTIME_DEFAULT || u["memory.min"] != "0" || u["memory.low"] != "0" {
		t.Errorf("default gates: stop signal %v, unified %v", cc.GetStopSignal(), u)
	}
	code, out, errs = runGenerate(t, "--pod", pod, "--restart-count", "0", "--quiet", "--feature-gates", "ContainerStopSignals=true,MemoryQoS=false")
	cc = container(out)
	if u := cc.GetLinux().GetResources().GetUnified(); code != exitOK || cc.GetStopSignal() != runtimeapi.Signal_SIGNAL_SIGUSR1 || u["memory.high"] != "max" || u["memory.min"] != "" {
		t.Errorf("--feature-gates: exit %d, stderr %q, stop signal %v, unified %v", code, errs, cc.GetStopSignal(), u)
	}
}
