package podgen

import (
	"testing"

	v1 "k8s.io/api/core/v1"
)

func TestHashContainer(t *testing.T) {
	cases := map[string]struct {
		c    v1.Container
		want uint64
	}{
		// The kubelet's own vector (container_hash_test.go, 1.31+): only
		// name and image count, so args and ports do not change it.
		"upstream vector": {v1.Container{
			Name: "test_container", Image: "foo/image:v1",
			Args:  []string{"/bin/sh", "-c", "echo abc"},
			Ports: []v1.ContainerPort{{ContainerPort: 8001}},
		}, 0x8e45cbd0},
		"upstream vector, bare": {v1.Container{Name: "test_container", Image: "foo/image:v1"}, 0x8e45cbd0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := HashContainer(&tc.c); got != tc.want {
				t.Errorf("HashContainer = %#x, want %#x", got, tc.want)
			}
		})
	}
	if got := ContainerHash(&v1.Container{Name: "test_container", Image: "foo/image:v1"}); got != "8e45cbd0" {
		t.Errorf("ContainerHash = %q", got)
	}
	a := HashContainer(&v1.Container{Name: "a", Image: "nginx:1"})
	b := HashContainer(&v1.Container{Name: "a", Image: "nginx:2"})
	if a == b {
		t.Error("an image change must change the hash")
	}
}
