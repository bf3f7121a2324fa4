package policy

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/specguard/specguard/pkg/quantity"
)

// Override annotations are pod annotations, in the spirit of NRI's
// <key>.noderesource.dev/container.<name>:
//
//	memory.limit.specguard.io/container.app: 512Mi   (one container)
//	memory.limit.specguard.io/pod: 512Mi             (every container)
//
// The key's first part is the field without "resources.", lower-cased
// (cpu.shares, cpu.quota, cpu.period, memory.limit, memory.reservation,
// memory.swap, pids.limit, oomscoreadj). The container form wins.
const overrideDomain = ".specguard.io/"

var overridePodKeys, overrideContainerPrefixes [NumFields]string

func init() {
	for f := Field(0); f < NumFields; f++ {
		base := strings.ToLower(strings.TrimPrefix(f.String(), "resources.")) + overrideDomain
		overridePodKeys[f] = base + "pod"
		overrideContainerPrefixes[f] = base + "container."
	}
}

// OverrideKeys returns the pod-wide annotation key for f and the prefix of
// its per-container key (the container name follows it).
func OverrideKeys(f Field) (podKey, containerPrefix string) {
	return overridePodKeys[f], overrideContainerPrefixes[f]
}

// maxOverrideLen bounds the untrusted value before it is parsed.
const maxOverrideLen = 32

// ErrBadOverride is wrapped by every reason an override value is refused.
var ErrBadOverride = errors.New("bad override value")

// ParseFieldValue parses an untrusted value for f: a whole number or a
// quantity within the field's absolute range.
func ParseFieldValue(f Field, s string) (int64, error) {
	if len(s) == 0 || len(s) > maxOverrideLen {
		return 0, fmt.Errorf("%w: length %d is not within 1..%d", ErrBadOverride, len(s), maxOverrideLen)
	}
	if err := quantity.CheckSize(s); err != nil {
		return 0, fmt.Errorf("%w: %v", ErrBadOverride, err)
	}
	q, err := resource.ParseQuantity(s) // bounded just above
	if err != nil {
		return 0, fmt.Errorf("%w: %q is not a number or quantity", ErrBadOverride, s)
	}
	n, ok := q.AsInt64()
	if !ok {
		return 0, fmt.Errorf("%w: %q is not a whole number", ErrBadOverride, s)
	}
	spec := fieldSpecs[f]
	if n < spec.min || n > spec.max {
		return 0, fmt.Errorf("%w: %s is out of range [%d, %d]", ErrBadOverride, s, spec.min, spec.max)
	}
	return n, nil
}

// IsMemoryField reports whether f is measured in bytes.
func IsMemoryField(f Field) bool {
	return f == MemoryLimit || f == MemoryReservation || f == MemorySwap
}

// UnlimitedWhenUnset reports whether an unset f means "no limit", so that
// a max applies to it.
func UnlimitedWhenUnset(f Field) bool {
	return f == MemoryLimit || f == CPUQuota || f == PidsLimit
}

// Unlimited reports whether v, set for f, means "no limit" to the runtime,
// so that a max applies to it as to an unset value: runc leaves a memory
// limit, CPU quota, pids limit or memory.swap of 0 unset (for swap on
// cgroup v2 that is memory.swap.max left at "max") and takes -1 as
// unlimited. Numerically such values are within any max; an override
// annotation of "0" must not lift a limit.
func Unlimited(f Field, v int64) bool {
	switch f {
	case MemoryLimit, CPUQuota, PidsLimit, MemorySwap:
		return v <= 0
	}
	return false
}
