// Package podgen turns a Pod manifest into the CRI PodSandboxConfig and
// ContainerConfig the kubelet would send for one of its containers: strict
// manifest decoding, the API server's defaults, environment and $(VAR)
// expansion, mounts, DNS, Linux resources and security settings, built on
// the formulas and keys of pkg/kubelet.
//
// It is tooling, not the request path: only `specguard generate` and
// `specguard explain`, tests and benchmarks use it. See
// docs/kubelet-parity.md for what matches the kubelet and where it differs.
package podgen
