package quantity

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, ok := range []string{"128Mi", "1.5", "500m", "1e3", "1E30", "2e-30", "0"} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"9e-999999999", "1e31", "1e-31", "1e99999999999999999999", strings.Repeat("9", MaxLen+1), "12x"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if err := CheckSize("12x"); err != nil {
		t.Errorf("CheckSize bounds size only, refused %q: %v", "12x", err)
	}
}
