// Package bench holds specguard's performance benchmarks, run by `make bench`
// and printed as one table by cmd/benchtable (see docs/performance.md):
//
//   - BenchmarkCreateContainer: every request of one container creation
//     (CreateContainer, ValidateContainerAdjustment, PostCreateContainer)
//     through the real NRI runtime half (pkg/adaptation) over a Unix
//     socket, specguard with a 100-rule policy (by default, in the exact
//     mode, validating) against a no-op plugin, interleaved in one run,
//     all in this process (where pprof sees every part);
//   - BenchmarkCreateProcess: the same creation with each plugin its own
//     process, as on a node: the built binary against cmd/noopplugin;
//   - BenchmarkTrackedMemory: the built binary's RSS with 10,000 tracked
//     containers after Synchronize and churn;
//   - BenchmarkStartup: from exec of the built binary to the runtime half
//     seeing it synchronize;
//   - BenchmarkContainerdCreate: container creation on a real containerd
//     (the e2e stack, test/e2e/harness) with and without specguard.
//
// The engine's decision alone is benchmarked next to it, in pkg/engine.
package bench
