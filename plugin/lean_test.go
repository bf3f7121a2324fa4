package plugin

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/specguard/specguard/internal/wire"
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

// read runs a request through wire.ReadLean as the ttrpc server would.
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
	_, err := wire.ReadLean(context.Background(), unmarshal, &ttrpc.UnaryServerInfo{}, method)
	return out, err
}

// The tracker must come out of Synchronize the same whether the request
// was read whole or by wire.ReadLean: it keeps every field Synchronize reads.
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
	got, err := read(t, full, &api.SynchronizeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	trimmed := got.(*api.SynchronizeRequest)
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

// Synchronize reads, of each pod and container, only fields wire.ReadLean
// fills (see Synchronize's comment): every field its code reads is filled
// in syncInput read through wire.ReadLean. The fields are read off
// Synchronize's source, where a pod or a container is used only through
// its getters and fields.
func TestSynchronizeReadsOnlyWhatReadLeanFills(t *testing.T) {
	fields := readBySynchronize(t)
	if len(fields) == 0 {
		t.Fatal("found no field Synchronize reads: the test no longer sees its code")
	}
	got, err := read(t, syncInput(), &api.SynchronizeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	lean := got.(*api.SynchronizeRequest)
	filled := map[string]bool{}
	for _, pod := range lean.Pods {
		pod.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			filled["PodSandbox."+string(fd.Name())] = true
			return true
		})
	}
	for _, c := range lean.Containers {
		c.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, _ protoreflect.Value) bool {
			filled["Container."+string(fd.Name())] = true
			return true
		})
	}
	for _, f := range fields {
		if !filled[f] {
			t.Errorf("Synchronize reads %s, which wire.ReadLean leaves unfilled (or syncInput does not set)", f)
		}
	}
}

// readBySynchronize returns the fields ("Container.name") Synchronize's
// code in plugin.go reads of the pods and containers it ranges over.
func readBySynchronize(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "plugin.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var fn *ast.FuncDecl
	for _, d := range file.Decls {
		if f, ok := d.(*ast.FuncDecl); ok && f.Recv != nil && f.Name.Name == "Synchronize" {
			fn = f
		}
	}
	if fn == nil {
		t.Fatal("no Plugin.Synchronize in plugin.go")
	}
	// The parameters, by the message their elements are.
	params := map[string]reflect.Type{}
	for _, f := range fn.Type.Params.List {
		if at, ok := f.Type.(*ast.ArrayType); ok {
			if star, ok := at.Elt.(*ast.StarExpr); ok {
				if sel, ok := star.X.(*ast.SelectorExpr); ok {
					typ := map[string]reflect.Type{"PodSandbox": reflect.TypeFor[api.PodSandbox](), "Container": reflect.TypeFor[api.Container]()}[sel.Sel.Name]
					for _, n := range f.Names {
						if typ != nil {
							params[n.Name] = typ
						}
					}
				}
			}
		}
	}
	// The loop variables over them; a parameter is used otherwise only
	// by len.
	vars := map[string]reflect.Type{}
	allowed := map[*ast.Ident]bool{}
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt:
			if x, ok := n.X.(*ast.Ident); ok && params[x.Name] != nil {
				allowed[x] = true
				if v, ok := n.Value.(*ast.Ident); ok {
					vars[v.Name] = params[x.Name]
					allowed[v] = true
				}
			}
		case *ast.CallExpr:
			if f, ok := n.Fun.(*ast.Ident); ok && f.Name == "len" && len(n.Args) == 1 {
				if x, ok := n.Args[0].(*ast.Ident); ok && params[x.Name] != nil {
					allowed[x] = true
				}
			}
		}
		return true
	})
	fieldOf := func(typ reflect.Type, goName string) string {
		f, ok := typ.FieldByName(goName)
		if !ok {
			return ""
		}
		for _, part := range strings.Split(f.Tag.Get("protobuf"), ",") {
			if name, ok := strings.CutPrefix(part, "name="); ok {
				return typ.Name() + "." + name
			}
		}
		return ""
	}
	seen := map[string]bool{}
	var read []string
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if x, ok := sel.X.(*ast.Ident); ok && vars[x.Name] != nil {
				allowed[x] = true
				f := fieldOf(vars[x.Name], strings.TrimPrefix(sel.Sel.Name, "Get"))
				if f == "" {
					t.Errorf("%s: Synchronize reads %s.%s, not a field of %s", fset.Position(sel.Pos()), x.Name, sel.Sel.Name, vars[x.Name].Name())
				} else if !seen[f] {
					seen[f] = true
					read = append(read, f)
				}
			}
		}
		return true
	})
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if id, ok := n.(*ast.Ident); ok && (vars[id.Name] != nil || params[id.Name] != nil) && !allowed[id] {
			t.Errorf("%s: Synchronize hands %s on whole: this test cannot see which fields are read of it", fset.Position(id.Pos()), id.Name)
		}
		return true
	})
	return read
}
