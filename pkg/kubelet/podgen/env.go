package podgen

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// EnvVar is one resolved environment variable.
type EnvVar struct {
	Name  string
	Value string
}

// envResolver resolves a container's environment from the manifest alone.
type envResolver struct {
	pod   *v1.Pod
	node  *NodeConfig
	warn  func(field, format string, args ...any)
	field string // e.g. spec.containers[0]
}

// resolve follows the kubelet's makeEnvironmentVariables: envFrom first,
// then env in order, each value expanded against the variables declared
// before it. What needs the cluster (ConfigMaps, Secrets, files, service
// links) is reported and left out. The kubelet hands the runtime a map in
// random order; here the order is first declaration.
func (r *envResolver) resolve(c *v1.Container) ([]EnvVar, error) {
	vals := map[string]string{}
	var order []string
	set := func(name, value string) {
		if _, ok := vals[name]; !ok {
			order = append(order, name)
		}
		vals[name] = value
	}
	for i, from := range c.EnvFrom {
		f := fmt.Sprintf("%s.envFrom[%d]", r.field, i)
		switch {
		case from.ConfigMapRef != nil:
			r.warn(f, "variables from ConfigMap %q need the cluster; left out", from.ConfigMapRef.Name)
		case from.SecretRef != nil:
			r.warn(f, "variables from Secret %q need the cluster; left out", from.SecretRef.Name)
		default:
			r.warn(f, "this envFrom source needs the node or cluster; left out")
		}
	}
	lookup := func(name string) (string, bool) {
		v, ok := vals[name]
		return v, ok
	}
	for i, e := range c.Env {
		f := fmt.Sprintf("%s.env[%d]", r.field, i)
		switch {
		case e.Value != "":
			set(e.Name, ExpandVars(e.Value, lookup))
		case e.ValueFrom == nil:
			set(e.Name, "")
		case e.ValueFrom.FieldRef != nil:
			v, ok, err := r.fieldRef(e.ValueFrom.FieldRef)
			if err != nil {
				return nil, fmt.Errorf("%s.valueFrom.fieldRef: %w", f, err)
			}
			if !ok {
				r.warn(f, "%s (%s) is not known without a running pod; set to \"\"", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			set(e.Name, v)
		case e.ValueFrom.ResourceFieldRef != nil:
			v, ok, err := r.resourceFieldRef(c, e.ValueFrom.ResourceFieldRef)
			if err != nil {
				return nil, fmt.Errorf("%s.valueFrom.resourceFieldRef: %w", f, err)
			}
			if !ok {
				r.warn(f, "%s (%s) needs the node's allocatable resources; left out", e.Name, e.ValueFrom.ResourceFieldRef.Resource)
				continue
			}
			set(e.Name, v)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			r.warn(f, "%s from ConfigMap %q key %q needs the cluster; left out", e.Name, e.ValueFrom.ConfigMapKeyRef.Name, e.ValueFrom.ConfigMapKeyRef.Key)
		case e.ValueFrom.SecretKeyRef != nil:
			r.warn(f, "%s from Secret %q key %q needs the cluster; left out", e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
		default:
			r.warn(f, "%s: this valueFrom source needs the node or cluster; left out", e.Name)
		}
	}
	out := make([]EnvVar, 0, len(order))
	for _, n := range order {
		out = append(out, EnvVar{Name: n, Value: vals[n]})
	}
	return out, nil
}

// fieldRef resolves a downward API field. ok is false when the value exists
// only at run time and was not supplied in NodeConfig.
func (r *envResolver) fieldRef(fs *v1.ObjectFieldSelector) (string, bool, error) {
	if fs.APIVersion != "" && fs.APIVersion != "v1" {
		return "", false, fmt.Errorf("unsupported pod version: %s", fs.APIVersion)
	}
	pod := r.pod
	path := fs.FieldPath
	if base, key, ok := splitSubscript(path); ok {
		switch base {
		case "metadata.labels":
			return pod.Labels[key], true, nil
		case "metadata.annotations":
			return pod.Annotations[key], true, nil
		}
		return "", false, fmt.Errorf("fieldPath %q does not support subscript", path)
	}
	switch path {
	case "metadata.name":
		return pod.Name, true, nil
	case "metadata.namespace":
		return pod.Namespace, true, nil
	case "metadata.uid":
		return string(pod.UID), true, nil
	case "metadata.labels":
		return formatMap(pod.Labels), true, nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), true, nil
	case "spec.nodeName":
		n := pod.Spec.NodeName
		if n == "" {
			n = r.node.Name
		}
		return n, n != "", nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, true, nil
	case "status.podIP":
		if len(r.node.PodIPs) == 0 {
			return "", false, nil
		}
		return r.node.PodIPs[0], true, nil
	case "status.podIPs":
		return strings.Join(r.node.PodIPs, ","), len(r.node.PodIPs) > 0, nil
	case "status.hostIP":
		if len(r.node.HostIPs) == 0 {
			return "", false, nil
		}
		return r.node.HostIPs[0], true, nil
	case "status.hostIPs":
		return strings.Join(r.node.HostIPs, ","), len(r.node.HostIPs) > 0, nil
	}
	return "", false, fmt.Errorf("unsupported fieldPath: %v", path)
}

// splitSubscript splits "metadata.labels['key']".
func splitSubscript(path string) (string, string, bool) {
	if !strings.HasSuffix(path, "']") {
		return "", "", false
	}
	base, key, ok := strings.Cut(strings.TrimSuffix(path, "']"), "['")
	if !ok || base == "" {
		return "", "", false
	}
	return base, key, true
}

// formatMap is the downward API's rendering of labels and annotations:
// key="value" lines, sorted by key.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldRef resolves requests.*/limits.* of this or another
// container. A missing limit falls back, as in the kubelet, to the pod-level
// limit and then to node allocatable; ok is false when that is unknown.
func (r *envResolver) resourceFieldRef(c *v1.Container, rs *v1.ResourceFieldSelector) (string, bool, error) {
	target := c
	if rs.ContainerName != "" {
		target = findContainer(r.pod, rs.ContainerName)
		if target == nil {
			return "", false, fmt.Errorf("container %q not found in pod", rs.ContainerName)
		}
	}
	divisor := rs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, ok := strings.Cut(rs.Resource, ".")
	if !ok || (kind != "requests" && kind != "limits") {
		return "", false, fmt.Errorf("unsupported container resource : %v", rs.Resource)
	}
	res := v1.ResourceName(name)
	switch {
	case res == v1.ResourceCPU, res == v1.ResourceMemory, res == v1.ResourceEphemeralStorage:
	case strings.HasPrefix(name, v1.ResourceHugePagesPrefix):
	default:
		return "", false, fmt.Errorf("unsupported container resource : %v", rs.Resource)
	}
	var q resource.Quantity
	if kind == "requests" {
		q = target.Resources.Requests[res]
	} else {
		var found bool
		q, found = target.Resources.Limits[res]
		if (!found || q.IsZero()) && !strings.HasPrefix(name, v1.ResourceHugePagesPrefix) {
			if pr := r.pod.Spec.Resources; pr != nil && !pr.Limits.Name(res, resource.DecimalSI).IsZero() {
				q = pr.Limits[res]
			} else if a, ok := r.node.Allocatable[res]; ok {
				q = a
			} else {
				return "", false, nil
			}
		}
	}
	if res == v1.ResourceCPU {
		return ceilDiv(q.MilliValue(), divisor.MilliValue()), true, nil
	}
	return ceilDiv(q.Value(), divisor.Value()), true, nil
}

// ceilDiv is the kubelet's int64(math.Ceil(float64(a)/float64(b))).
func ceilDiv(a, b int64) string {
	if b == 0 {
		return "0"
	}
	return strconv.FormatInt(int64(math.Ceil(float64(a)/float64(b))), 10)
}
