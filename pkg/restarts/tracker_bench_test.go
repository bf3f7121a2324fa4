package restarts

import (
	"fmt"
	"runtime"
	"testing"
)

// fleet returns n containers in n/4 pods with 64-hex-digit IDs, as
// containerd names them, each carrying a restart count.
func fleet(n int) ([]string, []Observed) {
	var uids []string
	var obs []Observed
	for i := 0; len(obs) < n; i++ {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		uids = append(uids, uid)
		for j := 0; j < 4 && len(obs) < n; j++ {
			obs = append(obs, Observed{ID: fmt.Sprintf("%064x", len(obs)), Key: Key{PodUID: uid, Container: fmt.Sprintf("c%d", j)}, Count: j})
		}
	}
	return uids, obs
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// BenchmarkResync10k rebuilds the tracker from a Synchronize of 10,000
// containers in 2,500 pods and reports the heap it then holds per tracked
// container (the IDs and UIDs themselves included).
func BenchmarkResync10k(b *testing.B) {
	uids, obs := fleet(10000)
	b.ReportAllocs()
	var tr *Tracker
	for i := 0; i < b.N; i++ {
		tr = NewTracker(nil)
		tr.Resync(uids, obs)
	}
	b.StopTimer()
	// The IDs and UIDs stay in the tracker once the sync message is gone:
	// they are measured as part of it.
	tr = nil // uids and obs are dead here already
	before := heapInUse()
	tr = NewTracker(nil)
	tr.Resync(fleet(10000))
	after := heapInUse()
	if tr.Live() != 10000 {
		b.Fatalf("live = %d", tr.Live())
	}
	b.ReportMetric(float64(after-before)/10000, "heap-B/container")
}

// BenchmarkRestart is one container restart as the plugin drives it by
// default: Assign and Commit at CreateContainer, Remove of the previous
// container, in a tracker of 10,000 containers.
func BenchmarkRestart(b *testing.B) {
	uids, obs := fleet(10000)
	tr := NewTracker(nil)
	tr.Resync(uids, obs)
	ids := make([]string, len(obs))
	for i := range obs {
		ids[i] = obs[i].ID
	}
	newIDs := make([]string, b.N)
	for i := range newIDs {
		newIDs[i] = fmt.Sprintf("%064x", 1<<40+i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % len(obs)
		key := obs[k].Key
		a := tr.Assign(key, 0, false, "")
		tr.Commit(newIDs[i], key, a.Count)
		tr.Remove(ids[k], key)
		ids[k] = newIDs[i]
	}
	b.StopTimer()
	if tr.Live() != 10000 {
		b.Fatalf("live = %d", tr.Live())
	}
}
