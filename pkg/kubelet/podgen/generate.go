package podgen

import (
	"errors"
	"fmt"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

// ErrCreateContainerConfig is wrapped by errors for which the kubelet would
// refuse to create the container (its CreateContainerConfigError).
var ErrCreateContainerConfig = errors.New("CreateContainerConfigError")

// PlaceholderPodUID is used when the manifest has no metadata.uid; the API
// server would assign a random one.
const PlaceholderPodUID = "00000000-0000-0000-0000-000000000000"

// Container kinds.
const (
	KindContainer = "container"
	KindInit      = "init"
	KindSidecar   = "sidecar"
	KindEphemeral = "ephemeral"
)

// Where the restart count came from.
const (
	RestartCountFromOptions = "given"
	RestartCountFromLogs    = "log-directory"
)

// GenerateOptions select the container and supply what the kubelet would
// know beyond the manifest.
type GenerateOptions struct {
	// Container is the container's name; "" picks the
	// kubectl.kubernetes.io/default-container annotation's, else the first
	// regular container.
	Container string
	// RestartCount is the attempt to generate; nil reads the pod log
	// directory as the kubelet does when it has no record of the container.
	RestartCount *int
	// SandboxAttempt is PodSandboxMetadata.Attempt (0 for a new pod).
	SandboxAttempt uint32
	// PodLogsDir is the kubelet's podLogsDirectory; "" -> DefaultPodLogsDir.
	PodLogsDir string
	// ImageUser is the image's USER (see ParseImageUser); the zero value
	// means the image was not inspected.
	ImageUser ImageUser
	Node      NodeConfig
}

// GeneratedConfigs are the CRI requests the kubelet would send for one
// container of a pod. Only the two configs are part of the JSON form.
type GeneratedConfigs struct {
	PodSandboxConfig *runtimeapi.PodSandboxConfig `json:"podSandboxConfig"`
	ContainerConfig  *runtimeapi.ContainerConfig  `json:"containerConfig"`

	Pod                *v1.Pod          `json:"-"` // the manifest after DefaultPod
	ContainerName      string           `json:"-"`
	ContainerKind      string           `json:"-"` // KindContainer, KindInit, ...
	QOSClass           kubelet.QOSClass `json:"-"`
	RestartCount       int              `json:"-"`
	RestartCountSource string           `json:"-"`
	// LogPath is the absolute log file: LogDirectory joined with LogPath.
	LogPath  string    `json:"-"`
	Warnings []Warning `json:"-"`
}

// GenerateConfigs builds the PodSandboxConfig and ContainerConfig the
// kubelet would send for one container of pod. It is pure except that,
// without opts.RestartCount, it reads the container's log directory.
// Values that need the cluster or the running node are left out or set to
// a documented placeholder, each with a Warning. A node that does not
// Validate is an error.
func GenerateConfigs(pod *v1.Pod, opts GenerateOptions) (*GeneratedConfigs, error) {
	if err := opts.Node.Validate(); err != nil {
		return nil, err
	}
	if pod == nil {
		return nil, errors.New("no pod")
	}
	if pod.Name == "" {
		return nil, errors.New("metadata.name: required")
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name == v1.Windows {
		return nil, errors.New("spec.os.name: windows pods are not supported; only Linux configs are generated")
	}
	g := &generator{node: &opts.Node}
	p := DefaultPod(pod)
	if p.UID == "" {
		p.UID = PlaceholderPodUID
		g.warn("metadata.uid", "not set (the API server assigns one); using %s", PlaceholderPodUID)
	}
	if err := checkNames(p); err != nil {
		return nil, err
	}
	c, kind, field, err := selectContainer(p, opts.Container)
	if err != nil {
		return nil, err
	}
	out := &GeneratedConfigs{Pod: p, ContainerName: c.Name, ContainerKind: kind, QOSClass: PodQOSClass(p)}

	podLogDir := kubelet.BuildPodLogsDirectory(opts.PodLogsDir, p.Namespace, p.Name, string(p.UID))
	switch {
	case opts.RestartCount != nil:
		if *opts.RestartCount < 0 || int64(*opts.RestartCount) > int64(^uint32(0)>>1) {
			return nil, fmt.Errorf("restart count %d out of range", *opts.RestartCount)
		}
		out.RestartCount, out.RestartCountSource = *opts.RestartCount, RestartCountFromOptions
	default:
		n, err := kubelet.RestartCountFromLogDir(podLogDir, c.Name)
		if err != nil {
			return nil, fmt.Errorf("restart count from %s: %w", kubelet.BuildContainerLogsDirectory(podLogDir, c.Name), err)
		}
		out.RestartCount, out.RestartCountSource = n, RestartCountFromLogs
	}
	out.LogPath = kubelet.BuildContainerLogPath(podLogDir, c.Name, out.RestartCount)

	if out.PodSandboxConfig, err = g.sandboxConfig(p, opts.SandboxAttempt, podLogDir, out.QOSClass); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCreateContainerConfig, err)
	}
	if out.ContainerConfig, err = g.containerConfig(p, c, kind, field, out.RestartCount, opts.ImageUser); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCreateContainerConfig, err)
	}
	out.Warnings = g.warnings
	return out, nil
}

type generator struct {
	node     *NodeConfig
	warnings []Warning
}

func (g *generator) warn(field, format string, args ...any) {
	g.warnings = append(g.warnings, Warning{Field: field, Message: fmt.Sprintf(format, args...)})
}
