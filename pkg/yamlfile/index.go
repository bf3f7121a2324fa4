package yamlfile

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Lines maps field paths (spec.rules[0].name) to their lines.
type Lines map[string]int

// LineOf is the line of path or, when path is not in the document (a
// field left out), of its nearest parent; 0 when none is.
func (l Lines) LineOf(path string) int {
	for path != "" {
		if n, ok := l[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

// Index is every field path of a node tree in document order, each with
// its line (a mapping entry's is its key's), YAML tag and, for a scalar,
// value. Keys are joined with dots and list items numbered:
// spec.containers[0].resources.limits.cpu.
type Index struct {
	Lines
	tags   map[string]string
	values map[string]string
	paths  []string
}

// NewIndex indexes the tree below n; n itself has the empty path and is
// not listed. A nil n gives an empty index.
func NewIndex(n *yaml.Node) *Index {
	x := &Index{Lines: Lines{}, tags: map[string]string{}, values: map[string]string{}}
	if n != nil {
		x.walk(n, "")
	}
	return x
}

func (x *Index) walk(n *yaml.Node, path string) {
	if path != "" {
		x.Lines[path] = n.Line
		x.tags[path] = n.Tag
		x.paths = append(x.paths, path)
		if n.Kind == yaml.ScalarNode {
			x.values[path] = n.Value
		}
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			x.walk(v, p)
			x.Lines[p] = k.Line
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			x.walk(c, path+"["+strconv.Itoa(i)+"]")
		}
	}
}

// Paths lists the indexed paths in document order; a key written twice
// in one mapping is listed twice.
func (x *Index) Paths() []string { return x.paths }

// Tag is the YAML tag of the node at path (!!str, !!int, !!map, ...).
func (x *Index) Tag(path string) string { return x.tags[path] }

// Value is the text of the last scalar at path, "" when there is none.
func (x *Index) Value(path string) string { return x.values[path] }
