package plugin

import (
	"context"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/kubelet"
)

// trimSync is a ttrpc server interceptor that cuts each Synchronize
// message down to what Plugin.Synchronize reads, as soon as it is
// unmarshalled. The NRI stub collects every chunk of a split Synchronize
// and hands the plugin all of them at once: whole, a node's containers cost
// ~45 KB of Go objects each (8.7 KB on the wire; containerd's seccomp
// profile alone is some 400 strings per container), 466 MiB at 10,000
// containers, and the Go runtime keeps the bookkeeping for its largest heap
// ever. Trimmed, a chunk's objects are garbage before the next arrives.
func trimSync(ctx context.Context, unmarshal ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, method ttrpc.Method) (interface{}, error) {
	return method(ctx, func(v interface{}) error {
		err := unmarshal(v)
		if req, ok := v.(*api.SynchronizeRequest); ok && err == nil {
			trimSyncRequest(req)
		}
		return err
	})
}

// trimSyncRequest keeps the fields Synchronize reads: the pods' IDs and
// UIDs and the containers' IDs, sandbox IDs, names and restart-count
// annotations. Keep it in step with Synchronize (TestTrimSyncKeepsWhatSynchronizeReads).
func trimSyncRequest(req *api.SynchronizeRequest) {
	for i, pod := range req.Pods {
		req.Pods[i] = &api.PodSandbox{Id: pod.GetId(), Uid: pod.GetUid()}
	}
	for i, c := range req.Containers {
		t := &api.Container{Id: c.GetId(), PodSandboxId: c.GetPodSandboxId(), Name: c.GetName()}
		for _, k := range [...]string{annotations.RestartCount, kubelet.ContainerRestartCountAnnotation} {
			if v, ok := c.GetAnnotations()[k]; ok {
				if t.Annotations == nil {
					t.Annotations = make(map[string]string, 2)
				}
				t.Annotations[k] = v
			}
		}
		req.Containers[i] = t
	}
}
