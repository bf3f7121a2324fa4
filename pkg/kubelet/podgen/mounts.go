package podgen

import (
	"fmt"
	"hash/fnv"
	"path/filepath"
	"strconv"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ServiceAccountMountPath is where the ServiceAccount admission plugin
// mounts the API token volume.
const ServiceAccountMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"

// podDir is the kubelet's per-pod directory.
func (g *generator) podDir(p *v1.Pod) string {
	return filepath.Join(g.node.rootDir(), "pods", string(p.UID))
}

// Volume plugin directory names under <podDir>/volumes.
var volumePluginDirs = map[string]string{
	"emptyDir":    "kubernetes.io~empty-dir",
	"configMap":   "kubernetes.io~configmap",
	"secret":      "kubernetes.io~secret",
	"projected":   "kubernetes.io~projected",
	"downwardAPI": "kubernetes.io~downward-api",
}

// mounts is the kubelet's makeMounts: volume mounts in order, the managed
// /etc/hosts, and the termination message file.
func (g *generator) mounts(p *v1.Pod, c *v1.Container, field string, restartCount int) ([]*runtimeapi.Mount, error) {
	vols := map[string]*v1.Volume{}
	for i := range p.Spec.Volumes {
		vols[p.Spec.Volumes[i].Name] = &p.Spec.Volumes[i]
	}
	podDir := g.podDir(p)
	var out []*runtimeapi.Mount
	mountsHosts, mountsSA := false, false
	for i, vm := range c.VolumeMounts {
		f := fmt.Sprintf("%s.volumeMounts[%d]", field, i)
		if vm.MountPath == "/etc/hosts" {
			mountsHosts = true
		}
		if vm.MountPath == ServiceAccountMountPath {
			mountsSA = true
		}
		v, ok := vols[vm.Name]
		if !ok {
			return nil, fmt.Errorf("%s.name: no volume %q in spec.volumes", f, vm.Name)
		}
		host, readOnly := "", vm.ReadOnly
		switch {
		case v.HostPath != nil:
			host = v.HostPath.Path
		case v.EmptyDir != nil:
			host = filepath.Join(podDir, "volumes", volumePluginDirs["emptyDir"], v.Name)
		case v.ConfigMap != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["configMap"], v.Name), true
		case v.Secret != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["secret"], v.Name), true
		case v.Projected != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["projected"], v.Name), true
		case v.DownwardAPI != nil:
			host, readOnly = filepath.Join(podDir, "volumes", volumePluginDirs["downwardAPI"], v.Name), true
		default:
			g.warn(f, "volume %q: its host path depends on the volume plugin and what is bound at run time; mount left out", vm.Name)
			continue
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			// The kubelet bind-mounts each subPath under volume-subpaths.
			host = filepath.Join(podDir, "volume-subpaths", v.Name, c.Name, strconv.Itoa(i))
		}
		m := &runtimeapi.Mount{
			ContainerPath: vm.MountPath,
			HostPath:      host,
			Readonly:      readOnly,
			Propagation:   mountPropagation(vm.MountPropagation),
		}
		if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly != v1.RecursiveReadOnlyDisabled {
			m.RecursiveReadOnly = true
			if *vm.RecursiveReadOnly == v1.RecursiveReadOnlyIfPossible {
				g.warn(f+".recursiveReadOnly", "IfPossible: assumed the runtime supports recursive read-only mounts")
			}
		}
		out = append(out, m)
	}
	if !mountsHosts {
		out = append(out, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: filepath.Join(podDir, "etc-hosts")})
	}
	if c.TerminationMessagePath != "" {
		out = append(out, &runtimeapi.Mount{
			ContainerPath: c.TerminationMessagePath,
			HostPath:      filepath.Join(podDir, "containers", c.Name, terminationFileID(p, c.Name, restartCount)),
		})
	}
	automount := p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken
	if automount && !mountsSA {
		g.warn(field+".volumeMounts", "the ServiceAccount admission plugin would add a projected token volume (kube-api-access-<random>) at %s; not generated", ServiceAccountMountPath)
	}
	return out, nil
}

// terminationFileID stands in for the random 8-hex-digit name the kubelet
// gives each attempt's termination message file; it is stable so output is
// reproducible.
func terminationFileID(p *v1.Pod, name string, restartCount int) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%s/%d", p.UID, name, restartCount)
	return fmt.Sprintf("%08x", h.Sum32())
}

func mountPropagation(m *v1.MountPropagationMode) runtimeapi.MountPropagation {
	if m == nil {
		return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
	}
	switch *m {
	case v1.MountPropagationHostToContainer:
		return runtimeapi.MountPropagation_PROPAGATION_HOST_TO_CONTAINER
	case v1.MountPropagationBidirectional:
		return runtimeapi.MountPropagation_PROPAGATION_BIDIRECTIONAL
	}
	return runtimeapi.MountPropagation_PROPAGATION_PRIVATE
}
