package critest

import (
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"testing"

	"github.com/specguard/specguard/internal/ociarchive"
	"github.com/specguard/specguard/test/e2e/harness"
)

func runOf(states map[string]string) *run {
	r := &run{Specs: map[string]outcome{}}
	for spec, st := range states {
		r.Specs[spec] = outcome{State: st}
	}
	return r
}

// TestCompareRuns: what counts against specguard and what is the stack's.
func TestCompareRuns(t *testing.T) {
	base := runOf(map[string]string{"a": "passed", "b": "passed", "c": "failed", "d": "failed", "e": "skipped", "f": "passed", "g": "passed"})
	with := runOf(map[string]string{"a": "passed", "b": "failed", "c": "failed", "d": "passed", "e": "skipped", "f": "skipped", "g": "timedout"})
	other := runOf(map[string]string{"a": "passed", "b": "passed", "c": "failed", "d": "failed", "e": "skipped", "f": "passed"})
	cases := map[string]struct {
		r    *run
		want []string
	}{
		"failed, skipped or timed out with specguard": {with, []string{"b", "f", "g"}},
		"missing from the run":                        {other, []string{"g"}},
		"same as the baseline":                        {base, nil},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := regressions(base, c.r); !slices.Equal(got, c.want) {
				t.Errorf("regressions = %v, want %v", got, c.want)
			}
		})
	}
	everywhere, flaky := failingEverywhere([]*run{base, with, other})
	if !slices.Equal(everywhere, []string{"c"}) || !slices.Equal(flaky, []string{"d"}) {
		t.Errorf("failing everywhere %v, flaky without specguard %v; want [c], [d]", everywhere, flaky)
	}
}

// TestKnownFailuresMatchOneSpecEach: each known failure names one case of
// the suite (critest's own spec list), so a reason cannot silently cover
// a case it was not written for.
func TestKnownFailuresMatchOneSpecEach(t *testing.T) {
	specs := []string{
		"[k8s.io] Container runtime should support basic operations on container runtime should support execSync with timeout [Conformance]",
		"[k8s.io] Container runtime should support basic operations on container runtime should support execSync [Conformance]",
		"[k8s.io] Image Manager public image with digest should be pulled and removed [Conformance]",
		"[k8s.io] Image Manager public image with tag should be pulled and removed [Conformance]",
		"[k8s.io] Security Context bucket runtime should support MaskedPaths",
		"[k8s.io] Security Context bucket runtime should support ReadonlyPaths",
		"[k8s.io] Security Context UserNamespaces when Host idmap mount support is needed runtime should support NamespaceMode_POD",
		"[k8s.io] Security Context UserNamespaces when Host idmap mount support is not needed runtime should support NamespaceMode_NODE",
	}
	for _, k := range knownFailures {
		var matched []string
		for _, s := range specs {
			if k.spec.MatchString(s) {
				matched = append(matched, s)
			}
		}
		if len(matched) != 1 {
			t.Errorf("known failure %q matches %d cases %v, want 1", k.spec, len(matched), matched)
		}
	}
}

// TestRegistryServesImages: the test registry answers what containerd's
// mirror resolution and pull ask, under every name of an image.
func TestRegistryServesImages(t *testing.T) {
	dir := t.TempDir()
	archive := filepath.Join(dir, "img.tar")
	if err := harness.WriteImageFile(archive, harness.Image{Ref: "registry.k8s.io/pause:3.9"}, "/bin/busybox"); err != nil {
		t.Fatal(err)
	}
	r, err := newRegistry(map[string][]string{archive: {"k8s.gcr.io/pause:3.9", "gcr.io/x/y"}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.close()
	get := func(method, path string) (int, string, string) {
		req, _ := http.NewRequest(method, "http://"+r.addr+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), string(b)
	}
	code, digest, _ := get(http.MethodHead, "/v2/pause/manifests/3.9?ns=registry.k8s.io")
	if code != 200 || digest == "" {
		t.Fatalf("HEAD manifest: %d, digest %q", code, digest)
	}
	for _, p := range []string{"/v2/pause/manifests/3.9?ns=k8s.gcr.io", "/v2/x/y/manifests/latest", "/v2/pause/manifests/" + digest} {
		code, d, body := get(http.MethodGet, p)
		if code != 200 || d != digest || ociarchive.Digest([]byte(body)) != digest {
			t.Errorf("GET %s: %d, digest %q, body digest %s; want 200 and %s", p, code, d, ociarchive.Digest([]byte(body)), digest)
		}
	}
	for _, p := range []string{"/v2/pause/manifests/3.8", "/v2/other/manifests/3.9", "/v2/pause/blobs/sha256:00"} {
		if code, _, _ := get(http.MethodGet, p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, code)
		}
	}
	if code, _, _ := get(http.MethodPut, "/v2/pause/manifests/3.9"); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT: %d, want 405", code)
	}
}

func TestSplitRef(t *testing.T) {
	cases := map[string]struct{ repo, tag string }{
		"registry.k8s.io/pause:3.9":                      {"pause", "3.9"},
		"gcr.io/k8s-staging-cri-tools/test-image-latest": {"k8s-staging-cri-tools/test-image-latest", "latest"},
		"localhost:5000/a/b:c":                           {"a/b", "c"},
	}
	for ref, want := range cases {
		repo, tag, err := splitRef(ref)
		if err != nil || repo != want.repo || tag != want.tag {
			t.Errorf("splitRef(%q) = %q, %q, %v; want %q, %q", ref, repo, tag, err, want.repo, want.tag)
		}
	}
	if _, _, err := splitRef("busybox:1"); err == nil {
		t.Error("a name without a registry was accepted")
	}
}
