package podgen

import (
	"testing"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/specguard/specguard/pkg/kubelet"
)

func rl(pairs ...string) v1.ResourceList {
	l := v1.ResourceList{}
	for i := 0; i+1 < len(pairs); i += 2 {
		l[v1.ResourceName(pairs[i])] = resource.MustParse(pairs[i+1])
	}
	return l
}

func ctr(name string, req, lim v1.ResourceList) v1.Container {
	return v1.Container{Name: name, Resources: v1.ResourceRequirements{Requests: req, Limits: lim}}
}

func TestPodQOSClass(t *testing.T) {
	guaranteed := ctr("g", rl("cpu", "1", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))
	cases := map[string]struct {
		spec   v1.PodSpec
		status v1.PodQOSClass
		want   kubelet.QOSClass
	}{
		"no resources":  {spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}}}, want: kubelet.QOSBestEffort},
		"no containers": {spec: v1.PodSpec{}, want: kubelet.QOSBestEffort},
		"only non-qos resources": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", rl("ephemeral-storage", "1Gi"), nil)}}, want: kubelet.QOSBestEffort},
		"requests equal limits": {spec: v1.PodSpec{Containers: []v1.Container{guaranteed}}, want: kubelet.QOSGuaranteed},
		"limits only (requests defaulted)": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", nil, rl("cpu", "500m", "memory", "256Mi"))}}, want: kubelet.QOSGuaranteed},
		"equal but different spelling": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", rl("cpu", "1000m", "memory", "1024Mi"), rl("cpu", "1", "memory", "1Gi"))}}, want: kubelet.QOSGuaranteed},
		"cpu only": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", rl("cpu", "1"), rl("cpu", "1"))}}, want: kubelet.QOSBurstable},
		"request below limit": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", rl("cpu", "500m", "memory", "1Gi"), rl("cpu", "1", "memory", "1Gi"))}}, want: kubelet.QOSBurstable},
		"request only": {spec: v1.PodSpec{Containers: []v1.Container{
			ctr("a", rl("memory", "1Gi"), nil)}}, want: kubelet.QOSBurstable},
		"guaranteed plus besteffort": {spec: v1.PodSpec{Containers: []v1.Container{guaranteed, {Name: "b"}}}, want: kubelet.QOSBurstable},
		"init container counts": {spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "init"}},
			Containers:     []v1.Container{guaranteed}}, want: kubelet.QOSBurstable},
		"guaranteed init and app": {spec: v1.PodSpec{
			InitContainers: []v1.Container{guaranteed},
			Containers:     []v1.Container{guaranteed}}, want: kubelet.QOSGuaranteed},
		"pod-level resources win": {spec: v1.PodSpec{
			Resources:  &v1.ResourceRequirements{Requests: rl("cpu", "1", "memory", "1Gi"), Limits: rl("cpu", "1", "memory", "1Gi")},
			Containers: []v1.Container{{Name: "a"}}}, want: kubelet.QOSGuaranteed},
		// PodLevelResourcesFixKubeletQOSClass (on in 1.37): pod-level
		// resources decide only when they name cpu, memory or hugepages.
		"empty pod-level resources": {spec: v1.PodSpec{
			Resources:  &v1.ResourceRequirements{},
			Containers: []v1.Container{ctr("a", rl("memory", "100Mi"), nil)}}, want: kubelet.QOSBurstable},
		"pod-level ephemeral storage only": {spec: v1.PodSpec{
			Resources:  &v1.ResourceRequirements{Requests: rl("ephemeral-storage", "1Gi")},
			Containers: []v1.Container{guaranteed}}, want: kubelet.QOSGuaranteed},
		"status wins": {spec: v1.PodSpec{Containers: []v1.Container{guaranteed}}, status: v1.PodQOSBurstable, want: kubelet.QOSBurstable},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := &v1.Pod{Spec: tc.spec, Status: v1.PodStatus{QOSClass: tc.status}}
			if got := PodQOSClass(pod); got != tc.want {
				t.Errorf("PodQOSClass = %s, want %s", got, tc.want)
			}
		})
	}
	if got := PodQOSClass(nil); got != kubelet.QOSBestEffort {
		t.Errorf("PodQOSClass(nil) = %s", got)
	}
}

func TestIsNodeCriticalPod(t *testing.T) {
	prio := func(p int32) *int32 { return &p }
	cases := map[string]struct {
		meta metav1.ObjectMeta
		spec v1.PodSpec
		want bool
	}{
		"plain":                  {want: false},
		"node-critical class":    {spec: v1.PodSpec{PriorityClassName: SystemNodeCritical, Priority: prio(SystemNodeCriticalPriority)}, want: true},
		"class without priority": {spec: v1.PodSpec{PriorityClassName: SystemNodeCritical}, want: false},
		"cluster-critical":       {spec: v1.PodSpec{PriorityClassName: SystemClusterCritical, Priority: prio(SystemClusterCriticalPriority)}, want: false},
		"static node-critical": {meta: metav1.ObjectMeta{Annotations: map[string]string{ConfigSourceAnnotation: "file"}},
			spec: v1.PodSpec{PriorityClassName: SystemNodeCritical}, want: true},
		"api-sourced": {meta: metav1.ObjectMeta{Annotations: map[string]string{ConfigSourceAnnotation: "api"}},
			spec: v1.PodSpec{PriorityClassName: SystemNodeCritical}, want: false},
		"mirror node-critical": {meta: metav1.ObjectMeta{Annotations: map[string]string{ConfigMirrorAnnotation: "x"}},
			spec: v1.PodSpec{PriorityClassName: SystemNodeCritical}, want: true},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := IsNodeCriticalPod(&v1.Pod{ObjectMeta: tc.meta, Spec: tc.spec}); got != tc.want {
				t.Errorf("IsNodeCriticalPod = %v, want %v", got, tc.want)
			}
		})
	}
}
