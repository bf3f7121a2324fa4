package policy

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
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
	Name    string
	literal string
	tmpl    *template.Template
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
	t := Template{Name: name, tmpl: tm}
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
	w := limitedWriter{max: MaxRenderedSize}
	if err := t.tmpl.Execute(&w, d); err != nil {
		if errors.Is(err, errTooLong) {
			return "", fmt.Errorf("template %s: rendered value exceeds %d bytes", t.Name, MaxRenderedSize)
		}
		return "", fmt.Errorf("bad template: %s", strings.TrimPrefix(err.Error(), "template: "))
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
