package restarts

import (
	"strings"
	"testing"

	"github.com/specguard/specguard/pkg/kubelet"
)

// FuzzRecovery: a tracker rebuilt from arbitrary existing containers (the
// annotations a restarted plugin finds) never panics, never assigns a
// negative count, and assigns each key more than any count it recovered.
func FuzzRecovery(f *testing.F) {
	f.Add("u1|app|3\nu1|app|1\nu2|db|x", "u1|app")
	f.Add("|||\n\x00|\xff|2147483647", "\x00|\xff")
	f.Add("u|c|-1\nu|c|99999999999", "u|c")
	f.Add("u|c||7\nu|c|x|2147483647\nu|c|3|9", "u|c")
	f.Fuzz(func(t *testing.T, existing, probe string) {
		tr := NewTracker(nil)
		recovered := map[Key]int{}
		var pods []string
		var obs []Observed
		for i, line := range strings.Split(existing, "\n") {
			parts := strings.SplitN(line, "|", 4)
			if len(parts) < 3 {
				continue
			}
			k := Key{PodUID: parts[0], Container: parts[1]}
			ann := map[string]string{"specguard.io/restart-count": parts[2]}
			if len(parts) == 4 { // the kubelet's annotation, the fallback
				ann[kubelet.ContainerRestartCountAnnotation] = parts[3]
			}
			n, ok := CountFromAnnotations(ann)
			if !ok {
				n = -1
			} else if old, seen := recovered[k]; !seen || n > old {
				recovered[k] = n
			}
			pods = append(pods, k.PodUID)
			obs = append(obs, Observed{ID: string(rune('a' + i%26)), Key: k, Count: n})
		}
		tr.Resync(pods, obs)
		keys := []Key{}
		for k := range recovered {
			keys = append(keys, k)
		}
		if parts := strings.SplitN(probe, "|", 2); len(parts) == 2 {
			keys = append(keys, Key{parts[0], parts[1]})
		}
		for _, k := range keys {
			a := tr.Assign(k, 0, false, "")
			if a.Count < 0 {
				t.Fatalf("negative count %d for %v", a.Count, k)
			}
			if n, ok := recovered[k]; ok && a.Count <= n {
				t.Fatalf("%v: assigned %d, recovered %d", k, a.Count, n)
			}
		}
	})
}
