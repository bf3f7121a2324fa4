package policy

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"
)

// MaxRenderedSize bounds one rendered value: labels and annotations are
// untrusted and a template may repeat them.
const MaxRenderedSize = 16 << 10

// TemplateData is what env and annotation templates see.
type TemplateData struct {
	Pod          PodData
	Container    ContainerData
	RestartCount int
	LogPath      string
	QOSClass     string
	Node         NodeData
}

type PodData struct {
	Name, Namespace, UID string
	Labels, Annotations  map[string]string
}

type ContainerData struct{ Name, Image string }

type NodeData struct{ Name string }

// Template is a named value that is either a literal or a parsed template.
type Template struct {
	Name string
	// Field is the field the template sets as traces name it
	// (env[NAME], annotations[KEY]); made once, not per request.
	Field   string
	literal string
	tmpl    *template.Template
	// parts, when set, render the template without text/template: the
	// common shape (text and plain field references such as
	// {{ .Pod.Labels.team }}) costs a few string copies instead of a
	// reflective walk per request. Anything else goes through tmpl.
	parts []templatePart
}

// templatePart is literal text or one field of TemplateData.
type templatePart struct {
	text  string
	field func(*TemplateData) string
}

// IsLiteral reports whether the value has no template actions.
func (t *Template) IsLiteral() bool { return t.tmpl == nil }

func compileTemplate(name, text string) (Template, error) {
	if strings.ContainsRune(text, 0) {
		return Template{}, errors.New("value contains a NUL byte")
	}
	if !strings.Contains(text, "{{") {
		return Template{Name: name, literal: text}, nil
	}
	tm, err := template.New(name).Option("missingkey=zero").Parse(text)
	if err != nil {
		return Template{}, fmt.Errorf("bad template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	t := Template{Name: name, tmpl: tm, parts: fastParts(tm.Tree)}
	// A dry run over empty data catches references to fields that do not exist.
	if _, err := t.Render(&TemplateData{}); err != nil {
		return Template{}, err
	}
	return t, nil
}

// Render executes the template. Output beyond MaxRenderedSize is an error.
func (t *Template) Render(d *TemplateData) (string, error) {
	if t.tmpl == nil {
		return t.literal, nil
	}
	if t.parts != nil {
		return t.renderParts(d)
	}
	w := limitedWriter{max: MaxRenderedSize}
	if err := t.tmpl.Execute(&w, d); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("template %s: rendered value exceeds %d bytes", t.Name, MaxRenderedSize)
		}
		return "", fmt.Errorf("bad template: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	// slice and printf can cut a multi-byte character; an env value or
	// annotation must be valid UTF-8 to go back over NRI.
	if !utf8.ValidString(w.b.String()) {
		return "", fmt.Errorf("template %s: rendered value is not valid UTF-8", t.Name)
	}
	return w.b.String(), nil
}

var errTooLong = errors.New("rendered value too long")

type limitedWriter struct {
	b   strings.Builder
	max int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.max {
		return 0, errTooLong
	}
	return w.b.Write(p)
}

func (t *Template) renderParts(d *TemplateData) (string, error) {
	var vals [8]string
	n := 0
	for i, p := range t.parts {
		v := p.text
		if p.field != nil {
			v = p.field(d)
		}
		vals[i] = v
		n += len(v)
	}
	if n > MaxRenderedSize {
		return "", fmt.Errorf("template %s: rendered value exceeds %d bytes", t.Name, MaxRenderedSize)
	}
	if len(t.parts) == 1 {
		return vals[0], nil
	}
	var b strings.Builder
	b.Grow(n)
	for _, v := range vals[:len(t.parts)] {
		b.WriteString(v)
	}
	return b.String(), nil
}

// fastParts returns the template as parts when every node is text or a
// plain field reference that renders exactly as text/template would
// (missing map keys render as "" under missingkey=zero); nil otherwise.
func fastParts(tree *parse.Tree) []templatePart {
	if tree == nil || tree.Root == nil || len(tree.Root.Nodes) > 8 {
		return nil
	}
	var parts []templatePart
	for _, n := range tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			parts = append(parts, templatePart{text: string(n.Text)})
		case *parse.ActionNode:
			p := n.Pipe
			if p == nil || len(p.Decl) > 0 || p.IsAssign || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
				return nil
			}
			f, ok := p.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok {
				return nil
			}
			get := fieldOf(f.Ident)
			if get == nil {
				return nil
			}
			parts = append(parts, templatePart{field: get})
		default:
			return nil
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return parts
}

// fieldOf returns the accessor for a TemplateData field path, or nil for
// a path text/template must handle (or refuse).
func fieldOf(path []string) func(*TemplateData) string {
	key := strings.Join(path, ".")
	switch key {
	case "Pod.Name":
		return func(d *TemplateData) string { return d.Pod.Name }
	case "Pod.Namespace":
		return func(d *TemplateData) string { return d.Pod.Namespace }
	case "Pod.UID":
		return func(d *TemplateData) string { return d.Pod.UID }
	case "Container.Name":
		return func(d *TemplateData) string { return d.Container.Name }
	case "Container.Image":
		return func(d *TemplateData) string { return d.Container.Image }
	case "RestartCount":
		return func(d *TemplateData) string { return strconv.Itoa(d.RestartCount) }
	case "LogPath":
		return func(d *TemplateData) string { return d.LogPath }
	case "QOSClass":
		return func(d *TemplateData) string { return d.QOSClass }
	case "Node.Name":
		return func(d *TemplateData) string { return d.Node.Name }
	}
	if len(path) == 3 && path[0] == "Pod" {
		k := path[2]
		switch path[1] {
		case "Labels":
			return func(d *TemplateData) string { return d.Pod.Labels[k] }
		case "Annotations":
			return func(d *TemplateData) string { return d.Pod.Annotations[k] }
		}
	}
	return nil
}
