package podgen

import "testing"

func TestExpandVars(t *testing.T) {
	env := map[string]string{"A": "a", "B": "b", "EMPTY": "", "": "never"}
	lookup := func(n string) (string, bool) {
		if n == "" {
			return "", false
		}
		v, ok := env[n]
		return v, ok
	}
	cases := map[string]struct{ in, want string }{
		"plain":           {"hello", "hello"},
		"one":             {"$(A)", "a"},
		"two":             {"$(A)-$(B)", "a-b"},
		"empty value":     {"x$(EMPTY)y", "xy"},
		"missing kept":    {"$(NOPE)", "$(NOPE)"},
		"escaped":         {"$$(A)", "$(A)"},
		"double escaped":  {"$$$$", "$$"},
		"escape then var": {"$$$(A)", "$a"},
		"lone dollar":     {"cost $5", "cost $5"},
		"trailing dollar": {"end$", "end$"},
		"unterminated":    {"$(A", "$(A"},
		// The name runs to the first ")", as in the kubelet.
		"reference spans": {"x$(A y $(B)", "x$(A y $(B)"},
		"empty name":      {"$()", "$()"},
		"shell var":       {"$HOME", "$HOME"},
		"nested":          {"$($(A))", "$($(A))"},
		// The kubelet re-encodes the byte after "$" as a rune.
		"non-ascii": {"$é", "$\u00c3\xa9"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ExpandVars(tc.in, lookup); got != tc.want {
				t.Errorf("ExpandVars(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzExpandVars(f *testing.F) {
	for _, s := range []string{"$(A)", "$$", "$(", "a$b$(c)d", "$"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Must not panic; substituting nothing never grows text beyond the
		// non-ASCII re-encoding (at most one extra byte per "$").
		out := ExpandVars(s, func(string) (string, bool) { return "", false })
		if len(out) > 2*len(s) {
			t.Errorf("ExpandVars(%q) grew to %d bytes", s, len(out))
		}
	})
}
