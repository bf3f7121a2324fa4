package plugin

import (
	"context"
	"fmt"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/specguard/specguard/pkg/annotations"
	"github.com/specguard/specguard/pkg/kubelet"
)

// trimSync is a ttrpc server interceptor that reads each Synchronize
// message for what Plugin.Synchronize needs and nothing else. The NRI stub
// collects every chunk of a split Synchronize and hands the plugin all of
// them at once: unmarshalled whole, a node's containers cost ~45 KB of Go
// objects each (8.7 KB on the wire; containerd's seccomp profile alone is
// some 400 strings per container), 466 MiB at 10,000 containers, and the Go
// runtime keeps the bookkeeping for its largest heap ever. Read this way, a
// container costs its IDs and name, and a chunk's wire bytes are garbage
// before the next arrives. Every other request is unmarshalled as usual.
func trimSync(ctx context.Context, unmarshal ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, method ttrpc.Method) (interface{}, error) {
	return method(ctx, func(v interface{}) error {
		req, ok := v.(*api.SynchronizeRequest)
		if !ok {
			return unmarshal(v)
		}
		// An Empty keeps every field it does not know as wire bytes.
		var raw emptypb.Empty
		if err := unmarshal(&raw); err != nil {
			return err
		}
		return readSync(raw.ProtoReflect().GetUnknown(), req)
	})
}

// syncField holds the field numbers readSync reads, looked up by name in
// NRI's own message descriptors rather than written down here.
var syncField = struct {
	pods, containers, more            protowire.Number
	podID, podUID                     protowire.Number
	ctrID, ctrPod, ctrName, ctrAnnots protowire.Number
	mapKey, mapValue                  protowire.Number
}{
	pods: fieldNumber(&api.SynchronizeRequest{}, "pods"), containers: fieldNumber(&api.SynchronizeRequest{}, "containers"),
	more:  fieldNumber(&api.SynchronizeRequest{}, "more"),
	podID: fieldNumber(&api.PodSandbox{}, "id"), podUID: fieldNumber(&api.PodSandbox{}, "uid"),
	ctrID: fieldNumber(&api.Container{}, "id"), ctrPod: fieldNumber(&api.Container{}, "pod_sandbox_id"),
	ctrName: fieldNumber(&api.Container{}, "name"), ctrAnnots: fieldNumber(&api.Container{}, "annotations"),
	mapKey: 1, mapValue: 2, // protobuf's map entry encoding
}

func fieldNumber(m proto.Message, name string) protowire.Number {
	f := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
	if f == nil {
		panic(fmt.Sprintf("NRI's %s has no field %q", m.ProtoReflect().Descriptor().FullName(), name))
	}
	return f.Number()
}

// syncAnnotations are the container annotations Synchronize reads
// (restarts.CountFromAnnotations).
var syncAnnotations = [...]string{annotations.RestartCount, kubelet.ContainerRestartCountAnnotation}

// readSync fills req from a SynchronizeRequest's wire bytes with the
// fields Synchronize reads: the pods' IDs and UIDs, the containers' IDs,
// sandbox IDs, names and restart-count annotations, and whether more
// chunks follow. It refuses what proto.Unmarshal refuses (malformed wire
// data, strings that are not UTF-8) in the fields it reads and skips the
// others unread. Keep it in step with Synchronize
// (TestTrimSyncKeepsWhatSynchronizeReads).
func readSync(b []byte, req *api.SynchronizeRequest) error {
	f := &syncField
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error {
		if typ != protowire.BytesType {
			if num == f.more && typ == protowire.VarintType {
				req.More = n != 0
			}
			return nil
		}
		switch num {
		case f.pods:
			pod := &api.PodSandbox{}
			req.Pods = append(req.Pods, pod)
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case f.podID:
					return setString(&pod.Id, v)
				case f.podUID:
					return setString(&pod.Uid, v)
				}
				return nil
			})
		case f.containers:
			c := &api.Container{}
			req.Containers = append(req.Containers, c)
			return eachField(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
				if typ != protowire.BytesType {
					return nil
				}
				switch num {
				case f.ctrID:
					return setString(&c.Id, v)
				case f.ctrPod:
					return setString(&c.PodSandboxId, v)
				case f.ctrName:
					return setString(&c.Name, v)
				case f.ctrAnnots:
					return readAnnotation(v, c)
				}
				return nil
			})
		}
		return nil
	})
}

// readAnnotation keeps one map entry of a container's annotations if it is
// one Synchronize reads.
func readAnnotation(b []byte, c *api.Container) error {
	var key, value []byte
	if err := eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		switch num {
		case syncField.mapKey:
			key = v
		case syncField.mapValue:
			value = v
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range syncAnnotations {
		if string(key) == k {
			if !utf8.Valid(value) {
				return errInvalidUTF8
			}
			if c.Annotations == nil {
				c.Annotations = make(map[string]string, len(syncAnnotations))
			}
			c.Annotations[k] = string(value)
		}
	}
	return nil
}

var errInvalidUTF8 = fmt.Errorf("synchronize: string field contains invalid UTF-8")

func setString(dst *string, v []byte) error {
	if !utf8.Valid(v) {
		return errInvalidUTF8
	}
	*dst = string(v)
	return nil
}

// eachField walks a message's wire bytes and calls fn with each field's
// number and its value: the bytes of a length-delimited field or the
// number of a varint one. Fixed-width and group fields are skipped.
func eachField(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return fmt.Errorf("synchronize: %w", protowire.ParseError(l))
		}
		b = b[l:]
		var err error
		switch typ {
		case protowire.BytesType:
			v, l := protowire.ConsumeBytes(b)
			if l < 0 {
				return fmt.Errorf("synchronize: %w", protowire.ParseError(l))
			}
			b, err = b[l:], fn(num, typ, v, 0)
		case protowire.VarintType:
			n, l := protowire.ConsumeVarint(b)
			if l < 0 {
				return fmt.Errorf("synchronize: %w", protowire.ParseError(l))
			}
			b, err = b[l:], fn(num, typ, nil, n)
		default:
			l := protowire.ConsumeFieldValue(num, typ, b)
			if l < 0 {
				return fmt.Errorf("synchronize: %w", protowire.ParseError(l))
			}
			b = b[l:]
		}
		if err != nil {
			return err
		}
	}
	return nil
}
