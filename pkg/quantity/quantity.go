// Package quantity parses Kubernetes quantities (resource.Quantity) from
// untrusted text within bounds: resource.ParseQuantity's time grows with
// the length of the number and steeply with a negative decimal exponent
// ("9e-999999999" takes hours), and no value a pod, a policy or a node
// needs has either. Pod annotations, policy files and Pod manifests all go
// through it before resource.ParseQuantity sees them.
package quantity

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
)

const (
	// MaxLen bounds a quantity's text.
	MaxLen = 64
	// MaxExponent bounds the magnitude of a decimal exponent (1e30).
	MaxExponent = 30
)

// CheckSize refuses quantities too long or with too large an exponent to
// be worth parsing.
func CheckSize(s string) error {
	if len(s) > MaxLen {
		return fmt.Errorf("a quantity of %d characters is longer than %d", len(s), MaxLen)
	}
	if i := strings.LastIndexAny(s, "eE"); i >= 0 {
		exp, err := strconv.Atoi(s[i+1:])
		if errors.Is(err, strconv.ErrRange) || (err == nil && (exp > MaxExponent || exp < -MaxExponent)) {
			return fmt.Errorf("%q has an exponent beyond ±%d", s, MaxExponent)
		}
	}
	return nil
}

// Parse is resource.ParseQuantity for untrusted text: CheckSize first.
func Parse(s string) (resource.Quantity, error) {
	if err := CheckSize(s); err != nil {
		return resource.Quantity{}, err
	}
	return resource.ParseQuantity(s)
}
