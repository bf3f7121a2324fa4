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
	lit     string    // literal, prefix or suffix
	toks    []globTok // the general case, for matchNFA
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
		g.kind, g.toks = globGeneral, globTokens(pattern, path)
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
	// Backtracking is fastest for the patterns people write, but a pattern
	// with several stars costs it O(n^stars) on a long subject: a pod's
	// label or hostPath source could stall the decision. Past a budget of
	// O(n*m) steps it gives up, and the automaton answers in O(n*m).
	budget := 4 * (len(s) + 1) * (len(g.pattern) + 1)
	if ok, done := matchGlob(g.pattern, s, g.path, 0, &budget); done {
		return ok
	}
	return g.matchNFA(s)
}

// matchGlob is a backtracking matcher. It returns done = false when it ran
// out of budget (one unit per step) or recursion depth, having decided
// nothing.
func matchGlob(p, s string, path bool, depth int, budget *int) (ok, done bool) {
	if depth > 64 {
		return false, false
	}
	for len(p) > 0 {
		if *budget--; *budget < 0 {
			return false, false
		}
		switch p[0] {
		case '*':
			deep := !path || strings.HasPrefix(p, "**")
			if strings.HasPrefix(p, "**") {
				p = p[2:]
				// "**/" also matches zero segments.
				if strings.HasPrefix(p, "/") {
					if ok, done := matchGlob(p[1:], s, path, depth+1, budget); ok || !done {
						return ok, done
					}
				}
			} else {
				p = p[1:]
			}
			if p == "" {
				return deep || !strings.Contains(s, "/"), true
			}
			for i := 0; i <= len(s); i++ {
				if ok, done := matchGlob(p, s[i:], path, depth+1, budget); ok || !done {
					return ok, done
				}
				if i < len(s) && s[i] == '/' && !deep {
					return false, true
				}
			}
			return false, true
		case '?':
			if s == "" || (path && s[0] == '/') {
				return false, true
			}
			p, s = p[1:], s[1:]
		default:
			if s == "" || p[0] != s[0] {
				return false, true
			}
			p, s = p[1:], s[1:]
		}
	}
	return s == "", true
}

// globTok is one step of a general pattern for matchNFA.
type globTok struct {
	kind tokKind
	c    byte // tokByte
}

type tokKind uint8

const (
	tokByte         tokKind = iota // one given byte
	tokOne                         // `?` in path mode: one byte, not `/`
	tokOneAny                      // `?` in text mode: one byte
	tokSegment                     // `*` in path mode: any bytes but `/` (zero or more)
	tokAll                         // `*` in text mode, `**`: any bytes (zero or more)
	tokZeroSegments                // reads nothing; before the tokAll and `/` of a `**/`, which may match nothing at all
)

func globTokens(p string, path bool) []globTok {
	var toks []globTok
	for len(p) > 0 {
		switch {
		case strings.HasPrefix(p, "**/"):
			toks = append(toks, globTok{kind: tokZeroSegments}, globTok{kind: tokAll}, globTok{kind: tokByte, c: '/'})
			p = p[3:]
		case strings.HasPrefix(p, "**"):
			toks, p = append(toks, globTok{kind: tokAll}), p[2:]
		case p[0] == '*' && path:
			toks, p = append(toks, globTok{kind: tokSegment}), p[1:]
		case p[0] == '*':
			toks, p = append(toks, globTok{kind: tokAll}), p[1:]
		case p[0] == '?' && path:
			toks, p = append(toks, globTok{kind: tokOne}), p[1:]
		case p[0] == '?':
			toks, p = append(toks, globTok{kind: tokOneAny}), p[1:]
		default:
			toks, p = append(toks, globTok{kind: tokByte, c: p[0]}), p[1:]
		}
	}
	return toks
}

// matchNFA runs the pattern as a nondeterministic automaton over s, one
// state per token, all live states at once: O(len(s) * tokens) whatever
// the pattern.
func (g *Glob) matchNFA(s string) bool {
	m := len(g.toks)
	var buf [2 * 64]bool
	var cur, next []bool
	if m+1 <= 64 {
		cur, next = buf[:m+1], buf[64:64+m+1]
	} else {
		cur, next = make([]bool, m+1), make([]bool, m+1)
	}
	cur[0] = true
	g.skipEmpty(cur)
	for i := 0; i < len(s); i++ {
		b := s[i]
		clear(next)
		live := false
		for j, t := range g.toks {
			if !cur[j] {
				continue
			}
			switch t.kind {
			case tokByte:
				next[j+1] = next[j+1] || b == t.c
			case tokOne:
				next[j+1] = next[j+1] || b != '/'
			case tokOneAny:
				next[j+1] = true
			case tokSegment:
				next[j] = next[j] || b != '/'
			case tokAll:
				next[j] = true
			}
			live = true
		}
		if !live {
			return false
		}
		g.skipEmpty(next)
		cur, next = next, cur
	}
	return cur[m]
}

// skipEmpty adds the states reached without reading a byte: past a star
// matching nothing, and past a whole `**/` matching no segment.
func (g *Glob) skipEmpty(st []bool) {
	for j, t := range g.toks {
		if !st[j] {
			continue
		}
		switch t.kind {
		case tokSegment, tokAll:
			st[j+1] = true
		case tokZeroSegments:
			st[j+1], st[j+3] = true, true
		}
	}
}
