package policy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"syscall"

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
