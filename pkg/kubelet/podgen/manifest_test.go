package podgen

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodePodErrors(t *testing.T) {
	head := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n"
	cases := map[string]struct {
		doc  string
		want string // substring of the message, with file:line
	}{
		"unknown field": {head + "  - name: a\n    image: x\n  - name: b\n    imagee: y\n",
			"pod.yaml:10: spec.containers[1].imagee: unknown field"},
		"unknown nested field": {head + "  - name: a\n    ports:\n    - containerPort: 80\n      bogus: 1\n",
			"pod.yaml:10: spec.containers[0].ports[0].bogus: unknown field"},
		"wrong type": {head + "  - name: a\n    ports: [{containerPort: 80}]\n  - name: b\n    ports: [{containerPort: abc}]\n",
			"pod.yaml:10: spec.containers[1].ports[0].containerPort: want int32, got string"},
		"bad quantity": {head + "  - name: a\n    resources:\n      limits: {cpu: lots}\n",
			"pod.yaml:9: spec.containers[0].resources.limits.cpu: not a quantity"},
		// resource.ParseQuantity would take hours on this one.
		"hostile quantity": {head + "  - name: a\n    resources:\n      requests: {memory: \"9e-999999999\"}\n",
			"pod.yaml:9: spec.containers[0].resources.requests.memory: \"9e-999999999\" has an exponent beyond ±30"},
		"duplicate key": {head + "  - name: a\n    name: b\n", "pod.yaml:8"},
		"not yaml":      {"a: [1, 2\n", "pod.yaml:"},
		"empty":         {"   \n", "pod.yaml: empty document"},
		"not a mapping": {"- 1\n- 2\n", "want a Pod object"},
		"wrong kind":    {"apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {}\n", "pod.yaml:2: kind: want Pod"},
		"wrong version": {"apiVersion: v2\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: a}]}\n", "apiVersion: want v1"},
		"no name":       {"apiVersion: v1\nkind: Pod\nmetadata: {}\nspec: {containers: [{name: a}]}\n", "metadata.name: required"},
		"no containers": {"apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {}\n", "spec.containers: at least one container"},
		"yaml 1.1 bool": {head + "  - name: a\n    env: [{name: X, value: yes}]\n", "spec.containers[0].env[0].value: want string, got bool"},
		"json input":    {`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a"},"spec":{"containers":[{"name":"a","nope":1}]}}`, "spec.containers[0].nope: unknown field"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodePod("pod.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatalf("want an error containing %q", tc.want)
			}
			if !errors.Is(err, ErrInvalidManifest) {
				t.Errorf("error does not wrap ErrInvalidManifest: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestDecodePodOK(t *testing.T) {
	pod, err := DecodePod("p.yaml", []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\nspec:\n  containers:\n  - name: c\n    image: x\n    resources: {limits: {memory: 1Gi}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if pod.Name != "a" || pod.Spec.Containers[0].Resources.Limits.Memory().Value() != 1<<30 {
		t.Errorf("decoded %+v", pod)
	}
}

func TestDecodePodTooLarge(t *testing.T) {
	_, err := DecodePod("big.yaml", make([]byte, MaxManifestSize+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("got %v", err)
	}
}

// FuzzGenerate feeds arbitrary manifests through decoding and generation:
// errors are fine, panics are not.
func FuzzGenerate(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, image: x}]}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {hostNetwork: true, containers: [{name: c, ports: [{containerPort: 1}], resources: {limits: {cpu: 1e18, memory: 9Ei}}}]}\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec: {containers: [{name: c, env: [{name: A, value: $(A)$$}], command: [$(A)]}], securityContext: {runAsNonRoot: true}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pod, err := DecodePod("fuzz.yaml", data)
		if err != nil {
			return
		}
		n := 0
		_, _ = GenerateConfigs(pod, GenerateOptions{RestartCount: &n, ImageUser: ParseImageUser("")})
	})
}
