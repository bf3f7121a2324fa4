// specguard parity oracle, kubelet half. test/parity copies this file into a
// copy of k8s.io/kubernetes' pkg/kubelet and builds it with `go test -c`; it
// is not part of specguard's build (testdata is ignored by the Go tool).
//
// For every case it runs the kubelet's own code for what
// GenerateRunContainerOptions gives the runtime manager: hostname and domain
// (GeneratePodHostNameAndDomain), the pod's DNS config (GetPodDNS), its user
// namespace (GetOrCreateUserNamespaceMappings), the
// environment (makeEnvironmentVariables) and the mounts (makeMounts, over the
// in-tree volume plugins' own mounters), and writes them as JSON for the
// kuberuntime half.

package kubelet

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"testing"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/kubelet/clustertrustbundle"
	kubecontainer "k8s.io/kubernetes/pkg/kubelet/container"
	"k8s.io/kubernetes/pkg/kubelet/network/dns"
	"k8s.io/kubernetes/pkg/kubelet/runtimeclass"
	"k8s.io/kubernetes/pkg/kubelet/token"
	"k8s.io/kubernetes/pkg/volume"
	"k8s.io/kubernetes/pkg/volume/configmap"
	"k8s.io/kubernetes/pkg/volume/downwardapi"
	"k8s.io/kubernetes/pkg/volume/emptydir"
	"k8s.io/kubernetes/pkg/volume/hostpath"
	"k8s.io/kubernetes/pkg/volume/projected"
	"k8s.io/kubernetes/pkg/volume/secret"
)

type sgOracleNode struct {
	Name          string          `json:"name"`
	ClusterDNS    []string        `json:"clusterDNS"`
	ClusterDomain string          `json:"clusterDomain"`
	ResolvConf    string          `json:"resolvConf"`
	PodIPs        []string        `json:"podIPs"`
	HostIPs       []string        `json:"hostIPs"`
	Allocatable   v1.ResourceList `json:"allocatable"`
}

type sgOracleCase struct {
	ID        string  `json:"id"`
	Pod       *v1.Pod `json:"pod"`
	Container string  `json:"container"`
}

type sgOracleInput struct {
	Node  sgOracleNode   `json:"node"`
	Cases []sgOracleCase `json:"cases"`
}

// sgRunOptions is the part of kubecontainer.RunContainerOptions the
// kuberuntime half needs, plus the sandbox's hostname and DNS.
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

func TestSpecguardOracle(t *testing.T) {
	in, out := os.Getenv("SPECGUARD_ORACLE_IN"), os.Getenv("SPECGUARD_ORACLE_OUT")
	if in == "" || out == "" {
		t.Fatal("SPECGUARD_ORACLE_IN and SPECGUARD_ORACLE_OUT must name the input and output files")
	}
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var input sgOracleInput
	if err := json.Unmarshal(data, &input); err != nil {
		t.Fatalf("%s: %v", in, err)
	}
	tk := newTestKubelet(t, false)
	defer tk.Cleanup()
	kl := tk.kubelet
	ctx := context.Background()
	logger := klog.FromContext(ctx)

	kl.nodeName = types.NodeName(input.Node.Name)
	addrs := []v1.NodeAddress{}
	for _, ip := range input.Node.HostIPs {
		addrs = append(addrs, v1.NodeAddress{Type: v1.NodeInternalIP, Address: ip})
	}
	kl.nodeLister = testNodeLister{nodes: []*v1.Node{{
		ObjectMeta: metav1.ObjectMeta{Name: input.Node.Name},
		Status:     v1.NodeStatus{Addresses: addrs, Allocatable: input.Node.Allocatable, Capacity: input.Node.Allocatable},
	}}}
	var clusterDNS []net.IP
	for _, s := range input.Node.ClusterDNS {
		clusterDNS = append(clusterDNS, net.ParseIP(s))
	}
	nodeRef := &v1.ObjectReference{Kind: "Node", Name: input.Node.Name, UID: types.UID(input.Node.Name)}
	kl.dnsConfigurer = dns.NewConfigurer(&record.FakeRecorder{}, nodeRef, nil, clusterDNS, input.Node.ClusterDomain, input.Node.ResolvConf)

	var plugins []volume.VolumePlugin
	plugins = append(plugins, emptydir.ProbeVolumePlugins()...)
	plugins = append(plugins, hostpath.ProbeVolumePlugins(volume.VolumeConfig{})...)
	plugins = append(plugins, configmap.ProbeVolumePlugins()...)
	plugins = append(plugins, secret.ProbeVolumePlugins()...)
	plugins = append(plugins, projected.ProbeVolumePlugins()...)
	plugins = append(plugins, downwardapi.ProbeVolumePlugins()...)
	mgr, err := NewInitializedVolumePluginMgr(logger, kl, kl.secretManager, kl.configMapManager,
		token.NewManager(kl.kubeClient), &clustertrustbundle.NoopManager{}, plugins, nil)
	if err != nil {
		t.Fatal(err)
	}
	kl.volumePluginMgr = mgr
	// The default runtime handler, as containerd 2 on Linux 5.12 or later
	// reports it.
	kl.runtimeClassManager = runtimeclass.NewManager(kl.kubeClient)
	kl.runtimeState.setRuntimeHandlers([]kubecontainer.RuntimeHandler{{Name: "", SupportsRecursiveReadOnlyMounts: true, SupportsUserNamespaces: true}})

	result := sgKubeletOutput{RootDir: kl.rootDirectory, Cases: map[string]sgRunOptions{}}
	for _, c := range input.Cases {
		opts, err := sgRunContainerOptions(ctx, kl, c, input.Node)
		if err != nil {
			opts.Error = err.Error()
		}
		result.Cases[c.ID] = opts
	}
	b, err := json.Marshal(result)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sgRunContainerOptions follows GenerateRunContainerOptions step by step,
// with the pod's volumes from the in-tree plugins instead of the volume
// manager's mounted set (which needs a running reconciler).
func sgRunContainerOptions(ctx context.Context, kl *Kubelet, c sgOracleCase, node sgOracleNode) (sgRunOptions, error) {
	var o sgRunOptions
	logger := klog.FromContext(ctx)
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
		return o, fmt.Errorf("no container %q", c.Container)
	}
	var err error
	o.Hostname, o.HostDomain, err = kl.GeneratePodHostNameAndDomain(logger, pod)
	if err != nil {
		return o, err
	}
	o.DNS, err = kl.GetPodDNS(ctx, pod)
	if err != nil {
		return o, err
	}
	o.UserNamespace, err = kl.GetOrCreateUserNamespaceMappings(logger, pod, "")
	if err != nil {
		return o, err
	}
	// SyncPod makes the pod's directories before any container starts.
	if err := kl.makePodDataDirs(pod); err != nil {
		return o, err
	}
	volumes := kubecontainer.VolumeMap{}
	for i := range pod.Spec.Volumes {
		spec := volume.NewSpecFromVolume(&pod.Spec.Volumes[i])
		plugin, err := kl.volumePluginMgr.FindPluginBySpec(spec)
		if err != nil {
			return o, fmt.Errorf("volume %s: %w", pod.Spec.Volumes[i].Name, err)
		}
		m, err := plugin.NewMounter(spec, pod)
		if err != nil {
			return o, fmt.Errorf("volume %s: %w", pod.Spec.Volumes[i].Name, err)
		}
		volumes[pod.Spec.Volumes[i].Name] = kubecontainer.VolumeInfo{Mounter: m}
	}
	podIP := ""
	if len(node.PodIPs) > 0 {
		podIP = node.PodIPs[0]
	}
	o.Envs, err = kl.makeEnvironmentVariables(ctx, pod, container, podIP, node.PodIPs, volumes)
	if err != nil {
		return o, err
	}
	supportsRRO := kl.runtimeClassSupportsRecursiveReadOnlyMounts(logger, pod)
	o.Mounts, _, err = makeMounts(logger, pod, kl.getPodDir(pod.UID), container, o.Hostname, o.HostDomain, node.PodIPs,
		volumes, kl.hostutil, kl.subpather, o.Envs, supportsRRO, nil)
	if err != nil {
		return o, err
	}
	if len(container.TerminationMessagePath) != 0 {
		o.PodContainerDir = kl.getPodContainerDir(pod.UID, container.Name)
	}
	return o, nil
}
