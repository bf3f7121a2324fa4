package podgen

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/kubelet"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// goldenNode is the node every golden case runs on; the manifests' comments
// compute their expectations against it.
func goldenNode() NodeConfig {
	return NodeConfig{
		Name:           "node-1",
		MemoryCapacity: 16 << 30,
		Allocatable: v1.ResourceList{
			v1.ResourceCPU:    resource.MustParse("4"),
			v1.ResourceMemory: resource.MustParse("16Gi"),
		},
		ClusterDNS: []string{"10.96.0.10"},
		HostDNS:    &runtimeapi.DNSConfig{Servers: []string{"192.168.0.2"}, Searches: []string{"corp.example"}},
		PodIPs:     []string{"10.244.1.7"},
		HostIPs:    []string{"192.168.0.11"},
	}
}

// goldenOptions are the per-manifest options beyond goldenNode.
var goldenOptions = map[string]func(*GenerateOptions){
	"burstable.yaml": func(o *GenerateOptions) { o.RestartCount = intPtr(3) },
	"security.yaml":  func(o *GenerateOptions) { o.ImageUser = ParseImageUser("") },
	"restart-from-logs.yaml": func(o *GenerateOptions) {
		o.RestartCount = nil
		o.PodLogsDir = "testdata/podlogs"
	},
	"shared-pid.yaml": func(o *GenerateOptions) {
		o.RestartCount = nil
		o.PodLogsDir = "testdata/no-such-dir"
	},
}

func intPtr(i int) *int { return &i }

// goldenCase is what one container of a golden manifest produces.
type goldenCase struct {
	PodSandboxConfig   *runtimeapi.PodSandboxConfig `json:"podSandboxConfig"`
	ContainerConfig    *runtimeapi.ContainerConfig  `json:"containerConfig"`
	Kind               string                       `json:"kind"`
	QOSClass           kubelet.QOSClass             `json:"qosClass"`
	RestartCountSource string                       `json:"restartCountSource"`
	LogPath            string                       `json:"logPath"`
	Warnings           []string                     `json:"warnings,omitempty"`
}

// TestGolden generates every container of every testdata/*.yaml and
// compares with testdata/<name>.golden.json. Each manifest's header comment
// traces its expected values to the kubelet's formulas (docs/kubelet-parity.md). Run with -update to rewrite.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden manifests: %v", err)
	}
	for _, file := range files {
		name := filepath.Base(file)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			pod, err := DecodePod(file, data)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]goldenCase{}
			for _, c := range allContainerNames(pod) {
				opts := GenerateOptions{Container: c, RestartCount: intPtr(0), Node: goldenNode()}
				if f := goldenOptions[name]; f != nil {
					f(&opts)
				}
				out, err := GenerateConfigs(pod, opts)
				if err != nil {
					t.Fatalf("container %s: %v", c, err)
				}
				gc := goldenCase{
					PodSandboxConfig: out.PodSandboxConfig, ContainerConfig: out.ContainerConfig,
					Kind: out.ContainerKind, QOSClass: out.QOSClass,
					RestartCountSource: out.RestartCountSource, LogPath: out.LogPath,
				}
				for _, w := range out.Warnings {
					gc.Warnings = append(gc.Warnings, w.String())
				}
				got[c] = gc
			}
			js, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			js = append(js, '\n')
			golden := strings.TrimSuffix(file, ".yaml") + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, js, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./pkg/kubelet -run TestGolden -update)", err)
			}
			if !bytes.Equal(js, want) {
				t.Errorf("%s differs from the generated output; diff with -update and review:\n%s", golden, firstDiff(string(want), string(js)))
			}
			// What we print must read back the way crictl reads it.
			for c, gc := range got {
				roundTrip(t, c, gc)
			}
		})
	}
}

func allContainerNames(p *v1.Pod) []string {
	var names []string
	for _, l := range [][]v1.Container{p.Spec.InitContainers, p.Spec.Containers} {
		for i := range l {
			names = append(names, l[i].Name)
		}
	}
	return names
}

// roundTrip decodes the JSON as crictl does (sigs.k8s.io/yaml into the CRI
// types) and checks nothing is lost.
func roundTrip(t *testing.T, name string, gc goldenCase) {
	t.Helper()
	for _, v := range []struct {
		in  any
		out any
	}{
		{gc.PodSandboxConfig, &runtimeapi.PodSandboxConfig{}},
		{gc.ContainerConfig, &runtimeapi.ContainerConfig{}},
	} {
		js, err := json.Marshal(v.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(js, v.out); err != nil {
			t.Fatalf("%s: crictl-style decode: %v", name, err)
		}
		back, _ := json.Marshal(v.out)
		if !bytes.Equal(js, back) {
			t.Errorf("%s: round trip changed the config:\n%s\n%s", name, js, back)
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + strconv.Itoa(i+1) + ":\n  want: " + x + "\n  got:  " + y
		}
	}
	return ""
}
