package podgen

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	v1 "k8s.io/api/core/v1"
	sjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/quantity"
	"github.com/specguard/specguard/pkg/yamlfile"
)

// MaxManifestSize bounds what DecodePod accepts; a pod is a few kilobytes.
const MaxManifestSize = 4 << 20

// ErrInvalidManifest is wrapped by every *ManifestError.
var ErrInvalidManifest = errors.New("invalid pod manifest")

// ManifestProblem is one problem at one place in a manifest.
type ManifestProblem = yamlfile.Problem

// ManifestError lists the problems found in one manifest, each printed as
// file:line: path: reason; it wraps ErrInvalidManifest.
type ManifestError = yamlfile.Error

// DecodePod reads a Pod manifest (YAML or JSON) strictly, as kubectl
// --validate=strict would: unknown and duplicate fields are errors, each
// named by field path and line. file is used in messages.
func DecodePod(file string, data []byte) (*v1.Pod, error) {
	fail := func(ps ...ManifestProblem) (*v1.Pod, error) {
		return nil, &ManifestError{File: file, Problems: ps, Kind: ErrInvalidManifest}
	}
	if len(data) > MaxManifestSize {
		return fail(ManifestProblem{Reason: fmt.Sprintf("larger than %d bytes", MaxManifestSize)})
	}
	if strings.TrimSpace(string(data)) == "" {
		return fail(ManifestProblem{Reason: "empty document"})
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(data, &root); err != nil {
		return fail(ManifestProblem{Line: yamlLine(err), Reason: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")})
	}
	idx := &lineIndex{lines: map[string]int{}, tags: map[string]string{}, vals: map[string]string{}}
	if len(root.Content) == 1 {
		if root.Content[0].Kind != yamlv3.MappingNode {
			return fail(ManifestProblem{Line: root.Content[0].Line, Reason: "want a Pod object (a mapping)"})
		}
		idx.walk(root.Content[0], "")
	}
	// Quantities are bounded before the decoder parses them.
	for _, p := range idx.order {
		if quantityPathRE.MatchString(p) {
			if err := quantity.CheckSize(idx.vals[p]); err != nil {
				return fail(ManifestProblem{Path: p, Line: idx.lines[p], Reason: err.Error()})
			}
		}
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fail(ManifestProblem{Line: yamlLine(err), Reason: strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: ")})
	}
	var pod v1.Pod
	strict, err := sjson.UnmarshalStrict(js, &pod)
	if err != nil {
		return fail(idx.problem(err))
	}
	if len(strict) > 0 {
		ps := make([]ManifestProblem, 0, len(strict))
		for _, se := range strict {
			ps = append(ps, idx.problem(se))
		}
		return fail(ps...)
	}
	var ps []ManifestProblem
	if pod.Kind != "" && pod.Kind != "Pod" {
		ps = append(ps, ManifestProblem{Path: "kind", Line: idx.lines["kind"], Reason: fmt.Sprintf("want Pod, got %q", pod.Kind)})
	}
	if pod.APIVersion != "" && pod.APIVersion != "v1" {
		ps = append(ps, ManifestProblem{Path: "apiVersion", Line: idx.lines["apiVersion"], Reason: fmt.Sprintf("want v1, got %q", pod.APIVersion)})
	}
	if pod.Name == "" {
		ps = append(ps, ManifestProblem{Path: "metadata.name", Line: idx.lines["metadata"], Reason: "required"})
	}
	if len(pod.Spec.Containers) == 0 {
		ps = append(ps, ManifestProblem{Path: "spec.containers", Line: idx.lineOf("spec.containers"), Reason: "at least one container is required"})
	}
	if len(ps) > 0 {
		return fail(ps...)
	}
	return &pod, nil
}

// lineIndex maps field paths (spec.containers[0].name) to lines and YAML tags.
type lineIndex struct {
	lines map[string]int
	tags  map[string]string
	vals  map[string]string // scalar values
	order []string
}

func (x *lineIndex) walk(n *yamlv3.Node, path string) {
	if path != "" {
		x.lines[path] = n.Line
		x.tags[path] = n.Tag
		x.order = append(x.order, path)
		if n.Kind == yamlv3.ScalarNode {
			x.vals[path] = n.Value
		}
	}
	switch n.Kind {
	case yamlv3.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			x.lines[p] = k.Line
			x.walk(v, p)
			x.lines[p] = k.Line
		}
	case yamlv3.SequenceNode:
		for i, c := range n.Content {
			x.walk(c, path+"["+strconv.Itoa(i)+"]")
		}
	}
}

// lineOf finds the line of path or of its nearest parent.
func (x *lineIndex) lineOf(path string) int {
	for path != "" {
		if l, ok := x.lines[path]; ok {
			return l
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	return 0
}

var (
	unknownFieldRE = regexp.MustCompile(`^unknown field "(.*)"$`)
	duplicateRE    = regexp.MustCompile(`^duplicate field "(.*)"$`)
	typeErrRE      = regexp.MustCompile(`^json: cannot unmarshal (\w+) into Go struct field \w+\.(\S+) of type (\S+)$`)
	indexRE        = regexp.MustCompile(`\[\d+\]`)
	quantityPathRE = regexp.MustCompile(`(\.(requests|limits)|^spec\.overhead)\.[^.\[]+$|\.divisor$|\.sizeLimit$`)
)

var jsonKindTags = map[string][]string{
	"string": {"!!str"},
	"bool":   {"!!bool"},
	"number": {"!!int", "!!float"},
	"object": {"!!map"},
	"array":  {"!!seq"},
}

// problem turns a decoding error into a located problem.
func (x *lineIndex) problem(err error) ManifestProblem {
	msg := err.Error()
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return ManifestProblem{Path: m[1], Line: x.lineOf(m[1]), Reason: "unknown field"}
	}
	if m := duplicateRE.FindStringSubmatch(msg); m != nil {
		return ManifestProblem{Path: m[1], Line: x.lineOf(m[1]), Reason: "duplicate field"}
	}
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		// The decoder names the path without list indices; find the first
		// place in the document with that shape and that kind of value.
		want, dotted := m[1], m[2]
		reason := fmt.Sprintf("want %s, got %s", m[3], want)
		first := ""
		for _, p := range x.order {
			if indexRE.ReplaceAllString(p, "") != dotted {
				continue
			}
			if first == "" {
				first = p
			}
			for _, t := range jsonKindTags[want] {
				if x.tags[p] == t {
					return ManifestProblem{Path: p, Line: x.lines[p], Reason: reason}
				}
			}
		}
		if first == "" {
			first = dotted
		}
		return ManifestProblem{Path: first, Line: x.lineOf(first), Reason: reason}
	}
	if strings.HasPrefix(msg, "quantities must match") {
		for _, p := range x.order {
			if !quantityPathRE.MatchString(p) {
				continue
			}
			if x.tags[p] == "!!str" || x.tags[p] == "!!int" || x.tags[p] == "!!float" {
				if _, err := quantity.Parse(x.vals[p]); err != nil {
					return ManifestProblem{Path: p, Line: x.lines[p], Reason: "not a quantity: " + msg}
				}
			}
		}
	}
	return ManifestProblem{Reason: msg}
}

func yamlLine(err error) int {
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
