package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/specguard/specguard/pkg/quantity"
	"github.com/specguard/specguard/pkg/yamlfile"
)

var valueType = reflect.TypeOf(Value(""))

// deviceSpecType is written as a bare path or as a mapping.
var deviceSpecType = reflect.TypeOf(Device{})

// walkNode checks the YAML tree against the Go type: unknown and duplicate
// fields and wrong shapes, all of them with their lines. It also records
// the line of every path for later messages.
func walkNode(n *yaml.Node, t reflect.Type, path string, lines yamlfile.Lines, errs *[]FieldError) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		*errs = append(*errs, FieldError{Path: path, Line: n.Line, Reason: "YAML aliases are not allowed"})
		return
	}
	if path != "" {
		lines[path] = n.Line
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	bad := func(want string) {
		*errs = append(*errs, FieldError{Path: path, Line: n.Line, Reason: fmt.Sprintf("want %s, got %s", want, describe(n))})
	}
	switch {
	case t == valueType:
		if n.Kind != yaml.ScalarNode {
			bad("a number or quantity")
		} else if isInteger(n.Value) {
			if _, err := strconv.ParseInt(n.Value, 10, 64); err != nil {
				bad("an integer in range")
			}
		} else if err := quantity.CheckSize(n.Value); err != nil {
			// Checked on the text: as a YAML float it would become 0.
			*errs = append(*errs, FieldError{Path: path, Line: n.Line, Reason: truncate(err.Error(), 80)})
		}
	case t == deviceSpecType && n.Kind != yaml.MappingNode:
		// A bare path, or the mapping checked below.
		if n.Kind != yaml.ScalarNode || n.Tag != "!!str" {
			bad("a device path or a mapping")
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		fields := jsonFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Reason: "duplicate field"})
				continue
			}
			seen[k.Value] = true
			ft, ok := fields[k.Value]
			if !ok {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Reason: "unknown field" + suggest(k.Value, fields)})
				continue
			}
			walkNode(v, ft, p, lines, errs)
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			bad("a mapping")
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := path + "[" + strconv.Quote(k.Value) + "]"
			if seen[k.Value] {
				*errs = append(*errs, FieldError{Path: p, Line: k.Line, Reason: "duplicate key"})
				continue
			}
			seen[k.Value] = true
			walkNode(v, t.Elem(), p, lines, errs)
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			bad("a list")
			return
		}
		for i, v := range n.Content {
			walkNode(v, t.Elem(), path+"["+strconv.Itoa(i)+"]", lines, errs)
		}
	default:
		if n.Kind != yaml.ScalarNode {
			bad("a " + t.Kind().String())
			return
		}
		switch t.Kind() {
		case reflect.Bool:
			if n.Tag != "!!bool" {
				bad("true or false")
			}
		case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint64, reflect.Uint32:
			if isInteger(n.Value) && n.Tag != "!!int" {
				// YAML reads integers beyond 64 bits as floats.
				bad("an integer in range")
			} else if n.Tag != "!!int" {
				bad("an integer")
			} else if _, err := strconv.ParseInt(n.Value, 0, 64); err != nil && t.Kind() != reflect.Uint64 {
				bad("an integer in range")
			} else if _, err := strconv.ParseUint(n.Value, 0, 64); err != nil && t.Kind() == reflect.Uint64 {
				bad("a non-negative integer in range")
			}
		case reflect.String:
			if n.Tag != "!!str" {
				bad("a string (quote it)")
			}
		}
	}
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return strconv.Quote(truncate(n.Value, 40))
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

func jsonFields(t reflect.Type) map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		m[name] = f.Type
	}
	return m
}

// suggest names a known field that differs only in case, a common slip.
func suggest(k string, fields map[string]reflect.Type) string {
	for name := range fields {
		if strings.EqualFold(name, k) {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

// isInteger reports whether s is written as a decimal integer.
func isInteger(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
