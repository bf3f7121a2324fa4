package wire

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/specguard/specguard/pkg/restarts"
	"github.com/specguard/specguard/test/bench/workload"
)

// fullSync is a Synchronize with two pods and two containers in which
// every field, down to three levels of nested messages, is set, and the
// containers carry every restart-count annotation beside another one.
func fullSync() *api.SynchronizeRequest {
	req := &api.SynchronizeRequest{More: true}
	for i := range 2 {
		pod, c := &api.PodSandbox{}, &api.Container{}
		fill(pod.ProtoReflect(), 3)
		fill(c.ProtoReflect(), 3)
		for _, k := range restarts.CountAnnotations {
			c.Annotations[k] = "3"
		}
		pod.Id, c.Id = "sb"+string(rune('0'+i)), "c"+string(rune('0'+i))
		c.PodSandboxId = pod.Id
		req.Pods = append(req.Pods, pod)
		req.Containers = append(req.Containers, c)
	}
	return req
}

// fill sets every field of m to a value other than its zero: one element
// in each list and map, and messages filled to depth levels.
func fill(m protoreflect.Message, depth int) {
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		switch {
		case fd.IsMap():
			k := protoreflect.ValueOfString("key").MapKey()
			if fd.MapKey().Kind() != protoreflect.StringKind {
				continue // every map NRI sends is keyed by strings
			}
			mp := m.Mutable(fd).Map()
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				if depth > 0 {
					v := mp.NewValue()
					fill(v.Message(), depth-1)
					mp.Set(k, v)
				}
				continue
			}
			mp.Set(k, scalar(fd.MapValue()))
		case fd.IsList():
			l := m.Mutable(fd).List()
			if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
				if depth > 0 {
					v := l.NewElement()
					fill(v.Message(), depth-1)
					l.Append(v)
				}
				continue
			}
			l.Append(scalar(fd))
		case fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind:
			if depth > 0 {
				fill(m.Mutable(fd).Message(), depth-1)
			}
		default:
			m.Set(fd, scalar(fd))
		}
	}
}

func scalar(fd protoreflect.FieldDescriptor) protoreflect.Value {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		return protoreflect.ValueOfBool(true)
	case protoreflect.EnumKind:
		return protoreflect.ValueOfEnum(fd.Enum().Values().Get(fd.Enum().Values().Len() - 1).Number())
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return protoreflect.ValueOfInt32(7)
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return protoreflect.ValueOfInt64(7)
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return protoreflect.ValueOfUint32(7)
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return protoreflect.ValueOfUint64(7)
	case protoreflect.FloatKind:
		return protoreflect.ValueOfFloat32(7)
	case protoreflect.DoubleKind:
		return protoreflect.ValueOfFloat64(7)
	case protoreflect.BytesKind:
		return protoreflect.ValueOfBytes([]byte("value"))
	}
	return protoreflect.ValueOfString("value")
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

// read runs a request through ReadLean as the ttrpc server would.
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

// ReadLean fills exactly the fields its comment lists in a Synchronize,
// whatever else the runtime sends: plugin.Synchronize, which relies on
// that list, reads no other (plugin/lean_test.go).
func TestReadLeanFillsOnlyWhatSynchronizeReads(t *testing.T) {
	full := fullSync()
	got, err := read(t, full, &api.SynchronizeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	req := got.(*api.SynchronizeRequest)
	filled := map[string]bool{}
	collect := func(prefix string, m protoreflect.Message) {
		m.Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			filled[prefix+string(fd.Name())] = true
			return true
		})
	}
	collect("", req.ProtoReflect())
	for _, pod := range req.Pods {
		collect("pods.", pod.ProtoReflect())
	}
	for _, c := range req.Containers {
		collect("containers.", c.ProtoReflect())
		if keys := slices.Sorted(maps.Keys(c.Annotations)); !slices.Equal(keys, slices.Sorted(slices.Values(restarts.CountAnnotations[:]))) {
			t.Errorf("container %s: annotations %v, want only the restart counts %v", c.Id, keys, restarts.CountAnnotations)
		}
	}
	want := []string{"containers", "more", "pods",
		"pods.id", "pods.uid",
		"containers.id", "containers.pod_sandbox_id", "containers.name", "containers.annotations"}
	if got := slices.Sorted(maps.Keys(filled)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("ReadLean filled %s, want %s", strings.Join(got, ", "), strings.Join(slices.Sorted(slices.Values(want)), ", "))
	}
	if !proto.Equal(req, project(full)) {
		t.Errorf("ReadLean read:\n%v\nwant:\n%v", req, project(full))
	}
	if a, b := proto.Size(full), proto.Size(req); b*2 > a {
		t.Errorf("lean request is %d bytes of %d: not trimmed", b, a)
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
	bare := &api.CreateContainerRequest{Pod: pod, Container: &api.Container{Id: "x", Linux: &api.LinuxContainer{}}}
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
	good, _ := proto.Marshal(fullSync())
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
	good, _ := proto.Marshal(fullSync())
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
