// Package kubelet holds the kubelet's keys and formulas that specguard
// re-derives on every container creation: the label and annotation keys,
// the pod and container log paths, the restart count (from an annotation or
// the log directory), the CPU share and quota formulas, the QoS classes and
// oom_score_adj.
//
// It works on the names, numbers and paths the runtime hands an NRI plugin
// and never reads a v1.Pod; turning a Pod manifest into the kubelet's CRI
// configs is pkg/kubelet/podgen's job. Everything here is pure except
// RestartCountFromLogDir, which reads the log directory it is given. See
// docs/kubelet-parity.md for what matches the kubelet and where it differs.
package kubelet
