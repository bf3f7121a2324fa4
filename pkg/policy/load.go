package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"

	"github.com/specguard/specguard/pkg/quantity"
	"github.com/specguard/specguard/pkg/yamlfile"
)

// MaxDocumentSize bounds what Parse reads; a policy is a few kilobytes, a
// 10,000-rule policy a few megabytes.
const MaxDocumentSize = 16 << 20

// ErrInvalid is wrapped by every error that describes a bad policy.
var ErrInvalid = errors.New("invalid policy")

// FieldError is one problem at one place in the document.
type FieldError = yamlfile.Problem

// LoadError lists every problem found in one document; it wraps ErrInvalid.
type LoadError = yamlfile.Error

// Load reads and compiles the policy file at path.
func Load(path string) (*Policy, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	data, err := io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// openRegular opens a policy file, refusing anything but a regular file.
// It opens without blocking: opening a FIFO for reading waits for a
// writer, which hung `specguard validate` and wedged the reload watcher
// (no reload, SIGHUP or SIGTERM answered again) when a FIFO replaced the
// policy file.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	if m := st.Mode(); !m.IsRegular() {
		_ = f.Close()
		what := "is a special file"
		switch {
		case m.IsDir():
			what = "is a directory"
		case m&os.ModeNamedPipe != 0:
			what = "is a named pipe (FIFO)"
		case m&os.ModeSocket != 0:
			what = "is a socket"
		case m&os.ModeDevice != 0:
			what = "is a device"
		}
		return nil, &LoadError{File: path, Problems: []FieldError{{Reason: what + ", not a regular file"}}, Kind: ErrInvalid}
	}
	return f, nil
}

// Parse checks and compiles a policy document. name is used in messages.
// Every problem is reported, each with its field path and line.
func Parse(name string, data []byte) (*Policy, error) {
	fail := func(errs ...FieldError) (*Policy, error) {
		return nil, &LoadError{File: name, Problems: errs, Kind: ErrInvalid}
	}
	if len(data) > MaxDocumentSize {
		return fail(FieldError{Reason: fmt.Sprintf("document is larger than %d bytes", MaxDocumentSize)})
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return fail(FieldError{Reason: "document is empty"})
	}
	top, bad := yamlfile.Parse(data)
	if bad != nil {
		return fail(*bad)
	}
	lines := yamlfile.Lines{}
	var errs []FieldError
	if top != nil {
		walkNode(top, reflect.TypeOf(Document{}), "", lines, &errs)
	}
	if len(errs) > 0 {
		return fail(errs...)
	}

	// Decode through the YAML 1.2 tree, not YAML 1.1: "off" and "y" stay strings.
	var generic any
	if top != nil {
		if err := top.Decode(&generic); err != nil {
			return fail(FieldError{Reason: "not valid YAML: " + err.Error()})
		}
	}
	js, err := json.Marshal(generic)
	if err != nil {
		return fail(FieldError{Reason: "cannot convert document: " + err.Error()})
	}
	var doc Document
	if err := json.Unmarshal(js, &doc); err != nil {
		fe := FieldError{Reason: err.Error()}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			fe = FieldError{Path: te.Field, Reason: fmt.Sprintf("want %s, got %s", te.Type, te.Value)}
			fe.Line = lines[fe.Path]
		}
		return fail(fe)
	}
	p, ferrs := compile(&doc)
	if len(ferrs) > 0 {
		for i := range ferrs {
			ferrs[i].Line = lines.LineOf(ferrs[i].Path)
		}
		return fail(ferrs...)
	}
	p.Warnings = warnings(&doc)
	for i := range p.Warnings {
		p.Warnings[i].Line = lines.LineOf(p.Warnings[i].Path)
	}
	p.Source = name
	return p, nil
}

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
