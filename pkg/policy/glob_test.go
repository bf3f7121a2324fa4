package policy

import (
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	cases := map[string]struct {
		pattern string
		path    bool
		yes, no []string
	}{
		"literal":     {"kube-system", false, []string{"kube-system"}, []string{"kube-system2", ""}},
		"prefix":      {"team-*", false, []string{"team-", "team-a"}, []string{"teams", "x-team-a"}},
		"suffix":      {"*-prod", false, []string{"a-prod"}, []string{"prod", "a-prod2"}},
		"any":         {"*", false, []string{"", "a/b"}, nil},
		"image":       {"registry.example/*", false, []string{"registry.example/a/b:1"}, []string{"registry.example"}},
		"middle":      {"a*b*c", false, []string{"abc", "a12b34c"}, []string{"acb", "ab"}},
		"question":    {"net.ipv4.tcp_?mem", false, []string{"net.ipv4.tcp_rmem"}, []string{"net.ipv4.tcp_mem"}},
		"path star":   {"/var/run/*.sock", true, []string{"/var/run/docker.sock"}, []string{"/var/run/x/docker.sock"}},
		"path deep":   {"/etc/**", true, []string{"/etc/passwd", "/etc/a/b/c"}, []string{"/etc", "/etcx/a"}},
		"path middle": {"/var/lib/**/data", true, []string{"/var/lib/data", "/var/lib/a/b/data"}, []string{"/var/lib/a/datax"}},
		"path any":    {"**", true, []string{"/", "/a/b"}, nil},
		"path seg":    {"/home/*", true, []string{"/home/u"}, []string{"/home/u/x"}},
	}
	for name, c := range cases {
		g, err := CompileGlob(c.pattern, c.path)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range c.yes {
			if !g.Match(s) {
				t.Errorf("%s: %q should match %q", name, c.pattern, s)
			}
		}
		for _, s := range c.no {
			if g.Match(s) {
				t.Errorf("%s: %q should not match %q", name, c.pattern, s)
			}
		}
	}
	for _, bad := range []string{"", "a[bc]", `a\*`} {
		if _, err := CompileGlob(bad, false); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// Patterns with several stars against long subjects: backtracking alone
// takes O(n^stars) steps (a hostPath source can be 4096 bytes); Match
// stays O(n*m) by handing over to the automaton.
func TestGlobPathological(t *testing.T) {
	long := strings.Repeat("/a", 2048)
	for _, c := range []struct {
		pattern, s string
		path, want bool
	}{
		{"/**/a/**/a/**/a/**/b", long, true, false},
		{"/**/a/**/a/**/a/**/a", long, true, true},
		{"*a*a*a*a*a*a*b", strings.Repeat("a", 4096), false, false},
		{"*a*a*a*a*a*a*a", strings.Repeat("a", 4096), false, true},
		{"/*/*/*/*/*/*/x", long, true, false},
	} {
		g := MustGlob(c.pattern, c.path)
		if got := g.Match(c.s); got != c.want {
			t.Errorf("%q on %d bytes: %v, want %v", c.pattern, len(c.s), got, c.want)
		}
		if got := g.matchNFA(c.s); got != c.want {
			t.Errorf("%q on %d bytes (automaton): %v, want %v", c.pattern, len(c.s), got, c.want)
		}
	}
}

// The automaton agrees with the backtracking matcher wherever the latter
// finishes.
func FuzzGlobMatch(f *testing.F) {
	for _, c := range [][2]string{{"/var/lib/**/data", "/var/lib/a/b/data"}, {"a*b?c", "axxbyc"}, {"**/x", "x"}, {"/*/**/z", "/a/z"}} {
		f.Add(c[0], c[1], true)
		f.Add(c[0], c[1], false)
	}
	f.Fuzz(func(t *testing.T, pattern, s string, path bool) {
		g, err := CompileGlob(pattern, path)
		if err != nil || g.kind != globGeneral || len(pattern) > 40 || len(s) > 200 {
			return
		}
		budget := 1 << 22
		want, done := matchGlob(pattern, s, path, 0, &budget)
		if !done {
			return
		}
		if got := g.matchNFA(s); got != want {
			t.Fatalf("%q (path %v) on %q: automaton %v, backtracking %v", pattern, path, s, got, want)
		}
		if got := g.Match(s); got != want {
			t.Fatalf("%q (path %v) on %q: Match %v, backtracking %v", pattern, path, s, got, want)
		}
	})
}

func BenchmarkGlobPathological(b *testing.B) {
	g := MustGlob("/**/a/**/a/**/a/**/b", true)
	s := strings.Repeat("/a", 2048)
	for i := 0; i < b.N; i++ {
		g.Match(s)
	}
}
