package facts

import (
	"context"
	"fmt"
	goruntime "runtime"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/nri/pkg/api"
)

// RuntimeDefaultSeccomp builds the profile containerd gives a container
// whose seccomp profile is RuntimeDefault, with containerd's own seccomp
// package, for containerd's default capability set on this node's
// architecture and kernel. NRI does not show a container's capabilities,
// so a container granted more (CAP_SYS_ADMIN, CAP_SYS_PTRACE...) gets the
// syscalls of the default set only: stricter than containerd would be.
//
// Building it takes about a millisecond and a few hundred allocations:
// NewNode builds it once, at start.
func RuntimeDefaultSeccomp() (*api.LinuxSeccomp, error) {
	// containerd's CRI starts every container's spec from this default
	// (capabilities included) before it applies the CRI config.
	ctx := namespaces.WithNamespace(context.Background(), "k8s.io")
	spec, err := oci.GenerateSpecWithPlatform(ctx, nil, "linux/"+goruntime.GOARCH,
		&containers.Container{ID: "specguard-runtime-default-seccomp"})
	if err != nil {
		return nil, fmt.Errorf("building containerd's default spec: %w", err)
	}
	prof := seccomp.DefaultProfile(spec)
	if prof == nil || prof.DefaultAction == "" {
		return nil, fmt.Errorf("containerd's seccomp package has no default profile on %s/%s", goruntime.GOOS, goruntime.GOARCH)
	}
	return api.FromOCILinuxSeccomp(prof), nil
}
