// Package kubelet recomputes what the kubelet derives for a container: the
// CPU and memory formulas, QoS class and oom_score_adj, the label and
// annotation keys, the pod and container log paths, the restart count, and
// the CRI PodSandboxConfig/ContainerConfig built from a Pod manifest.
//
// Everything here is pure except RestartCountFromLogDir, which reads the log
// directory it is given. See docs/kubelet-parity.md for what matches the
// kubelet and where it differs.
package kubelet
