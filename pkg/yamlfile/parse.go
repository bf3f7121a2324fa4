package yamlfile

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Parse reads the first YAML document in data as YAML 1.2 ("off" and "y"
// stay strings). It returns the document's top node, nil when the
// document holds no node (only comments), or the syntax error with its
// line.
func Parse(data []byte) (*yaml.Node, *Problem) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &Problem{Line: ErrorLine(err), Reason: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(root.Content) != 1 {
		return nil, nil
	}
	return root.Content[0], nil
}

// ErrorLine is the line a YAML error message names ("yaml: line 3: ..."),
// 0 when it names none. It reads the message, not a type, so it also
// serves errors that only pass a YAML library's message on, such as
// sigs.k8s.io/yaml's.
func ErrorLine(err error) int {
	s := err.Error()
	i := strings.Index(s, "line ")
	if i < 0 {
		return 0
	}
	s = s[i+5:]
	j := 0
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	n, _ := strconv.Atoi(s[:j])
	return n
}
