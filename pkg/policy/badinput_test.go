package policy

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const goodPolicy = "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: good\n    env: [{name: A, value: \"1\"}]\n"

// badPolicies is the documented bad-input table (docs/reliability.md):
// each must be refused with a message naming the problem.
func badPolicies() map[string]struct {
	doc  string
	want string
} {
	deepList := strings.Repeat("[", 10000) + strings.Repeat("]", 10000)
	deepMap := strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000)
	laughs := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	return map[string]struct {
		doc  string
		want string
	}{
		"deep list":          {"spec: " + deepList + "\n", ""},
		"deep map":           {"spec: " + deepMap + "\n", ""},
		"billion laughs":     {laughs, ""},
		"aliases in a spec":  {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  node: &n {name: x}\n  metadata: *n\n", "aliases are not allowed"},
		"invalid utf-8":      {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  mode: \"\xff\xfe\"\n", ""},
		"NUL byte":           {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    env: [{name: A, value: \"x\\0y\"}]\n", "NUL"},
		"overflowing number": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {pids: {limit: {max: 99999999999999999999999}}}\n", "want an integer in range, got \"99999999999999999999999\""},
		"overflowing rlimit": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {rlimits: [{type: RLIMIT_NOFILE, soft: 1, hard: 99999999999999999999999}]}\n", "want an integer in range"},
		"huge quantity":      {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: 9999999Ei}}}\n", "whole number"},
		// Found by FuzzDecide: resource.ParseQuantity takes hours on this.
		"negative exponent":    {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: 9e-999999999}}}\n", "exponent beyond"},
		"quoted neg exponent":  {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: \"9e-999999999\"}}}\n", "exponent beyond"},
		"overflowing exponent": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: \"1e99999999999999999999\"}}}\n", "exponent beyond"},
		"million-digit number": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {max: \"0." + strings.Repeat("0", 1<<20) + "1\"}}}\n", "longer than 64"},
		// Swap follows the limit up, so this max could not hold.
		"swap max below limit": {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    resources: {memory: {limit: {set: 1Gi}, swap: {max: 512Mi}}}\n", "memory.swap.max: max 512Mi is below the memory limit's 1Gi"},
		"enormous string":      {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: " + strings.Repeat("r", 1<<20) + "\n", "spec.rules[0].name"},
		"enormous document":    {strings.Repeat("#", MaxDocumentSize+1), "larger than"},
		"template bomb":        {"apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n  - name: a\n    env: [{name: A, value: \"{{ range $i := .Pod.Labels }}{{ end }}{{ .Nope.Deeper }}\"}]\n", "bad template"},
	}
}

func TestBadPoliciesAreRefusedClearly(t *testing.T) {
	for name, c := range badPolicies() {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			_, err := Parse("bad.yaml", []byte(c.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalid) || !strings.HasPrefix(err.Error(), "bad.yaml") {
				t.Fatalf("error does not name the file or wrap ErrInvalid: %v", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", truncate(err.Error(), 300), c.want)
			}
			// Only a hang guard: a starved CI box under -race has taken 11 s
			// for the 1 MiB rule name that takes well under a second alone.
			if d := time.Since(start); d > time.Minute {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// TestBadReloadsKeepTheLastGoodPolicy: whatever happens to the file, the
// policy in force stays the last good one.
func TestBadReloadsKeepTheLastGoodPolicy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	os.WriteFile(path, []byte(goodPolicy), 0o644)
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	var reports []error
	s.OnReload = func(_ *Policy, err error) { reports = append(reports, err) }
	good := s.Current()
	steps := map[string]func(){
		"truncated mid-write": func() { os.WriteFile(path, []byte(goodPolicy[:40]), 0o644) },
		"deleted":             func() { os.Remove(path) },
		"replaced by a dir":   func() { os.Remove(path); os.Mkdir(path, 0o755) },
	}
	for name, c := range badPolicies() {
		doc := c.doc
		steps["bad input: "+name] = func() { os.RemoveAll(path); os.WriteFile(path, []byte(doc), 0o644) }
	}
	for name, step := range steps {
		step()
		if _, err := s.Reload(); err == nil {
			t.Errorf("%s: reload accepted", name)
		}
		if s.Current() != good {
			t.Fatalf("%s: the last good policy was replaced", name)
		}
	}
	if len(reports) != len(steps) {
		t.Errorf("OnReload reported %d failures, want %d", len(reports), len(steps))
	}
	os.RemoveAll(path)
	os.WriteFile(path, []byte(strings.Replace(goodPolicy, "good", "better", 1)), 0o644)
	if _, err := s.Reload(); err != nil || s.Current().Rules[0].Name != "better" {
		t.Fatalf("a good policy after bad ones: %v", err)
	}
}

// TestTenThousandRulesLoadInBoundedTime: loading grows linearly with the
// rules. The bound is relative to 1,000 rules on the same box, so a busy
// CI machine slows both alike; linear is 10x, quadratic would be 100x. The
// absolute bound only catches a hang.
func TestTenThousandRulesLoadInBoundedTime(t *testing.T) {
	load := func(n int) time.Duration {
		var b strings.Builder
		b.WriteString("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  rules:\n")
		for i := 0; i < n; i++ {
			b.WriteString("  - name: r" + strconv.Itoa(i) + "\n    match: {namespaces: [ns-" + strconv.Itoa(i) + "]}\n    resources: {memory: {limit: {max: 1Gi}}}\n")
		}
		start := time.Now()
		p, err := Parse("big.yaml", []byte(b.String()))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Rules) != n {
			t.Fatalf("%d rules, want %d", len(p.Rules), n)
		}
		return time.Since(start)
	}
	load(1000) // warm up
	small, big := load(1000), load(10000)
	t.Logf("1,000 rules in %v, 10,000 rules in %v (%.1fx)", small, big, float64(big)/float64(small))
	if big > 30*small+100*time.Millisecond || big > 2*time.Minute {
		t.Fatalf("10,000 rules in %v against %v for 1,000: worse than linear", big, small)
	}
}

// A FIFO where the policy file should be: opening one for reading waits
// for a writer, so `specguard validate` hung, and so did the reload
// watcher, which then answered no reload, SIGHUP or SIGTERM again. Each
// way in is now refused at once, naming what the file is.
func TestPolicyFileReplacedByAFIFO(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	os.WriteFile(path, []byte(goodPolicy), 0o644)
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	good := s.Current()
	os.Remove(path)
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		t.Skipf("no FIFO here: %v", err)
	}
	within := func(what string, f func() error) {
		t.Helper()
		done := make(chan error, 1)
		go func() { done <- f() }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO), not a regular file") {
				t.Errorf("%s: err = %v, want it to say the file is a FIFO", what, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: still waiting after 5s", what)
		}
	}
	within("Load (specguard validate)", func() error { _, err := Load(path); return err })
	within("NewStore (specguard run)", func() error { _, err := NewStore(path); return err })
	within("Reload", func() error { _, err := s.Reload(); return err })
	if s.Current() != good {
		t.Fatal("the last good policy was replaced")
	}
}
