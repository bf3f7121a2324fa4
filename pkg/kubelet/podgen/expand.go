package podgen

import "strings"

// ExpandVars expands $(NAME) references in s the way the kubelet expands
// command, args and env values: $(NAME) becomes lookup's value when found
// and stays literally "$(NAME)" otherwise; "$$" is an escaped "$"; a "$"
// followed by anything else, or an unterminated "$(", is kept as written.
func ExpandVars(s string, lookup func(string) (string, bool)) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch next := s[i+1]; next {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				// Unterminated: keep "$(" and carry on after it.
				b.WriteString("$(")
				i++
				continue
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += 2 + end
		default:
			// The kubelet writes the byte after "$" as string(byte), which
			// re-encodes a non-ASCII lead byte as a Latin-1 rune; kept for
			// parity.
			b.WriteByte('$')
			b.WriteString(string(rune(next)))
			i++
		}
	}
	return b.String()
}
