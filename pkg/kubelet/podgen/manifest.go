package podgen

import (
	"errors"
	"fmt"
	"regexp"
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
	top, bad := yamlfile.Parse(data)
	if bad != nil {
		return fail(*bad)
	}
	if top != nil && top.Kind != yamlv3.MappingNode {
		return fail(ManifestProblem{Line: top.Line, Reason: "want a Pod object (a mapping)"})
	}
	idx := yamlfile.NewIndex(top)
	// Quantities are bounded before the decoder parses them.
	for _, p := range idx.Paths() {
		if quantityPathRE.MatchString(p) {
			if err := quantity.CheckSize(idx.Value(p)); err != nil {
				return fail(ManifestProblem{Path: p, Line: idx.Lines[p], Reason: err.Error()})
			}
		}
	}
	// The Pod is decoded as sigs.k8s.io/yaml reads manifests, as YAML 1.1
	// ("yes" is a bool: TestDecodePodErrors), not from the YAML 1.2 tree.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return fail(ManifestProblem{Line: yamlfile.ErrorLine(err), Reason: strings.TrimPrefix(err.Error(), "error converting YAML to JSON: yaml: ")})
	}
	var pod v1.Pod
	strict, err := sjson.UnmarshalStrict(js, &pod)
	if err != nil {
		return fail(problem(idx, err))
	}
	if len(strict) > 0 {
		ps := make([]ManifestProblem, 0, len(strict))
		for _, se := range strict {
			ps = append(ps, problem(idx, se))
		}
		return fail(ps...)
	}
	var ps []ManifestProblem
	if pod.Kind != "" && pod.Kind != "Pod" {
		ps = append(ps, ManifestProblem{Path: "kind", Line: idx.Lines["kind"], Reason: fmt.Sprintf("want Pod, got %q", pod.Kind)})
	}
	if pod.APIVersion != "" && pod.APIVersion != "v1" {
		ps = append(ps, ManifestProblem{Path: "apiVersion", Line: idx.Lines["apiVersion"], Reason: fmt.Sprintf("want v1, got %q", pod.APIVersion)})
	}
	if pod.Name == "" {
		ps = append(ps, ManifestProblem{Path: "metadata.name", Line: idx.Lines["metadata"], Reason: "required"})
	}
	if len(pod.Spec.Containers) == 0 {
		ps = append(ps, ManifestProblem{Path: "spec.containers", Line: idx.LineOf("spec.containers"), Reason: "at least one container is required"})
	}
	if len(ps) > 0 {
		return fail(ps...)
	}
	return &pod, nil
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

// problem turns a decoding error into a problem located by the index.
func problem(x *yamlfile.Index, err error) ManifestProblem {
	msg := err.Error()
	if m := unknownFieldRE.FindStringSubmatch(msg); m != nil {
		return ManifestProblem{Path: m[1], Line: x.LineOf(m[1]), Reason: "unknown field"}
	}
	if m := duplicateRE.FindStringSubmatch(msg); m != nil {
		return ManifestProblem{Path: m[1], Line: x.LineOf(m[1]), Reason: "duplicate field"}
	}
	if m := typeErrRE.FindStringSubmatch(msg); m != nil {
		// The decoder names the path without list indices; find the first
		// place in the document with that shape and that kind of value.
		want, dotted := m[1], m[2]
		reason := fmt.Sprintf("want %s, got %s", m[3], want)
		first := ""
		for _, p := range x.Paths() {
			if indexRE.ReplaceAllString(p, "") != dotted {
				continue
			}
			if first == "" {
				first = p
			}
			for _, t := range jsonKindTags[want] {
				if x.Tag(p) == t {
					return ManifestProblem{Path: p, Line: x.Lines[p], Reason: reason}
				}
			}
		}
		if first == "" {
			first = dotted
		}
		return ManifestProblem{Path: first, Line: x.LineOf(first), Reason: reason}
	}
	if strings.HasPrefix(msg, "quantities must match") {
		for _, p := range x.Paths() {
			if !quantityPathRE.MatchString(p) {
				continue
			}
			if t := x.Tag(p); t == "!!str" || t == "!!int" || t == "!!float" {
				if _, err := quantity.Parse(x.Value(p)); err != nil {
					return ManifestProblem{Path: p, Line: x.Lines[p], Reason: "not a quantity: " + msg}
				}
			}
		}
	}
	return ManifestProblem{Reason: msg}
}
