package podgen

import (
	"encoding/json"
	"hash/fnv"
	"strconv"

	v1 "k8s.io/api/core/v1"
)

// ContainerHash is the io.kubernetes.container.hash annotation value: the
// kubelet's HashContainer in lower-case hex.
func ContainerHash(c *v1.Container) string {
	return strconv.FormatUint(HashContainer(c), 16)
}

// HashContainer reproduces the kubelet's container hash (1.31 and later).
// The kubelet hashes only the fields whose change restarts a container,
// {"image": ..., "name": ...} as JSON, and feeds that JSON to FNV-32a the
// way its DeepHashObject prints a []byte with go-spew's %#v:
// "([]uint8)[b0 b1 ...]" with each byte in decimal. The upstream test
// vector (name test_container, image foo/image:v1 -> 0x8e45cbd0) is in
// hash_test.go. Kubelets before 1.31 hashed the whole container spec, so
// their hashes differ.
func HashContainer(c *v1.Container) uint64 {
	js, _ := json.Marshal(map[string]string{"name": c.Name, "image": c.Image})
	h := fnv.New32a()
	buf := make([]byte, 0, 10+4*len(js))
	buf = append(buf, "([]uint8)["...)
	for i, b := range js {
		if i > 0 {
			buf = append(buf, ' ')
		}
		buf = strconv.AppendUint(buf, uint64(b), 10)
	}
	buf = append(buf, ']')
	h.Write(buf)
	return uint64(h.Sum32())
}
