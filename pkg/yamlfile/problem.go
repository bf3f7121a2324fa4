package yamlfile

import (
	"strconv"
	"strings"
)

// Problem is one problem at one place in a file.
type Problem struct {
	Path   string // e.g. spec.rules[0].resources.memory.limit.max
	Line   int    // 0 when unknown
	Reason string
}

func (p Problem) Error() string {
	if p.Path == "" {
		return p.Reason
	}
	return p.Path + ": " + p.Reason
}

// Error lists every problem found in one file. Kind is what it wraps, the
// sentinel callers test with errors.Is (policy.ErrInvalid,
// podgen.ErrInvalidManifest).
type Error struct {
	File     string
	Problems []Problem
	Kind     error
}

func (e *Error) Error() string { return Format(e.File, e.Problems) }

func (e *Error) Unwrap() error { return e.Kind }

// Format prints problems one per line as file:line: path: reason.
func Format(file string, problems []Problem) string {
	var b strings.Builder
	for i, p := range problems {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(file)
		if p.Line > 0 {
			b.WriteString(":" + strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
		b.WriteString(p.Error())
	}
	return b.String()
}
