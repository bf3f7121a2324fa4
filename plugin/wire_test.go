package plugin

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/specguard/specguard/pkg/engine"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
	"github.com/specguard/specguard/test/bench/workload"
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

// project is what readSync should make of a request: the fields
// Synchronize reads, from a full unmarshal.
func project(full *api.SynchronizeRequest) *api.SynchronizeRequest {
	out := &api.SynchronizeRequest{More: full.More}
	for _, pod := range full.Pods {
		out.Pods = append(out.Pods, &api.PodSandbox{Id: pod.Id, Uid: pod.Uid})
	}
	for _, c := range full.Containers {
		t := &api.Container{Id: c.Id, PodSandboxId: c.PodSandboxId, Name: c.Name}
		for _, k := range restarts.CountAnnotations {
			if v, ok := c.Annotations[k]; ok {
				if t.Annotations == nil {
					t.Annotations = map[string]string{}
				}
				t.Annotations[k] = v
			}
		}
		out.Containers = append(out.Containers, t)
	}
	return out
}

// read runs a request through trimSync as the ttrpc server would.
func read(t testing.TB, in proto.Message, out proto.Message) (proto.Message, error) {
	data, err := proto.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return readWire(data, out)
}

func readWire(data []byte, out proto.Message) (proto.Message, error) {
	unmarshal := func(v interface{}) error { return proto.Unmarshal(data, v.(proto.Message)) }
	method := func(_ context.Context, u func(interface{}) error) (interface{}, error) {
		return out, u(out)
	}
	_, err := ReadLean(context.Background(), unmarshal, &ttrpc.UnaryServerInfo{}, method)
	return out, err
}

// The tracker must come out of Synchronize the same whether the request
// was read whole or by trimSync: it keeps every field Synchronize reads.
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
	full.More = true
	got, err := read(t, full, &api.SynchronizeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*api.SynchronizeRequest)
	if !proto.Equal(trimmed, project(full)) {
		t.Fatalf("trimSync read:\n%v\nwant:\n%v", trimmed, project(full))
	}
	if a, b := proto.Size(full), proto.Size(trimmed); b*2 > a {
		t.Errorf("trimmed request is %d bytes of %d: not trimmed", b, a)
	}
	want, have := synced(full), synced(trimmed)
	if want.Live() != have.Live() || want.Pods() != have.Pods() || want.Live() == 0 {
		t.Fatalf("live/pods: trimmed %d/%d, full %d/%d", have.Live(), have.Pods(), want.Live(), want.Pods())
	}
	for p := range 4 {
		for c := range 3 {
			key := restarts.Key{PodUID: "uid-" + strconv.Itoa(p), Container: "c" + strconv.Itoa(c)}
			wn, wok := want.Newest(key)
			gn, gok := have.Newest(key)
			if wn != gn || wok != gok {
				t.Errorf("%v: trimmed (%d, %v), full (%d, %v)", key, gn, gok, wn, wok)
			}
		}
	}
}

// lean is what ReadLean should make of a CreateContainerRequest.
func lean(req *api.CreateContainerRequest) *api.CreateContainerRequest {
	out := proto.Clone(req).(*api.CreateContainerRequest)
	if sp := out.GetContainer().GetLinux().GetSeccompPolicy(); sp != nil {
		sp.Syscalls = nil
	}
	return out
}

// CreateContainer requests come without the seccomp policy's syscall rules
// (and nothing else missing); every other request is unmarshalled whole.
func TestReadLeanRequests(t *testing.T) {
	pod, c := workload.Request(0)
	create := &api.CreateContainerRequest{Pod: pod, Container: c}
	got, err := read(t, create, &api.CreateContainerRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got, lean(create)) {
		t.Errorf("CreateContainer read as:\n%v\nwant:\n%v", got, lean(create))
	}
	if got.(*api.CreateContainerRequest).GetContainer().GetLinux().GetSeccompPolicy() == nil {
		t.Error("the seccomp policy itself was dropped: the container would look Unconfined")
	}
	if a, b := proto.Size(create), proto.Size(got); b*2 > a {
		t.Errorf("lean request is %d bytes of %d", b, a)
	}
	// Without a seccomp policy the request comes through as it is.
	bare := &api.CreateContainerRequest{Pod: syncInput().Pods[0], Container: &api.Container{Id: "x", Linux: &api.LinuxContainer{}}}
	if got, err := read(t, bare, &api.CreateContainerRequest{}); err != nil || !proto.Equal(got, bare) {
		t.Errorf("CreateContainer without seccomp changed (%v): %v", err, got)
	}
	event := &api.StateChangeEvent{Event: api.Event_POST_CREATE_CONTAINER, Pod: pod, Container: c}
	if got, err := read(t, event, &api.StateChangeEvent{}); err != nil || !proto.Equal(got, &api.StateChangeEvent{
		Event: event.Event, Pod: pod, Container: lean(create).Container}) {
		t.Errorf("StateChangeEvent read as (%v):\n%v", err, got)
	}
	for _, ev := range []struct{ full, empty, want proto.Message }{
		{&api.PostCreateContainerRequest{Pod: pod, Container: c}, &api.PostCreateContainerRequest{}, &api.PostCreateContainerRequest{Pod: pod, Container: lean(create).Container}},
		{&api.RemoveContainerRequest{Pod: pod, Container: c}, &api.RemoveContainerRequest{}, &api.RemoveContainerRequest{Pod: pod, Container: lean(create).Container}},
	} {
		if got, err := read(t, ev.full, ev.empty); err != nil || !proto.Equal(got, ev.want) {
			t.Errorf("%T read as (%v):\n%v", ev.full, err, got)
		}
	}
	// A validator's request loses the container's syscall rules, not those
	// of the adjustment it checks.
	validate := &api.ValidateContainerAdjustmentRequest{Pod: pod, Container: c,
		Adjust: &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{SeccompPolicy: c.GetLinux().GetSeccompPolicy()}}}
	want := proto.Clone(validate).(*api.ValidateContainerAdjustmentRequest)
	want.Container = lean(create).Container
	if got, err := read(t, validate, &api.ValidateContainerAdjustmentRequest{}); err != nil || !proto.Equal(got, want) {
		t.Errorf("ValidateContainerAdjustment request read as (%v):\n%v", err, got)
	}
	if len(want.GetAdjust().GetLinux().GetSeccompPolicy().GetSyscalls()) == 0 {
		t.Error("the test's adjustment has no syscall rules to keep")
	}
}

// The validator finds the same on a lean request as on the whole one.
func TestValidatorFindsTheSameOnLeanRequests(t *testing.T) {
	pol := parsePolicy(t, "  validation: {denySeccomp: true, denyHooks: true}\n  rules:\n    - name: r\n      security:\n        seccomp: {unconfined: inject}\n").Current()
	for i := range 3 {
		pod, c := workload.Request(i)
		adj := &api.ContainerAdjustment{Linux: &api.LinuxContainerAdjustment{SeccompPolicy: c.GetLinux().GetSeccompPolicy()}}
		switch i {
		case 1:
			c.Linux.SeccompPolicy, c.Linux.SeccompProfile = nil, nil // Unconfined: specguard injects its own
			prof, err := facts.RuntimeDefaultSeccomp()
			if err != nil {
				t.Fatal(err)
			}
			adj.Linux.SeccompPolicy = prof
		case 2:
			adj.Hooks = &api.Hooks{Prestart: []*api.Hook{{Path: "/hook"}}}
		}
		full := &api.ValidateContainerAdjustmentRequest{Pod: pod, Container: c, Adjust: adj,
			Owners: &api.OwningPlugins{}, Plugins: []*api.PluginInstance{{Name: "other", Index: "10"}}}
		got, err := read(t, full, &api.ValidateContainerAdjustmentRequest{})
		if err != nil {
			t.Fatal(err)
		}
		wantF, wantErr := engine.ValidateAdjustment(pol, full)
		haveF, haveErr := engine.ValidateAdjustment(pol, got.(*api.ValidateContainerAdjustmentRequest))
		if !reflect.DeepEqual(wantF, haveF) || fmt.Sprint(wantErr) != fmt.Sprint(haveErr) {
			t.Errorf("request %d: the lean request validates differently:\n%v %v\n%v %v", i, haveF, haveErr, wantF, wantErr)
		}
		if i != 1 && wantErr == nil {
			t.Errorf("request %d: no refusal to compare", i)
		}
	}
}

// The engine decides the same on a lean request as on the whole one: it
// reads nothing ReadLean leaves out.
func TestEngineDecidesTheSameOnLeanRequests(t *testing.T) {
	pols := map[string]*policy.Policy{"workload": workload.MustPolicy(100)}
	for _, sec := range []string{"seccomp: {unconfined: reject}", "seccomp: {unconfined: inject}", "runAsNonRoot: true\n        hostPaths: {deny: [/etc]}"} {
		pols[sec] = parsePolicy(t, "  rules:\n    - name: r\n      security:\n        "+sec+"\n").Current()
	}
	node := facts.NewNode("n")
	for name, pol := range pols {
		for i := range 4 {
			pod, c := workload.Request(i)
			switch i {
			case 2:
				c.Linux.SeccompProfile = nil // confined by the policy alone
			case 3:
				c.Linux.SeccompPolicy = nil // Unconfined
			}
			full := &api.CreateContainerRequest{Pod: pod, Container: c}
			got, err := read(t, full, &api.CreateContainerRequest{})
			if err != nil {
				t.Fatal(err)
			}
			l := got.(*api.CreateContainerRequest)
			want := engine.Decide(pol, &engine.Request{Pod: full.Pod, Container: full.Container, Facts: engine.Facts{Restart: restarts.Assignment{Count: i}, Node: node}})
			have := engine.Decide(pol, &engine.Request{Pod: l.Pod, Container: l.Container, Facts: engine.Facts{Restart: restarts.Assignment{Count: i}, Node: node}})
			if want.Allowed != have.Allowed || want.Reason != have.Reason || !proto.Equal(want.Adjustment, have.Adjustment) ||
				!reflect.DeepEqual(want.Trace, have.Trace) || !reflect.DeepEqual(want.Violations, have.Violations) {
				t.Errorf("%s, request %d: the lean request decides differently:\n%+v\n%+v", name, i, have, want)
			}
		}
	}
}

// Whatever the bytes, ReadLean does not panic on a CreateContainer, and
// whenever proto.Unmarshal accepts them it reads the same request less the
// syscall rules.
func FuzzReadLeanCreate(f *testing.F) {
	pod, c := workload.Request(0)
	good, _ := proto.Marshal(&api.CreateContainerRequest{Pod: pod, Container: c})
	f.Add(good)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readWire(data, &api.CreateContainerRequest{})
		var full api.CreateContainerRequest
		if proto.Unmarshal(data, &full) != nil {
			return
		}
		if err != nil {
			t.Fatalf("proto.Unmarshal accepts what ReadLean refuses: %v", err)
		}
		if want := lean(&full); !proto.Equal(got, want) {
			t.Fatalf("ReadLean read:\n%v\nwant:\n%v", got, want)
		}
	})
}

// Malformed wire data and strings that are not UTF-8 are refused, as
// proto.Unmarshal refuses them.
func TestTrimSyncRefusesWhatProtoRefuses(t *testing.T) {
	good, _ := proto.Marshal(syncInput())
	for name, data := range map[string][]byte{
		"truncated":  good[:len(good)-3],
		"bad tag":    {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		"bad length": {0x0a, 0x7f, 0x01},
		"invalid utf8": protowire.AppendBytes(protowire.AppendTag(nil, syncField.pods, protowire.BytesType),
			protowire.AppendBytes(protowire.AppendTag(nil, syncField.podUID, protowire.BytesType), []byte{0xff, 0xfe})),
	} {
		if err := proto.Unmarshal(data, &api.SynchronizeRequest{}); err == nil {
			t.Fatalf("%s: proto.Unmarshal accepts it: not a useful case", name)
		}
		if _, err := readWire(data, &api.SynchronizeRequest{}); err == nil {
			t.Errorf("%s: trimSync accepted it", name)
		}
	}
}

// Whatever the bytes, trimSync does not panic, and whenever proto.Unmarshal
// accepts them it reads the same fields.
func FuzzTrimSync(f *testing.F) {
	good, _ := proto.Marshal(syncInput())
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x18, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := readWire(data, &api.SynchronizeRequest{})
		var full api.SynchronizeRequest
		if proto.Unmarshal(data, &full) != nil {
			return
		}
		if err != nil {
			t.Fatalf("proto.Unmarshal accepts what trimSync refuses: %v", err)
		}
		if want := project(&full); !proto.Equal(got, want) {
			t.Fatalf("trimSync read:\n%v\nwant:\n%v", got, want)
		}
	})
}
