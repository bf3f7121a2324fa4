// specguard parity oracle, kuberuntime half. test/parity copies this file into
// a copy of k8s.io/kubernetes' pkg/kubelet/kuberuntime and builds it with
// `go test -c`; it is not part of specguard's build (testdata is ignored by
// the Go tool).
//
// For every case it runs the kubelet's generatePodSandboxConfig and
// generateContainerConfig on the package's own fake runtime manager
// (createTestRuntimeManager), set up as a default kubelet would be, with a
// runtime helper that answers from the kubelet half's output (env, mounts,
// hostname, DNS, user namespace, all computed by pkg/kubelet's own code) and the cgroup
// parent from pkg/kubelet/cm's own naming, and writes both CRI configs as
// JSON.

package kuberuntime

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	v1 "k8s.io/api/core/v1"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/component-base/featuregate"
	featuregatetesting "k8s.io/component-base/featuregate/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	v1qos "k8s.io/kubernetes/pkg/apis/core/v1/helper/qos"
	"k8s.io/kubernetes/pkg/kubelet/cm"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	containertest "k8s.io/kubernetes/pkg/kubelet/container/testing"
	"k8s.io/utils/ptr"

	libcontainercgroups "github.com/opencontainers/cgroups"
)

type sgNode struct {
	CgroupV2             bool            `json:"cgroupV2"`
	CgroupDriver         string          `json:"cgroupDriver"`
	SingleProcessOOMKill bool            `json:"singleProcessOOMKill"`
	MemoryCapacity       int64           `json:"memoryCapacity"`
	PodLogsDir           string          `json:"podLogsDir"`
	FeatureGates         map[string]bool `json:"featureGates"`
	SeccompDefault       bool            `json:"seccompDefault"`
}

type sgCase struct {
	ID           string  `json:"id"`
	Pod          *v1.Pod `json:"pod"`
	Container    string  `json:"container"`
	RestartCount int     `json:"restartCount"`
	ImageUser    *string `json:"imageUser"`
}

type sgInput struct {
	Node  sgNode   `json:"node"`
	Cases []sgCase `json:"cases"`
}

// The kubelet half's output (see its sgRunOptions).
type sgRunOptions struct {
	Envs            []kubecontainer.EnvVar    `json:"envs"`
	Mounts          []kubecontainer.Mount     `json:"mounts"`
	PodContainerDir string                    `json:"podContainerDir"`
	Hostname        string                    `json:"hostname"`
	HostDomain      string                    `json:"hostDomain"`
	DNS             *runtimeapi.DNSConfig     `json:"dns"`
	UserNamespace   *runtimeapi.UserNamespace `json:"userNamespace"`
	Error           string                    `json:"error,omitempty"`
}

type sgKubeletOutput struct {
	RootDir string                  `json:"rootDir"`
	Cases   map[string]sgRunOptions `json:"cases"`
}

type sgResult struct {
	Sandbox   *runtimeapi.PodSandboxConfig `json:"sandbox,omitempty"`
	Container *runtimeapi.ContainerConfig  `json:"container,omitempty"`
	Error     string                       `json:"error,omitempty"`
}

type sgOutput struct {
	HugePageSizes []string            `json:"hugePageSizes"`
	Cases         map[string]sgResult `json:"cases"`
}

// sgHelper is the runtime helper: the fake's defaults, with what
// GenerateRunContainerOptions, GetPodDNS and GeneratePodHostNameAndDomain
// return taken from the kubelet half, and the pod cgroup named by cm.
type sgHelper struct {
	containertest.FakeRuntimeHelper
	run     sgRunOptions
	cgroups cm.CgroupManager
}

func (h *sgHelper) GenerateRunContainerOptions(context.Context, *v1.Pod, *v1.Container, string, []string, kubecontainer.ImageVolumes) (*kubecontainer.RunContainerOptions, func(), error) {
	return &kubecontainer.RunContainerOptions{Envs: h.run.Envs, Mounts: h.run.Mounts, PodContainerDir: h.run.PodContainerDir}, nil, nil
}

func (h *sgHelper) GetPodDNS(context.Context, *v1.Pod) (*runtimeapi.DNSConfig, error) {
	return h.run.DNS, nil
}

func (h *sgHelper) GeneratePodHostNameAndDomain(klog.Logger, *v1.Pod) (string, string, error) {
	return h.run.Hostname, h.run.HostDomain, nil
}

func (h *sgHelper) GetOrCreateUserNamespaceMappings(klog.Logger, *v1.Pod, string) (*runtimeapi.UserNamespace, error) {
	return h.run.UserNamespace, nil
}

// GetPodCgroupParent is cm's podContainerManagerImpl.GetPodContainerName
// over the QoS cgroups cm's qosContainerManager creates under "kubepods".
func (h *sgHelper) GetPodCgroupParent(pod *v1.Pod) string {
	root := cm.NewCgroupName(cm.RootCgroupName, "kubepods")
	parent := root
	switch v1qos.GetPodQOS(pod) {
	case v1.PodQOSBurstable:
		parent = cm.NewCgroupName(root, "burstable")
	case v1.PodQOSBestEffort:
		parent = cm.NewCgroupName(root, "besteffort")
	}
	return h.cgroups.Name(cm.NewCgroupName(parent, cm.GetPodCgroupNameSuffix(pod.UID)))
}

func TestSpecguardOracle(t *testing.T) {
	in, kubeletOut, out := os.Getenv("SPECGUARD_ORACLE_IN"), os.Getenv("SPECGUARD_ORACLE_KUBELET"), os.Getenv("SPECGUARD_ORACLE_OUT")
	if in == "" || kubeletOut == "" || out == "" {
		t.Fatal("SPECGUARD_ORACLE_IN, SPECGUARD_ORACLE_KUBELET and SPECGUARD_ORACLE_OUT must name the files")
	}
	var input sgInput
	var kubelet sgKubeletOutput
	for path, v := range map[string]any{in: &input, kubeletOut: &kubelet} {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	for name, on := range input.Node.FeatureGates {
		featuregatetesting.SetFeatureGateDuringTest(t, utilfeature.DefaultFeatureGate, featuregate.Feature(name), on)
	}
	cgroupV2 := input.Node.CgroupV2
	isCgroup2UnifiedMode = func() bool { return cgroupV2 }
	ctx := context.Background()
	_, imageService, m, err := createTestRuntimeManager(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A default kubelet's settings where the fake differs.
	m.cpuCFSQuota = true
	m.singleProcessOOMKill = ptr.To(input.Node.SingleProcessOOMKill)
	m.getSwapControllerAvailable = func() bool { return true }
	m.machineInfo.MemoryCapacity = uint64(input.Node.MemoryCapacity)
	m.seccompProfileRoot = filepath.Join(kubelet.RootDir, "seccomp")
	m.podLogsDirectory = input.Node.PodLogsDir
	m.seccompDefault = input.Node.SeccompDefault
	helper := &sgHelper{cgroups: cm.NewCgroupManager(klog.Background(), &cm.CgroupSubsystems{}, input.Node.CgroupDriver)}
	m.runtimeHelper = helper

	result := sgOutput{HugePageSizes: libcontainercgroups.HugePageSizes(), Cases: map[string]sgResult{}}
	for _, c := range input.Cases {
		run, ok := kubelet.Cases[c.ID]
		if !ok {
			t.Fatalf("case %s: missing from the kubelet half's output", c.ID)
		}
		if run.Error != "" {
			result.Cases[c.ID] = sgResult{Error: run.Error}
			continue
		}
		helper.run = run
		r, err := sgGenerate(ctx, m, imageService.Images, c)
		if err != nil {
			r.Error = err.Error()
		}
		result.Cases[c.ID] = r
	}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sgGenerate(ctx context.Context, m *kubeGenericRuntimeManager, images map[string]*runtimeapi.Image, c sgCase) (sgResult, error) {
	var r sgResult
	pod := c.Pod
	var container *v1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == c.Container {
			container = &pod.Spec.InitContainers[i]
		}
	}
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == c.Container {
			container = &pod.Spec.Containers[i]
		}
	}
	if container == nil {
		return r, fmt.Errorf("no container %q", c.Container)
	}
	// The image's USER as the runtime reports it: none is root.
	delete(images, container.Image)
	if c.ImageUser != nil && *c.ImageUser != "" {
		img := &runtimeapi.Image{Id: container.Image}
		if uid, err := strconv.ParseInt(*c.ImageUser, 10, 64); err == nil {
			img.Uid = &runtimeapi.Int64Value{Value: uid}
		} else {
			img.Username = *c.ImageUser
		}
		images[container.Image] = img
	}
	var err error
	r.Sandbox, err = m.generatePodSandboxConfig(ctx, pod, 0)
	if err != nil {
		return r, err
	}
	// The pod IPs only reach GenerateRunContainerOptions, which the kubelet
	// half ran with them. The image reference stands in for the image ID.
	r.Container, _, err = m.generateContainerConfig(ctx, container, pod, c.RestartCount, "", container.Image, nil, nil, nil)
	return r, err
}
