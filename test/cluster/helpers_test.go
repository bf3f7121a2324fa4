package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/specguard/specguard/test/cluster/node"
	"github.com/specguard/specguard/test/e2e/harness"
)

// testNS is the namespace of the scenarios' pods; the cluster policy's
// rules match sg-*.
const testNS = "sg-e2e"

// image is the busybox test image, imported into containerd by the node
// (no registry: every pod uses imagePullPolicy Never).
const image = harness.ImageRef

// cluster is a running node and the test driving it.
type cluster struct {
	t *testing.T
	n *node.Node
}

func (c *cluster) kubectl(args ...string) string {
	c.t.Helper()
	out, err := c.n.Kubectl(args...)
	if err != nil {
		c.t.Fatal(err)
	}
	return out
}

// apply applies a manifest given as YAML.
func (c *cluster) apply(manifest string) {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.n.Tools.KubeBin, "kubectl"), "--kubeconfig", c.n.Kubeconfig(), "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("kubectl apply: %v\n%s\n%s", err, out, manifest)
	}
}

// pod returns a pod of the test namespace.
func (c *cluster) pod(name string) *corev1.Pod {
	c.t.Helper()
	p, err := c.getPod(testNS, name)
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cluster) getPod(ns, name string) (*corev1.Pod, error) {
	out, err := c.n.Kubectl("-n", ns, "get", "pod", name, "-o", "json")
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// podsWithLabel lists the test namespace's pods with a label selector.
func (c *cluster) podsWithLabel(selector string) []corev1.Pod {
	c.t.Helper()
	var list corev1.PodList
	if err := json.Unmarshal([]byte(c.kubectl("-n", testNS, "get", "pods", "-l", selector, "-o", "json")), &list); err != nil {
		c.t.Fatal(err)
	}
	return list.Items
}

// waitPodReady waits for a pod of the test namespace to be Ready.
func (c *cluster) waitPodReady(name string, timeout time.Duration) *corev1.Pod {
	c.t.Helper()
	if _, err := c.n.Kubectl("-n", testNS, "wait", "--for=condition=Ready", "pod/"+name, "--timeout", timeout.String()); err != nil {
		desc, _ := c.n.Kubectl("-n", testNS, "describe", "pod", name)
		c.t.Fatalf("%v\n%s", err, desc)
	}
	return c.pod(name)
}

// eventually polls f every interval until it returns nil or timeout passes.
func eventually(timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %v: %w", timeout, err)
		}
		time.Sleep(interval)
	}
}

// containerID strips the runtime prefix of a status's containerID.
func containerID(s string) string {
	_, id, ok := strings.Cut(s, "://")
	if !ok {
		return s
	}
	return id
}

// inspect is `crictl inspect` with the container's CRI config as the kubelet
// sent it (containerd keeps it in the verbose info).
type inspect struct {
	harness.ContainerInspect
	Info struct {
		Pid    int `json:"pid"`
		Config struct {
			Linux struct {
				Resources struct {
					CPUPeriod          int64 `json:"cpu_period"`
					CPUQuota           int64 `json:"cpu_quota"`
					CPUShares          int64 `json:"cpu_shares"`
					MemoryLimitInBytes int64 `json:"memory_limit_in_bytes"`
					OOMScoreAdj        int64 `json:"oom_score_adj"`
				} `json:"resources"`
			} `json:"linux"`
			Annotations map[string]string `json:"annotations"`
		} `json:"config"`
		RuntimeSpec struct {
			Annotations map[string]string `json:"annotations"`
			Process     struct {
				Env         []string `json:"env"`
				OOMScoreAdj *int     `json:"oomScoreAdj"`
			} `json:"process"`
			Linux struct {
				CgroupsPath string `json:"cgroupsPath"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

func (c *cluster) inspect(id string) (*inspect, error) {
	out, err := c.n.Stack.Crictl("inspect", "-o", "json", id)
	if err != nil {
		return nil, err
	}
	var in inspect
	if err := json.Unmarshal([]byte(out), &in); err != nil {
		return nil, fmt.Errorf("crictl inspect %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(out), &in.ContainerInspect); err != nil {
		return nil, err
	}
	return &in, nil
}

// env returns the environment of the container's process (runtime spec).
func (in *inspect) env() map[string]string {
	env := map[string]string{}
	for _, kv := range in.Info.RuntimeSpec.Process.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// statusContainer returns a container's status in a pod (init containers
// included).
func statusContainer(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// events returns the messages of the events about a pod of the test
// namespace, joined by newlines.
func (c *cluster) events(pod string) string {
	c.t.Helper()
	var list corev1.EventList
	out := c.kubectl("-n", testNS, "get", "events", "--field-selector", "involvedObject.name="+pod, "-o", "json")
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		c.t.Fatal(err)
	}
	var msgs []string
	for _, e := range list.Items {
		msgs = append(msgs, e.Reason+": "+e.Message)
	}
	return strings.Join(msgs, "\n")
}

// podManifest is a one-container pod of the test image in the test
// namespace; extra is YAML inserted under the container (indented 6).
func podManifest(name, command, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: c
      image: %s
      imagePullPolicy: Never
      command: ["sh", "-c", %q]
%s`, name, testNS, image, command, extra)
}

// startNode brings up a node under _output/<name> for the test and stops
// it when the test ends, keeping its logs if the test failed.
func startNode(t *testing.T, name string) *node.Node {
	t.Helper()
	dir := filepath.Join(suite.root, "_output", name)
	n, err := node.Start(context.Background(), node.Options{Tools: suite.tools, Dir: dir, Owner: os.Getpid(), Logf: t.Logf})
	if err != nil {
		t.Fatalf("starting the node: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLogs(t, n)
		}
		if err := n.Down(); err != nil {
			t.Errorf("node cleanup: %v", err)
		}
	})
	return n
}
