package policy

import (
	"fmt"
	"strings"
)

// Glob is a compiled wildcard pattern. In text mode `*` matches any run of
// characters; in path mode `*` stays within one path segment and `**`
// crosses segments. `?` matches one character (not `/` in path mode).
// Patterns without wildcards, and the common `prefix*` and `*suffix`
// shapes, match without backtracking.
type Glob struct {
	pattern string
	path    bool
	kind    globKind
	lit     string // literal, prefix or suffix
}

type globKind uint8

const (
	globLiteral globKind = iota
	globAny
	globPrefix
	globSuffix
	globGeneral
)

// CompileGlob checks and compiles a pattern. Character classes are refused
// rather than half-supported.
func CompileGlob(pattern string, path bool) (Glob, error) {
	g := Glob{pattern: pattern, path: path}
	if pattern == "" {
		return g, fmt.Errorf("empty pattern")
	}
	if i := strings.IndexAny(pattern, "[]\\"); i >= 0 {
		return g, fmt.Errorf("pattern %q: %q is not supported (use *, ** and ?)", pattern, pattern[i])
	}
	if path && strings.Contains(pattern, "***") {
		return g, fmt.Errorf("pattern %q: use ** to cross path segments", pattern)
	}
	wild := strings.Count(pattern, "*") + strings.Count(pattern, "?")
	switch {
	case wild == 0:
		g.kind, g.lit = globLiteral, pattern
	case pattern == "*" && !path, pattern == "**":
		g.kind = globAny
	case !path && wild == 1 && strings.HasSuffix(pattern, "*"):
		g.kind, g.lit = globPrefix, pattern[:len(pattern)-1]
	case !path && wild == 1 && strings.HasPrefix(pattern, "*"):
		g.kind, g.lit = globSuffix, pattern[1:]
	default:
		g.kind = globGeneral
	}
	return g, nil
}

// MustGlob compiles a pattern known to be valid; for built-in lists only.
func MustGlob(pattern string, path bool) Glob {
	g, err := CompileGlob(pattern, path)
	if err != nil {
		panic(err)
	}
	return g
}

func (g Glob) String() string { return g.pattern }

// Literal reports whether the pattern has no wildcards.
func (g Glob) Literal() (string, bool) { return g.lit, g.kind == globLiteral }

// Match reports whether s matches the pattern.
func (g Glob) Match(s string) bool {
	switch g.kind {
	case globLiteral:
		return s == g.lit
	case globAny:
		return true
	case globPrefix:
		return strings.HasPrefix(s, g.lit)
	case globSuffix:
		return strings.HasSuffix(s, g.lit)
	}
	return matchGlob(g.pattern, s, g.path, 0)
}

// matchGlob is a backtracking matcher; depth bounds the recursion that `*`
// can cause on hostile input.
func matchGlob(p, s string, path bool, depth int) bool {
	if depth > 64 {
		return false
	}
	for len(p) > 0 {
		switch p[0] {
		case '*':
			deep := !path || strings.HasPrefix(p, "**")
			if strings.HasPrefix(p, "**") {
				p = p[2:]
				// "**/" also matches zero segments.
				if strings.HasPrefix(p, "/") && matchGlob(p[1:], s, path, depth+1) {
					return true
				}
			} else {
				p = p[1:]
			}
			if p == "" {
				return deep || !strings.Contains(s, "/")
			}
			for i := 0; i <= len(s); i++ {
				if matchGlob(p, s[i:], path, depth+1) {
					return true
				}
				if i < len(s) && s[i] == '/' && !deep {
					return false
				}
			}
			return false
		case '?':
			if s == "" || (path && s[0] == '/') {
				return false
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == ""
}
