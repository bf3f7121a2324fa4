package critest

import (
	"io"
	"net/http"
	"path/filepath"
	"regexp"
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
	// critest's documented skip of a racy case is not specguard's doing;
	// the same case skipped for another reason, or failed, still is.
	racy := "[k8s.io] NRI plugin synchronization should receive information about all containers without the race condition during initialization"
	racyBase := runOf(map[string]string{racy: "passed"})
	racyRun := func(state, msg string) *run {
		return &run{Specs: map[string]outcome{racy: {State: state, Message: msg}}}
	}
	cases := map[string]struct {
		base, r *run
		want    []string
	}{
		"failed, skipped or timed out with specguard": {base, with, []string{"b", "f", "g"}},
		"missing from the run":                        {base, other, []string{"g"}},
		"same as the baseline":                        {base, base, nil},
		"racy case skipped by critest for containerd's gap": {racyBase,
			racyRun("skipped", "spec discrepancy: containerd lost 5 container(s) created concurrently"), nil},
		"racy case skipped for another reason": {racyBase, racyRun("skipped", "plugin did not register"), []string{racy}},
		"racy case failed":                     {racyBase, racyRun("failed", "spec discrepancy: containerd lost 1"), []string{racy}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if got := regressions(c.base, c.r); !slices.Equal(got, c.want) {
				t.Errorf("regressions = %v, want %v", got, c.want)
			}
		})
	}
	// A regression's rerun clears it by passing, or by critest's documented
	// skip of a racy case; not by failing, or by any other skip.
	rerun := map[string]struct {
		spec string
		o    outcome
		want bool
	}{
		"passed":                  {"a", outcome{State: "passed"}, true},
		"failed":                  {"a", outcome{State: "failed"}, false},
		"skipped":                 {"a", outcome{State: "skipped", Message: "spec discrepancy: containerd lost 1"}, false},
		"racy case, critest skip": {racy, outcome{State: "skipped", Message: "spec discrepancy: containerd lost 1"}, true},
		"racy case, other skip":   {racy, outcome{State: "skipped", Message: "plugin did not register"}, false},
		"racy case failed":        {racy, outcome{State: "failed", Message: "spec discrepancy: containerd lost 1"}, false},
	}
	for name, c := range rerun {
		if got := rerunPassed(c.spec, c.o); got != c.want {
			t.Errorf("rerun %s: rerunPassed = %v, want %v", name, got, c.want)
		}
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
		"[k8s.io] NRI plugin synchronization should receive a callback for container created during the Synchronize call",
		"[k8s.io] NRI plugin synchronization should receive information about all containers without the race condition during initialization",
		"[k8s.io] NRI plugin synchronization should synchronize existing containers",
	}
	var patterns []*regexp.Regexp
	for _, k := range knownFailures {
		patterns = append(patterns, k.spec)
	}
	for _, k := range racySkips {
		patterns = append(patterns, k.spec)
	}
	for _, p := range patterns {
		var matched []string
		for _, s := range specs {
			if p.MatchString(s) {
				matched = append(matched, s)
			}
		}
		if len(matched) != 1 {
			t.Errorf("known failure or racy skip %q matches %d cases %v, want 1", p, len(matched), matched)
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
