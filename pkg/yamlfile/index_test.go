package yamlfile

import (
	"slices"
	"testing"
)

const pod = `metadata:
  name: a
  labels: {app: web}
spec:
  containers:
  - name: c
    args:
    - x
    - 2
`

func TestIndex(t *testing.T) {
	top, p := Parse([]byte(pod))
	if p != nil {
		t.Fatal(p)
	}
	x := NewIndex(top)
	type entry struct {
		line       int
		tag, value string
	}
	// A mapping entry is on its key's line (spec.containers: 5, although
	// its list starts on 6), a list item on its own.
	want := map[string]entry{
		"metadata":                   {1, "!!map", ""},
		"metadata.name":              {2, "!!str", "a"},
		"metadata.labels":            {3, "!!map", ""},
		"metadata.labels.app":        {3, "!!str", "web"},
		"spec":                       {4, "!!map", ""},
		"spec.containers":            {5, "!!seq", ""},
		"spec.containers[0]":         {6, "!!map", ""},
		"spec.containers[0].name":    {6, "!!str", "c"},
		"spec.containers[0].args":    {7, "!!seq", ""},
		"spec.containers[0].args[0]": {8, "!!str", "x"},
		"spec.containers[0].args[1]": {9, "!!int", "2"},
	}
	for path, w := range want {
		got := entry{x.Lines[path], x.Tag(path), x.Value(path)}
		if got != w {
			t.Errorf("%s: got %+v, want %+v", path, got, w)
		}
	}
	order := []string{"metadata", "metadata.name", "metadata.labels", "metadata.labels.app", "spec", "spec.containers",
		"spec.containers[0]", "spec.containers[0].name", "spec.containers[0].args", "spec.containers[0].args[0]", "spec.containers[0].args[1]"}
	if !slices.Equal(x.Paths(), order) {
		t.Errorf("Paths() = %q\nwant %q", x.Paths(), order)
	}
	if len(x.Lines) != len(want) {
		t.Errorf("%d lines, want %d: %v", len(x.Lines), len(want), x.Lines)
	}
}

func TestIndexEdges(t *testing.T) {
	if x := NewIndex(nil); len(x.Paths()) != 0 || len(x.Lines) != 0 {
		t.Errorf("NewIndex(nil) = %+v, want it empty", x)
	}
	top, _ := Parse([]byte("a: 1\nb: 2\na: 3\n"))
	x := NewIndex(top)
	if got, want := x.Paths(), []string{"a", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("duplicate key: Paths() = %q, want %q", got, want)
	}
	if x.Lines["a"] != 3 || x.Value("a") != "3" {
		t.Errorf("duplicate key: line %d value %q, want the last: 3, \"3\"", x.Lines["a"], x.Value("a"))
	}
}

func TestLineOf(t *testing.T) {
	top, _ := Parse([]byte(pod))
	x := NewIndex(top)
	cases := map[string]struct {
		path string
		want int
	}{
		"present":             {"metadata.name", 2},
		"missing field":       {"spec.containers[0].image", 6},
		"missing item":        {"spec.containers[3].name", 5},
		"missing under a map": {"metadata.labels.tier", 3},
		"no parent":           {"status.phase", 0},
		"empty":               {"", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := x.LineOf(tc.path); got != tc.want {
				t.Errorf("LineOf(%q) = %d, want %d", tc.path, got, tc.want)
			}
		})
	}
}
