package engine

import (
	"errors"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/restarts"
)

// Facts are what a decision takes from outside the request: gathered at
// the edge (pkg/facts: by the plugin at CreateContainer, by explain from its
// flags) and passed in, so that the engine reads neither the host nor the
// tracker.
type Facts struct {
	// Restart is the container's restart count and where it came from.
	Restart restarts.Assignment
	// Node is the node's facts, shared by every decision; nil when none
	// were gathered (no node name, no default seccomp profile).
	Node *Node
}

// Node is what the engine knows of the node. It is built once at start
// (facts.NewNode) and never modified afterwards.
type Node struct {
	Name string // used when the policy names none
	// RuntimeDefaultSeccomp is the profile containerd gives a container
	// whose seccomp profile is RuntimeDefault: what seccomp {unconfined:
	// inject} injects. SeccompErr says why it is nil.
	RuntimeDefaultSeccomp *api.LinuxSeccomp
	SeccompErr            error
}

func (f *Facts) nodeName() string {
	if f.Node == nil {
		return ""
	}
	return f.Node.Name
}

// errNoSeccompProfile is why there is no profile when no node facts were
// gathered.
var errNoSeccompProfile = errors.New("no default profile was built for this node")

func (f *Facts) runtimeDefaultSeccomp() (*api.LinuxSeccomp, error) {
	switch {
	case f.Node != nil && f.Node.RuntimeDefaultSeccomp != nil:
		return f.Node.RuntimeDefaultSeccomp, nil
	case f.Node != nil && f.Node.SeccompErr != nil:
		return nil, f.Node.SeccompErr
	}
	return nil, errNoSeccompProfile
}
