// Package facts gathers what the engine decides from besides the request
// (engine.Facts): the node's facts (its name, containerd's default seccomp
// profile), built once at start, and each creation's restart count, from
// the tracker (the plugin, which may read the pod's log directory) or as
// given (explain). It is where the host is read, so that pkg/engine never
// is; the plugin and explain both gather through it.
package facts

import (
	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// NewNode builds the node's facts: its name and the runtime's default
// seccomp profile (RuntimeDefaultSeccomp). A profile that cannot be built
// is not fatal: only a rule that injects it needs it, and refuses with the
// reason (engine.Node.SeccompErr).
func NewNode(name string) *engine.Node {
	prof, err := RuntimeDefaultSeccomp()
	return &engine.Node{Name: name, RuntimeDefaultSeccomp: prof, SeccompErr: err}
}

// Counter assigns a container's restart count (restarts.Tracker.Assign):
// the plugin's tracker, or Given.
type Counter interface {
	Assign(key restarts.Key, kubeletCount int, hasKubelet bool, podLogDir string) restarts.Assignment
}

// Given is a restart count taken as given (explain's --restart-count, or
// the one a recorded container carries): a Counter with no tracker behind
// it.
type Given int

// Assign returns the count.
func (n Given) Assign(restarts.Key, int, bool, string) restarts.Assignment {
	return restarts.Assignment{Count: int(n), Source: restarts.SourceGiven, Tracked: -1}
}

// Gatherer gathers the facts of one container creation.
type Gatherer struct {
	Node    *engine.Node
	Counter Counter
}

// Gather assigns the container's restart count: the kubelet's when the
// container carries it, else the counter's, which may read the pod's log
// directory (engine.PodLogDir) as the kubelet's last resort.
func (g *Gatherer) Gather(p *policy.Policy, pod *api.PodSandbox, c *api.Container) engine.Facts {
	kub, hasKub := restarts.KubeletCount(c.GetAnnotations())
	podLogDir := ""
	if !hasKub {
		podLogDir = engine.PodLogDir(p, pod)
	}
	a := g.Counter.Assign(restarts.Key{PodUID: pod.GetUid(), Container: c.GetName()}, kub, hasKub, podLogDir)
	return engine.Facts{Restart: a, Node: g.Node}
}
