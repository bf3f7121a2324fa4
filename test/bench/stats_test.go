package bench

import (
	"slices"
	"testing"
	"time"
)

// samples are per-operation durations; benchmarks report their quantiles
// because a mean hides the tail that containerd's serialized NRI requests
// make every container on the node wait for.
type samples []time.Duration

// quantile returns the nearest-rank q-quantile (0 < q <= 1).
func (s samples) quantile(q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	sorted := slices.Clone(s)
	slices.Sort(sorted)
	i := int(q*float64(len(sorted))+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s samples) p50() time.Duration { return s.quantile(0.50) }
func (s samples) p99() time.Duration { return s.quantile(0.99) }

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// reportQuantiles reports the median and p99 of s in microseconds as
// <prefix>p50-us and <prefix>p99-us.
func reportQuantiles(b *testing.B, prefix string, s samples) {
	b.ReportMetric(us(s.p50()), prefix+"p50-us")
	b.ReportMetric(us(s.p99()), prefix+"p99-us")
}

func TestQuantile(t *testing.T) {
	var s samples
	for i := 100; i >= 1; i-- {
		s = append(s, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0.001: 1} {
		if got := s.quantile(q); got != want {
			t.Errorf("quantile(%v) = %v, want %v", q, got, want)
		}
	}
	if (samples{}).p99() != 0 {
		t.Error("empty samples")
	}
}

var (
	nowFn   = time.Now
	sinceFn = time.Since
)
