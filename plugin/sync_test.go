package plugin

import (
	"context"
	"strconv"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/restarts"
)

// syncInput is a node as containerd reports it at Synchronize: pods with
// their namespaces and labels, containers with the heavy parts (mounts,
// env, a seccomp profile) and restart counts written by specguard, by the
// kubelet only, by both (disagreeing), or not at all; one container's pod
// is missing from the list.
func syncInput() *api.SynchronizeRequest {
	req := &api.SynchronizeRequest{}
	for p := range 3 {
		id, uid := "sb-"+strconv.Itoa(p), "uid-"+strconv.Itoa(p)
		req.Pods = append(req.Pods, &api.PodSandbox{Id: id, Uid: uid, Name: "pod-" + strconv.Itoa(p), Namespace: "ns",
			Labels: map[string]string{"app": "x"}, Annotations: map[string]string{"a": "b"},
			Linux: &api.LinuxPodSandbox{Namespaces: []*api.LinuxNamespace{{Type: "network", Path: "/var/run/netns/x"}}}})
		for c := range 4 {
			ann := map[string]string{"io.kubernetes.container.hash": "abc"}
			switch c {
			case 0:
				ann["specguard.io/restart-count"] = strconv.Itoa(p + 3)
			case 1:
				ann[kubelet.ContainerRestartCountAnnotation] = strconv.Itoa(p + 1)
			case 2:
				ann["specguard.io/restart-count"] = "7"
				ann[kubelet.ContainerRestartCountAnnotation] = "5"
			}
			req.Containers = append(req.Containers, &api.Container{
				Id: id + "-c" + strconv.Itoa(c), PodSandboxId: id, Name: "c" + strconv.Itoa(c%3), State: api.ContainerState_CONTAINER_STOPPED,
				Annotations: ann, Env: []string{"A=B"}, Args: []string{"/bin/sh"},
				Mounts: []*api.Mount{{Destination: "/etc/hosts", Source: "/run/x/hosts", Type: "bind", Options: []string{"rbind"}}},
				Linux: &api.LinuxContainer{SeccompPolicy: &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ERRNO",
					Syscalls: []*api.LinuxSyscall{{Names: []string{"read", "write", "openat"}, Action: "SCMP_ACT_ALLOW"}}}},
			})
		}
	}
	req.Containers = append(req.Containers, &api.Container{Id: "orphan", PodSandboxId: "gone", Name: "c0",
		Annotations: map[string]string{"specguard.io/restart-count": "9"}})
	return req
}

// The tracker must come out of Synchronize the same whether or not the
// request was trimmed: trimSyncRequest keeps every field Synchronize reads.
func TestTrimSyncKeepsWhatSynchronizeReads(t *testing.T) {
	synced := func(req *api.SynchronizeRequest) *restarts.Tracker {
		tr := restarts.NewTracker(nil)
		p, err := New(Config{Policy: parsePolicy(t, "  rules: []\n"), Tracker: tr})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Synchronize(context.Background(), req.Pods, req.Containers); err != nil {
			t.Fatal(err)
		}
		return tr
	}
	full := syncInput()
	trimmed := proto.Clone(full).(*api.SynchronizeRequest)
	trimSyncRequest(trimmed)
	if a, b := proto.Size(full), proto.Size(trimmed); b*2 > a {
		t.Errorf("trimmed request is %d bytes of %d: not trimmed", b, a)
	}
	want, got := synced(full), synced(trimmed)
	if want.Live() != got.Live() || want.Pods() != got.Pods() || want.Live() == 0 {
		t.Fatalf("live/pods: trimmed %d/%d, full %d/%d", got.Live(), got.Pods(), want.Live(), want.Pods())
	}
	for p := range 4 {
		for c := range 3 {
			key := restarts.Key{PodUID: "uid-" + strconv.Itoa(p), Container: "c" + strconv.Itoa(c)}
			wn, wok := want.Newest(key)
			gn, gok := got.Newest(key)
			if wn != gn || wok != gok {
				t.Errorf("%v: trimmed (%d, %v), full (%d, %v)", key, gn, gok, wn, wok)
			}
		}
	}
}

// trimSync trims Synchronize requests as the ttrpc server unmarshals them
// and leaves every other request whole.
func TestTrimSyncInterceptor(t *testing.T) {
	call := func(in proto.Message, out proto.Message) proto.Message {
		data, err := proto.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		unmarshal := func(v interface{}) error { return proto.Unmarshal(data, v.(proto.Message)) }
		method := func(_ context.Context, u func(interface{}) error) (interface{}, error) {
			return out, u(out)
		}
		if _, err := trimSync(context.Background(), unmarshal, &ttrpc.UnaryServerInfo{}, method); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sync := call(syncInput(), &api.SynchronizeRequest{}).(*api.SynchronizeRequest)
	if c := sync.Containers[0]; c.Linux != nil || c.Mounts != nil || c.Annotations["io.kubernetes.container.hash"] != "" ||
		c.Annotations["specguard.io/restart-count"] != "3" || c.Id != "sb-0-c0" {
		t.Errorf("synchronize container not trimmed as expected: %v", c)
	}
	create := &api.CreateContainerRequest{Pod: syncInput().Pods[0], Container: syncInput().Containers[0]}
	if got := call(create, &api.CreateContainerRequest{}); !proto.Equal(got, create) {
		t.Errorf("CreateContainer request changed:\n%v\n%v", got, create)
	}
}
