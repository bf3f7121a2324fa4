package yamlfile

import (
	"errors"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestParse(t *testing.T) {
	cases := map[string]struct {
		doc  string
		kind yaml.Kind // of the top node; 0 for none
		line int       // of the top node or the problem
		want string    // the problem, "" for none
	}{
		"mapping":              {doc: "a: 1\n", kind: yaml.MappingNode, line: 1},
		"list after a comment": {doc: "# c\n- 1\n", kind: yaml.SequenceNode, line: 2},
		"first document only":  {doc: "a: 1\n---\n- 2\n", kind: yaml.MappingNode, line: 1},
		"only comments":        {doc: "# nothing\n"},
		"unclosed list":        {doc: "a: [1, 2\n", line: 1, want: "not valid YAML: line 1: did not find expected ',' or ']'"},
		"bad indentation":      {doc: "a:\n  b: 1\n c: 2\n", line: 2, want: "not valid YAML: line 2: did not find expected key"},
		"tab":                  {doc: "a: 1\n\tb: 2\n", line: 2, want: "not valid YAML: line 2: found a tab character that violates indentation"},
		"unclosed quote":       {doc: "a: 'x\n", line: 2, want: "not valid YAML: line 2: found unexpected end of stream"},
		"list then mapping":    {doc: "- a\nb: 1\n", line: 1, want: "not valid YAML: line 1: did not find expected '-' indicator"},
		"no line named":        {doc: "key: value: other\n", want: "not valid YAML: mapping values are not allowed in this context"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			n, p := Parse([]byte(tc.doc))
			if tc.want != "" {
				if n != nil || p == nil || p.Reason != tc.want || p.Line != tc.line || p.Path != "" {
					t.Fatalf("Parse = %v, %+v; want the problem %q at line %d", n, p, tc.want, tc.line)
				}
				return
			}
			if p != nil {
				t.Fatalf("Parse: %+v", p)
			}
			if tc.kind == 0 {
				if n != nil {
					t.Fatalf("Parse = a node of kind %v, want none", n.Kind)
				}
				return
			}
			if n == nil || n.Kind != tc.kind || n.Line != tc.line {
				t.Fatalf("Parse = %+v, want a node of kind %v at line %d", n, tc.kind, tc.line)
			}
		})
	}
}

func TestErrorLine(t *testing.T) {
	cases := map[string]struct {
		msg  string
		want int
	}{
		"yaml.v3":          {"yaml: line 3: did not find expected key", 3},
		"sigs.k8s.io/yaml": {"error converting YAML to JSON: yaml: line 12: found character that cannot start any token", 12},
		"no line":          {"yaml: mapping values are not allowed in this context", 0},
		"no number":        {"yaml: line ", 0},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := ErrorLine(errors.New(tc.msg)); got != tc.want {
				t.Errorf("ErrorLine(%q) = %d, want %d", tc.msg, got, tc.want)
			}
		})
	}
}
