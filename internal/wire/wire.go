// Package wire reads NRI requests off the wire leaner than
// proto.Unmarshal does: it leaves out the parts specguard never reads, on
// the path every container creation and every plugin registration takes.
package wire

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

	"github.com/specguard/specguard/pkg/restarts"
)

// ReadLean is a ttrpc server interceptor that leaves out, as requests
// are unmarshalled, the parts of them specguard never reads:
//
//   - Synchronize: everything but the pods' and containers' identities
//     and restart counts (readSync). The handler receives partly filled
//     objects; these fields are filled, and no other:
//     SynchronizeRequest.Pods, .Containers and .More;
//     PodSandbox.Id and .Uid;
//     Container.Id, .PodSandboxId, .Name, and .Annotations holding only
//     the keys of restarts.CountAnnotations.
//     The NRI stub collects every chunk of a split Synchronize and hands
//     the plugin all of them at once: whole, a node's containers cost
//     ~45 KB of Go objects each (8.7 KB on the wire), 466 MiB at 10,000
//     containers, and the Go runtime keeps the bookkeeping for its
//     largest heap ever.
//   - CreateContainer, ValidateContainerAdjustment and the lifecycle
//     events (PostCreateContainer, RemoveContainer): the syscall rules of
//     the container's seccomp policy (dropSeccompSyscalls). containerd
//     sends the whole profile of every RuntimeDefault container, some 400
//     syscall names, more than half of the request and 60% of the time
//     spent unmarshalling it; specguard only asks whether there is a
//     policy. (The adjustment a validator checks keeps its own policy
//     whole: the validator compares it.)
//
// Every other request is unmarshalled as usual. It is exported for the
// plugin's connection and for the benchmarks, which hold specguard to a
// no-op plugin reading requests the same way as well as to one reading
// them whole.
func ReadLean(ctx context.Context, unmarshal ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, method ttrpc.Method) (interface{}, error) {
	return method(ctx, func(v interface{}) error {
		switch req := v.(type) {
		case *api.SynchronizeRequest:
			raw, err := rawBytes(unmarshal)
			if err != nil {
				return err
			}
			return readSync(raw, req)
		case *api.CreateContainerRequest:
			return unmarshalLean(unmarshal, req, createContainerField)
		case *api.ValidateContainerAdjustmentRequest:
			return unmarshalLean(unmarshal, req, validateContainerField)
		case *api.PostCreateContainerRequest:
			return unmarshalLean(unmarshal, req, postCreateContainerField)
		case *api.RemoveContainerRequest:
			return unmarshalLean(unmarshal, req, removeContainerField)
		case *api.StateChangeEvent:
			return unmarshalLean(unmarshal, req, stateChangeContainerField)
		}
		return unmarshal(v)
	})
}

// unmarshalLean unmarshals a request whose field containerField is a
// container, without that container's seccomp syscall rules.
func unmarshalLean(unmarshal ttrpc.Unmarshaler, req proto.Message, containerField protowire.Number) error {
	raw, err := rawBytes(unmarshal)
	if err != nil {
		return err
	}
	return proto.Unmarshal(dropSeccompSyscalls(raw, containerField), req)
}

// rawBytes returns a request's wire bytes: an Empty keeps every field it
// does not know as they came.
func rawBytes(unmarshal ttrpc.Unmarshaler) ([]byte, error) {
	var raw emptypb.Empty
	if err := unmarshal(&raw); err != nil {
		return nil, err
	}
	return raw.ProtoReflect().GetUnknown(), nil
}

// The paths to the syscall rules in the requests that carry a container.
var (
	createContainerField      = fieldNumber(&api.CreateContainerRequest{}, "container")
	validateContainerField    = fieldNumber(&api.ValidateContainerAdjustmentRequest{}, "container")
	postCreateContainerField  = fieldNumber(&api.PostCreateContainerRequest{}, "container")
	removeContainerField      = fieldNumber(&api.RemoveContainerRequest{}, "container")
	stateChangeContainerField = fieldNumber(&api.StateChangeEvent{}, "container")
	containerLinuxField       = fieldNumber(&api.Container{}, "linux")
	linuxSeccompField         = fieldNumber(&api.LinuxContainer{}, "seccomp_policy")
	seccompSyscallsField      = fieldNumber(&api.LinuxSeccomp{}, "syscalls")
)

// dropSeccompSyscalls returns a request's wire bytes without the syscall
// rules of the seccomp policy of the container in field containerField;
// the policy itself, its default action and the rest of the request stay.
// Bytes it cannot parse are returned as they are, for proto.Unmarshal to
// refuse.
func dropSeccompSyscalls(b []byte, containerField protowire.Number) []byte {
	out, ok := rewriteField(b, containerField, func(c []byte) ([]byte, bool) {
		return rewriteField(c, containerLinuxField, func(l []byte) ([]byte, bool) {
			return rewriteField(l, linuxSeccompField, func(s []byte) ([]byte, bool) {
				return rewriteField(s, seccompSyscallsField, nil)
			})
		})
	})
	if !ok {
		return b
	}
	return out
}

// rewriteField copies a message's wire bytes with each length-delimited
// field num replaced by fn(its value), or left out if fn is nil. It
// returns b itself when there is no such field, and false when b does not
// parse.
func rewriteField(b []byte, num protowire.Number, fn func([]byte) ([]byte, bool)) ([]byte, bool) {
	var out []byte
	for rest := b; len(rest) > 0; {
		n, typ, l := protowire.ConsumeTag(rest)
		if l < 0 {
			return nil, false
		}
		fl := protowire.ConsumeFieldValue(n, typ, rest[l:])
		if fl < 0 {
			return nil, false
		}
		field := rest[:l+fl]
		if n == num && typ == protowire.BytesType {
			if out == nil {
				out = append(make([]byte, 0, len(b)), b[:len(b)-len(rest)]...)
			}
			if fn != nil {
				v, _ := protowire.ConsumeBytes(rest[l:])
				nv, ok := fn(v)
				if !ok {
					return nil, false
				}
				out = protowire.AppendBytes(protowire.AppendTag(out, n, typ), nv)
			}
		} else if out != nil {
			out = append(out, field...)
		}
		rest = rest[l+fl:]
	}
	if out == nil {
		return b, true
	}
	return out, true
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

// readSync fills req from a SynchronizeRequest's wire bytes with the
// fields Synchronize reads: the pods' IDs and UIDs, the containers' IDs,
// sandbox IDs, names and restart-count annotations, and whether more
// chunks follow. It refuses what proto.Unmarshal refuses (malformed wire
// data, strings that are not UTF-8) in the fields it reads and skips the
// others unread. Keep it, the list in ReadLean's comment and
// TestReadLeanFillsOnlyWhatSynchronizeReads in step with plugin.Synchronize
// (plugin/lean_test.go checks what that handler reads).
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
			return eachBytesField(v, func(num protowire.Number, v []byte) error {
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
			return eachBytesField(v, func(num protowire.Number, v []byte) error {
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
	if err := eachBytesField(b, func(num protowire.Number, v []byte) error {
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
	for _, k := range restarts.CountAnnotations {
		if string(key) == k {
			if !utf8.Valid(value) {
				return errInvalidUTF8
			}
			if c.Annotations == nil {
				c.Annotations = make(map[string]string, len(restarts.CountAnnotations))
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

// eachBytesField is eachField for length-delimited fields only (strings,
// bytes, messages, map entries), all readSync reads below the top level.
func eachBytesField(b []byte, fn func(num protowire.Number, v []byte) error) error {
	return eachField(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil
		}
		return fn(num, v)
	})
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
