package kubelet

// Labels the kubelet puts on sandboxes and containers.
const (
	PodNameLabel       = "io.kubernetes.pod.name"
	PodNamespaceLabel  = "io.kubernetes.pod.namespace"
	PodUIDLabel        = "io.kubernetes.pod.uid"
	ContainerNameLabel = "io.kubernetes.container.name"
)

// Annotations the kubelet puts on containers. Pod annotations are not copied
// onto containers; they go on the sandbox only.
const (
	ContainerHashAnnotation                     = "io.kubernetes.container.hash"
	ContainerRestartCountAnnotation             = "io.kubernetes.container.restartCount"
	ContainerTerminationMessagePathAnnotation   = "io.kubernetes.container.terminationMessagePath"
	ContainerTerminationMessagePolicyAnnotation = "io.kubernetes.container.terminationMessagePolicy"
	PodTerminationGracePeriodAnnotation         = "io.kubernetes.pod.terminationGracePeriod"
	PodDeletionGracePeriodAnnotation            = "io.kubernetes.pod.deletionGracePeriod"
	ContainerPreStopHandlerAnnotation           = "io.kubernetes.container.preStopHandler"
	ContainerPortsAnnotation                    = "io.kubernetes.container.ports"
)

// Annotations containerd's CRI plugin adds to the OCI spec. They are not in
// the CRI configs the kubelet sends; an NRI plugin sees them.
const (
	CRIContainerTypeAnnotation    = "io.kubernetes.cri.container-type"
	CRISandboxIDAnnotation        = "io.kubernetes.cri.sandbox-id"
	CRISandboxNameAnnotation      = "io.kubernetes.cri.sandbox-name"
	CRISandboxNamespaceAnnotation = "io.kubernetes.cri.sandbox-namespace"
	CRISandboxUIDAnnotation       = "io.kubernetes.cri.sandbox-uid"
	CRIContainerNameAnnotation    = "io.kubernetes.cri.container-name"
	CRIImageNameAnnotation        = "io.kubernetes.cri.image-name"
	CRISandboxLogDirAnnotation    = "io.kubernetes.cri.sandbox-log-directory"

	// Values of CRIContainerTypeAnnotation.
	CRIContainerTypeSandbox   = "sandbox"
	CRIContainerTypeContainer = "container"
)

// DefaultPodLogsDir is the kubelet's default --pod-logs-dir (podLogsDirectory).
const DefaultPodLogsDir = "/var/log/pods"
