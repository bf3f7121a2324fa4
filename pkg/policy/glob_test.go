package policy

import "testing"

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
