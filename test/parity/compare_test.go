//go:build parity

package parity

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// notCompared lists what the comparison leaves out or normalises, and why.
// Everything else in both CRI configs is compared field by field.
var notCompared = []struct{ what, why string }{
	{"containerConfig.envs order", "the kubelet builds env from a map and sends it in random order; compared as a set (sorted by key)"},
	{"podSandboxConfig.dns_config.options order", "the kubelet merges the pod's dnsConfig options through a map (mergeDNSOptions) and sends them in random order; compared as a set (sorted)"},
	{"basename of the termination message mount's host_path", "the kubelet names the file with a random 8-hex-digit id; the directory is compared"},
	{"image.image", "the kubelet sends the image ID it pulled; the oracle is given the manifest's reference as the ID, so this compares the reference"},
}

// diff is one field that differs.
type diff struct {
	path           string
	ours, kubelets string
}

// differ walks two CRI messages of the same type.
type differ struct {
	fields int // leaf fields compared where either side is set
	diffs  []diff
}

var indexRe = regexp.MustCompile(`\[[0-9]+\]`)

// pattern is a path with list indexes removed, for grouping.
func pattern(path string) string { return indexRe.ReplaceAllString(path, "[]") }

func (d *differ) add(path string, a, b any) {
	d.diffs = append(d.diffs, diff{path: path, ours: fmt.Sprint(a), kubelets: fmt.Sprint(b)})
}

func (d *differ) messages(path string, a, b proto.Message) {
	d.walk(path, a.ProtoReflect(), b.ProtoReflect())
}

func (d *differ) walk(path string, a, b protoreflect.Message) {
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			la, lb := a.Get(fd).List(), b.Get(fd).List()
			if la.Len() != lb.Len() {
				d.fields++
				d.add(p+".length", la.Len(), lb.Len())
			}
			for j := 0; j < min(la.Len(), lb.Len()); j++ {
				d.value(fmt.Sprintf("%s[%d]", p, j), fd, la.Get(j), lb.Get(j))
			}
		case fd.IsMap():
			ma, mb := a.Get(fd).Map(), b.Get(fd).Map()
			keys := map[string]protoreflect.MapKey{}
			ma.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys[k.String()] = k; return true })
			mb.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool { keys[k.String()] = k; return true })
			for _, name := range sortedKeys(keys) {
				k := keys[name]
				kp := fmt.Sprintf("%s[%s]", p, name)
				switch {
				case !ma.Has(k):
					d.fields++
					d.add(kp, "(absent)", mb.Get(k))
				case !mb.Has(k):
					d.fields++
					d.add(kp, ma.Get(k), "(absent)")
				default:
					d.value(kp, fd.MapValue(), ma.Get(k), mb.Get(k))
				}
			}
		default:
			// A message one side sets and the other leaves out is a
			// difference even when it is empty (e.g. an empty
			// security_context against none).
			if fd.Kind() == protoreflect.MessageKind && a.Has(fd) != b.Has(fd) {
				d.fields++
				d.add(p+" (set)", a.Has(fd), b.Has(fd))
			}
			d.value(p, fd, a.Get(fd), b.Get(fd))
		}
	}
}

func (d *differ) value(path string, fd protoreflect.FieldDescriptor, a, b protoreflect.Value) {
	if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
		d.walk(path, a.Message(), b.Message())
		return
	}
	va, vb := a.Interface(), b.Interface()
	zero := fd.Default().Interface()
	if equal(va, zero) && equal(vb, zero) {
		return
	}
	d.fields++
	if !equal(va, vb) {
		if ba, ok := va.([]byte); ok {
			va, vb = string(ba), string(vb.([]byte))
		}
		d.add(path, va, vb)
	}
}

func equal(a, b any) bool {
	if ba, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ba, bb)
	}
	return a == b
}

func sortedKeys(m map[string]protoreflect.MapKey) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// normaliseSandbox applies notCompared to a sandbox config (a copy).
func normaliseSandbox(c *runtimeapi.PodSandboxConfig) *runtimeapi.PodSandboxConfig {
	c = proto.Clone(c).(*runtimeapi.PodSandboxConfig)
	if c.DnsConfig != nil {
		sort.Strings(c.DnsConfig.Options)
	}
	return c
}

// normalise applies notCompared to a container config (a copy).
func normalise(c *runtimeapi.ContainerConfig, terminationPath string) *runtimeapi.ContainerConfig {
	c = proto.Clone(c).(*runtimeapi.ContainerConfig)
	sort.SliceStable(c.Envs, func(i, j int) bool { return c.Envs[i].Key < c.Envs[j].Key })
	for _, m := range c.Mounts {
		if terminationPath != "" && m.ContainerPath == terminationPath {
			m.HostPath = filepath.Dir(m.HostPath) + "/<id>"
		}
	}
	return c
}

// shorten keeps long values readable in the report.
func shorten(s string) string {
	s = strings.ReplaceAll(s, "\n", `\n`)
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
