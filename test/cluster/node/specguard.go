package node

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Namespace and DaemonSet are where deploy/ installs specguard.
const (
	Namespace = "specguard-system"
	DaemonSet = "specguard"
)

// InstallSpecguard installs specguard the way a node admin does: its image
// archive imported into containerd's k8s.io namespace, then `kubectl apply
// -k` of a kustomize overlay (a directory relative to dir), then it waits
// for the DaemonSet to be rolled out.
func (n *Node) InstallSpecguard(archive, dir, overlay string, timeout time.Duration) error {
	if err := n.Stack.ImportImage(archive); err != nil {
		return err
	}
	if _, err := n.KubectlIn(dir, "apply", "-k", overlay); err != nil {
		return err
	}
	return n.WaitSpecguard(timeout)
}

// WaitSpecguard waits until the DaemonSet's rollout is complete.
func (n *Node) WaitSpecguard(timeout time.Duration) error {
	if _, err := n.Kubectl("-n", Namespace, "rollout", "status", "daemonset/"+DaemonSet, "--timeout", timeout.String()); err != nil {
		pods, _ := n.Kubectl("-n", Namespace, "describe", "pods")
		return fmt.Errorf("%w\n%s", err, pods)
	}
	return nil
}

// SpecguardPod returns specguard's running, ready pod.
func (n *Node) SpecguardPod() (*corev1.Pod, error) {
	out, err := n.Kubectl("-n", Namespace, "get", "pods", "-l", "app.kubernetes.io/name=specguard", "-o", "json")
	if err != nil {
		return nil, err
	}
	var list corev1.PodList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		p := &list.Items[i]
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(p) {
			return p, nil
		}
	}
	return nil, fmt.Errorf("no ready specguard pod among %d", len(list.Items))
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// SpecguardMetrics scrapes the running specguard pod's /metrics (port 9090
// on its pod IP, reached through the node's bridge or the host network).
func (n *Node) SpecguardMetrics() (string, error) {
	p, err := n.SpecguardPod()
	if err != nil {
		return "", err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + p.Status.PodIP + ":9090/metrics")
	if err != nil {
		return "", err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// MetricValue returns the value of the sample of metric with exactly the
// given labels (`name{a="b"}` as Prometheus prints it); 0 when absent, NaN
// when its value does not parse.
func MetricValue(metrics, sample string) float64 {
	for _, line := range strings.Split(metrics, "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				return math.NaN() // compares unequal to any expected value
			}
			return v
		}
	}
	return 0
}
