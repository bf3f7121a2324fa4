//go:build parity

// Package parity checks pkg/kubelet's CRI configs against the kubelet's own
// code: k8s.io/kubernetes v1.37.2's pkg/kubelet (env, mounts, hostname, DNS)
// and pkg/kubelet/kuberuntime (generatePodSandboxConfig,
// generateContainerConfig on the package's fake runtime manager), built as
// test binaries from the oracle sources in testdata/oracle. See
// docs/kubelet-parity.md. Run with `make parity`.
package parity

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/kubelet/podgen"
)

var (
	seedFlag = flag.Uint64("parity.seed", 0, "random corpus seed (default: $SPECGUARD_PARITY_SEED, else the time)")
	podsFlag = flag.Int("parity.pods", 300, "random pods per run")
)

const nodeName = "parity-node"

// oracleNode is what both oracle halves read about the node (each reads
// its own fields).
type oracleNode struct {
	Name                 string          `json:"name"`
	ClusterDNS           []string        `json:"clusterDNS"`
	ClusterDomain        string          `json:"clusterDomain"`
	ResolvConf           string          `json:"resolvConf"`
	PodIPs               []string        `json:"podIPs"`
	HostIPs              []string        `json:"hostIPs"`
	Allocatable          v1.ResourceList `json:"allocatable"`
	CgroupV2             bool            `json:"cgroupV2"`
	CgroupDriver         string          `json:"cgroupDriver"`
	SingleProcessOOMKill bool            `json:"singleProcessOOMKill"`
	MemoryCapacity       int64           `json:"memoryCapacity"`
	PodLogsDir           string          `json:"podLogsDir"`
	FeatureGates         map[string]bool `json:"featureGates"`
	SeccompDefault       bool            `json:"seccompDefault"`
}

type oracleCase struct {
	ID           string  `json:"id"`
	Pod          *v1.Pod `json:"pod"`
	Container    string  `json:"container"`
	RestartCount int     `json:"restartCount"`
	ImageUser    *string `json:"imageUser"`
}

type oracleInput struct {
	Node  oracleNode   `json:"node"`
	Cases []oracleCase `json:"cases"`
}

type kubeletHalf struct {
	RootDir string `json:"rootDir"`
}

type kuberuntimeHalf struct {
	HugePageSizes []string `json:"hugePageSizes"`
	Cases         map[string]struct {
		Sandbox   *runtimeapi.PodSandboxConfig `json:"sandbox"`
		Container *runtimeapi.ContainerConfig  `json:"container"`
		Error     string                       `json:"error"`
	} `json:"cases"`
}

// variant is one node configuration the whole corpus runs on.
type variant struct {
	name string
	node oracleNode
}

func variants(resolvConf string) []variant {
	alloc := v1.ResourceList{
		v1.ResourceCPU:              resource.MustParse("4"),
		v1.ResourceMemory:           resource.MustParse("8Gi"),
		v1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	base := oracleNode{
		Name: nodeName, ClusterDomain: "cluster.local", ResolvConf: resolvConf, Allocatable: alloc,
		PodIPs: []string{"10.244.1.7", "fd00:10:244:1::7"}, HostIPs: []string{"192.168.10.5"},
		MemoryCapacity: 8 << 30, PodLogsDir: kubelet.DefaultPodLogsDir,
	}
	v2 := base
	v2.CgroupV2, v2.CgroupDriver, v2.ClusterDNS = true, podgen.CgroupDriverSystemd, []string{"10.96.0.10"}
	v1node := base
	v1node.CgroupDriver, v1node.SeccompDefault = podgen.CgroupDriverCgroupfs, true
	v1node.FeatureGates = map[string]bool{podgen.FeatureContainerStopSignals: true, podgen.FeatureMemoryQoS: false}
	v2gates := v2
	v2gates.FeatureGates, v2gates.SingleProcessOOMKill = map[string]bool{podgen.FeatureMemoryQoS: false}, true
	return []variant{
		{"cgroup v2, systemd, default gates, cluster DNS", v2},
		{"cgroup v1, cgroupfs, seccompDefault, ContainerStopSignals on, MemoryQoS off", v1node},
		{"cgroup v2, systemd, singleProcessOOMKill, MemoryQoS off", v2gates},
	}
}

// nodeConfig is the same node for pkg/kubelet.
func (n oracleNode) nodeConfig(rootDir string, hugePageSizes []string, hostDNS *runtimeapi.DNSConfig) podgen.NodeConfig {
	cfg := podgen.NodeConfig{
		Name: n.Name, MemoryCapacity: n.MemoryCapacity, Allocatable: n.Allocatable, HugePageSizes: hugePageSizes,
		CgroupDriver: n.CgroupDriver, CgroupVersion: 1, SingleProcessOOMKill: n.SingleProcessOOMKill,
		SeccompDefault: n.SeccompDefault, RootDir: rootDir, ClusterDNS: n.ClusterDNS, ClusterDomain: n.ClusterDomain,
		PodIPs: n.PodIPs, HostIPs: n.HostIPs, FeatureGates: n.FeatureGates, HostDNS: hostDNS,
	}
	if n.CgroupV2 {
		cfg.CgroupVersion = 2
	}
	return cfg
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func seed(t *testing.T) uint64 {
	t.Helper()
	if *seedFlag != 0 {
		return *seedFlag
	}
	if s := os.Getenv("SPECGUARD_PARITY_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("SPECGUARD_PARITY_SEED: want an unsigned integer, got %q", s)
		}
		return v
	}
	return uint64(time.Now().UnixNano())
}

func TestKubeletParity(t *testing.T) {
	repo := repoRoot(t)
	s := seed(t)
	t.Logf("seed %d (reproduce: make parity PARITY_SEED=%d)", s, s)
	corpus := handWrittenPods(t)
	hand := len(corpus)
	gen := newPodGenerator(s)
	for i := 0; i < *podsFlag; i++ {
		corpus = append(corpus, gen.pod(i))
	}

	o := buildOracle(t, repo)
	start := time.Now()
	if len(o.built) > 0 {
		t.Logf("oracle: built %s in %s", strings.Join(o.built, " and "), o.buildTime.Round(time.Second))
	} else {
		t.Logf("oracle: reused %s and %s", o.binary("kubelet"), o.binary("kuberuntime"))
	}

	// The oracle's inputs and outputs stay in _output/parity/run for a look
	// or a rerun of one half by hand after the test.
	dir := filepath.Join(repo, "_output", "parity", "run")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, []byte("nameserver 192.168.10.1\nsearch corp.example\noptions ndots:1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	resolvFile, err := os.Open(resolv)
	if err != nil {
		t.Fatal(err)
	}
	hostDNS, err := podgen.ParseResolvConf(resolvFile)
	resolvFile.Close()
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		variant                          string
		pods, containers, fields, errors int
		differing                        int
		byPattern                        map[string][]string
	}
	var rows []row
	for vi, v := range variants(resolv) {
		r := row{variant: v.name, pods: len(corpus), byPattern: map[string][]string{}}
		input := oracleInput{Node: v.node}
		origin := map[string]corpusPod{}
		for _, cp := range corpus {
			pod := podgen.DefaultPod(cp.pod)
			var names []string
			for _, c := range pod.Spec.InitContainers {
				names = append(names, c.Name)
			}
			for _, c := range pod.Spec.Containers {
				names = append(names, c.Name)
			}
			for _, name := range names {
				id := pod.Namespace + "/" + pod.Name + "/" + name
				if _, dup := origin[id]; dup {
					t.Fatalf("%s: two corpus pods named %s/%s", cp.origin, pod.Namespace, pod.Name)
				}
				origin[id] = cp
				input.Cases = append(input.Cases, oracleCase{ID: id, Pod: pod, Container: name, RestartCount: cp.restartCount, ImageUser: cp.imageUser})
			}
		}
		in, kl, kr := filepath.Join(dir, fmt.Sprintf("in-%d.json", vi)), filepath.Join(dir, fmt.Sprintf("kubelet-%d.json", vi)), filepath.Join(dir, fmt.Sprintf("kuberuntime-%d.json", vi))
		writeJSON(t, in, input)
		runOracle(t, o, "kubelet", map[string]string{"SPECGUARD_ORACLE_IN": in, "SPECGUARD_ORACLE_OUT": kl})
		runOracle(t, o, "kuberuntime", map[string]string{"SPECGUARD_ORACLE_IN": in, "SPECGUARD_ORACLE_KUBELET": kl, "SPECGUARD_ORACLE_OUT": kr})
		var khalf kubeletHalf
		var rhalf kuberuntimeHalf
		readJSON(t, kl, &khalf)
		readJSON(t, kr, &rhalf)

		for _, c := range input.Cases {
			cp := origin[c.ID]
			want, ok := rhalf.Cases[c.ID]
			if !ok {
				t.Fatalf("%s: the oracle has no result for %s", v.name, c.ID)
			}
			r.containers++
			opts := podgen.GenerateOptions{Container: c.Container, RestartCount: &cp.restartCount, PodLogsDir: v.node.PodLogsDir,
				Node: v.node.nodeConfig(khalf.RootDir, rhalf.HugePageSizes, hostDNS)}
			if cp.imageUser != nil {
				opts.ImageUser = podgen.ParseImageUser(*cp.imageUser)
			} else {
				opts.ImageUser = podgen.ParseImageUser("")
			}
			got, err := podgen.GenerateConfigs(cp.pod, opts)
			d := &differ{}
			switch {
			case err != nil || want.Error != "":
				if err != nil && want.Error != "" {
					r.errors++
				}
				d.fields++
				ours := ""
				if err != nil {
					ours = err.Error()
				}
				if want.Error == "" || !strings.Contains(ours, want.Error) {
					d.add("error", ours, want.Error)
				}
			default:
				d.messages("podSandboxConfig", normaliseSandbox(got.PodSandboxConfig), normaliseSandbox(want.Sandbox))
				tp := terminationPath(got.Pod, c.Container)
				d.messages("containerConfig", normalise(got.ContainerConfig, tp), normalise(want.Container, tp))
			}
			r.fields += d.fields
			if len(d.diffs) > 0 {
				r.differing++
			}
			for _, df := range d.diffs {
				p := pattern(df.path)
				r.byPattern[p] = append(r.byPattern[p], fmt.Sprintf("%s (%s): %s: specguard %s, kubelet %s",
					c.ID, cp.origin, df.path, shorten(df.ours), shorten(df.kubelets)))
			}
		}
		rows = append(rows, r)
	}

	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "NODE\tPODS\tCONTAINERS\tFIELDS COMPARED\tREFUSED BY BOTH\tDIFFERING CONTAINERS\n")
	total := 0
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\n", r.variant, r.pods, r.containers, r.fields, r.errors, r.differing)
	}
	tw.Flush()
	t.Logf("kubelet parity against %s@%s (%d hand-written pods, %d generated from seed %d; oracle runs and comparison %s):\n%s",
		kubernetesModule, kubernetesVersion, hand, *podsFlag, s, time.Since(start).Round(time.Second), b.String())
	for _, r := range rows {
		patterns := make([]string, 0, len(r.byPattern))
		for p := range r.byPattern {
			patterns = append(patterns, p)
		}
		sort.Strings(patterns)
		for _, p := range patterns {
			ex := r.byPattern[p]
			total += len(ex)
			t.Errorf("%s: %s differs in %d containers, e.g.\n  %s", r.variant, p, len(ex), strings.Join(ex[:min(3, len(ex))], "\n  "))
		}
	}
	for _, nc := range notCompared {
		t.Logf("not compared as is: %s: %s", nc.what, nc.why)
	}
	if total > 0 {
		t.Logf("reproduce: make parity PARITY_SEED=%d", s)
	}
}

// terminationPath is the container's terminationMessagePath, whose mount
// the kubelet names with a random id.
func terminationPath(pod *v1.Pod, name string) string {
	for _, list := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range list {
			if c.Name == name {
				return c.TerminationMessagePath
			}
		}
	}
	return ""
}

func writeJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
