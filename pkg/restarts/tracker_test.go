package restarts

import (
	"errors"
	"testing"
)

// TestCommitSequence: the default path, a count committed when specguard
// lets the creation through.
func TestCommitSequence(t *testing.T) {
	tr := NewTracker(nil)
	k := Key{PodUID: "u1", Container: "app"}
	for want := 0; want < 3; want++ {
		a := tr.Assign(k, 0, false, "")
		if a.Count != want {
			t.Fatalf("assign %d: got %d (%s)", want, a.Count, a.Source)
		}
		tr.Commit("c"+string(rune('0'+want)), k, a.Count)
	}
	if got := tr.Live(); got != 3 {
		t.Fatalf("live = %d, want 3", got)
	}
	if n, ok := tr.Newest(k); !ok || n != 2 {
		t.Fatalf("newest = %d, %v; want 2", n, ok)
	}
}

// TestUndo: containerd undoing a creation that failed after specguard's
// answer gives its count back, but only while that creation is the newest
// committed one and has not been seen to exist.
func TestUndo(t *testing.T) {
	k := Key{PodUID: "u1", Container: "app"}
	for name, tc := range map[string]struct {
		script func(tr *Tracker) // after c0 (0) and c1 (1) were committed
		next   int               // the count the next creation gets
		live   int
	}{
		"the newest creation failed": {func(tr *Tracker) { tr.Undo("c1", k) }, 1, 1},
		"undone twice":               {func(tr *Tracker) { tr.Undo("c1", k); tr.Undo("c1", k) }, 1, 1},
		"the retry fails too": {func(tr *Tracker) {
			tr.Undo("c1", k)
			tr.Commit("c1b", k, tr.Assign(k, 0, false, "").Count)
			tr.Undo("c1b", k)
		}, 1, 1},
		"an older creation is undone": {func(tr *Tracker) { tr.Undo("c0", k) }, 2, 1},
		"a container never committed": {func(tr *Tracker) { tr.Undo("zz", k) }, 2, 2},
		"another name in the pod": {func(tr *Tracker) {
			tr.Undo("c1", Key{PodUID: "u1", Container: "sidecar"})
		}, 2, 1},
		"removed normally first": {func(tr *Tracker) { tr.Remove("c1", k); tr.Undo("c1", k) }, 2, 1},
		"seen at Synchronize first": {func(tr *Tracker) {
			tr.Resync([]string{"u1"}, []Observed{{ID: "c0", Key: k, Count: 0}, {ID: "c1", Key: k, Count: 1}})
			tr.Undo("c1", k)
		}, 2, 1},
		// A creation missing at Synchronize failed or came and went while
		// specguard was away: its count stays used (a gap, never a repeat).
		"missing at Synchronize": {func(tr *Tracker) {
			tr.Resync([]string{"u1"}, []Observed{{ID: "c0", Key: k, Count: 0}})
			tr.Undo("c1", k)
		}, 2, 1},
		"confirmed first (exact mode)": {func(tr *Tracker) {
			a := tr.Assign(k, 0, false, "")
			tr.Confirm("c2", k)
			tr.Undo("c2", k)
			if a.Count != 2 {
				t.Errorf("assigned %d, want 2", a.Count)
			}
		}, 3, 2},
	} {
		t.Run(name, func(t *testing.T) {
			tr := NewTracker(nil)
			for i, id := range []string{"c0", "c1"} {
				if a := tr.Assign(k, 0, false, ""); a.Count != i {
					t.Fatalf("%s: assigned %d", id, a.Count)
				}
				tr.Commit(id, k, i)
			}
			tc.script(tr)
			if a := tr.Assign(k, 0, false, ""); a.Count != tc.next {
				t.Errorf("next count %d (%s), want %d", a.Count, a.Source, tc.next)
			}
			if got := tr.Live(); got != tc.live {
				t.Errorf("live = %d, want %d", got, tc.live)
			}
		})
	}
}

// TestUndoRestoresWhatNewestWas: an undone commit restores newest exactly,
// whether the count came from the kubelet (above or below the tracked one)
// or from the log directory, which is then read again.
func TestUndoRestoresWhatNewestWas(t *testing.T) {
	k := Key{PodUID: "u1", Container: "app"}
	tr := NewTracker(nil)
	tr.Commit("c9", k, tr.Assign(k, 9, true, "").Count)
	tr.Commit("c3", k, tr.Assign(k, 3, true, "").Count) // the kubelet below the tracked count
	tr.Undo("c3", k)
	if n, _ := tr.Newest(k); n != 9 {
		t.Fatalf("after undoing a lower kubelet count: newest %d, want 9", n)
	}
	tr.Commit("c20", k, tr.Assign(k, 20, true, "").Count)
	tr.Undo("c20", k)
	if a := tr.Assign(k, 0, false, ""); a.Count != 10 {
		t.Fatalf("after undoing a kubelet jump: next %d, want 10", a.Count)
	}

	reads := 0
	tr = NewTracker(func(string, string) (int, error) { reads++; return 4, nil })
	a := tr.Assign(k, 0, false, "/logs/ns_pod_u1")
	tr.Commit("c4", k, a.Count)
	tr.Undo("c4", k)
	if a := tr.Assign(k, 0, false, "/logs/ns_pod_u1"); a.Count != 4 || a.Source != SourceLogDir || reads != 2 {
		t.Fatalf("after undoing the first creation: %+v, %d log-dir reads; want 4 from the log dir, read again", a, reads)
	}
}

func TestAssignSequence(t *testing.T) {
	tr := NewTracker(nil)
	k := Key{PodUID: "u1", Container: "app"}
	for want := 0; want < 3; want++ {
		a := tr.Assign(k, 0, false, "")
		if a.Count != want {
			t.Fatalf("assign %d: got %d (%s)", want, a.Count, a.Source)
		}
		tr.Confirm("c"+string(rune('0'+want)), k)
	}
	if got := tr.Live(); got != 3 {
		t.Fatalf("live = %d, want 3", got)
	}
}

func TestRefusedCreateIsRetriedWithSameCount(t *testing.T) {
	tr := NewTracker(nil)
	k := Key{PodUID: "u1", Container: "app"}
	tr.Assign(k, 0, false, "")
	tr.Confirm("c0", k)
	if a := tr.Assign(k, 0, false, ""); a.Count != 1 {
		t.Fatalf("got %d, want 1", a.Count)
	}
	// not confirmed: the create was refused; the retry gets 1 again
	if a := tr.Assign(k, 0, false, ""); a.Count != 1 || a.Source != SourceTracked {
		t.Fatalf("retry got %d (%s), want 1 tracked", a.Count, a.Source)
	}
}

func TestKubeletWinsAndDrift(t *testing.T) {
	tr := NewTracker(nil)
	k := Key{PodUID: "u1", Container: "app"}
	a := tr.Assign(k, 5, true, "")
	if a.Count != 5 || a.Source != SourceKubelet || a.Drift {
		t.Fatalf("first: %+v", a)
	}
	tr.Confirm("c5", k)
	a = tr.Assign(k, 6, true, "")
	if a.Drift || a.Tracked != 6 {
		t.Fatalf("agreeing kubelet reported drift: %+v", a)
	}
	a = tr.Assign(k, 9, true, "")
	if !a.Drift || a.Count != 9 || a.Tracked != 6 {
		t.Fatalf("differing kubelet: %+v", a)
	}
}

func TestLogDirFallback(t *testing.T) {
	calls := 0
	tr := NewTracker(func(dir, name string) (int, error) {
		calls++
		if dir != "/logs/ns_pod_u1" || name != "app" {
			t.Errorf("unexpected dir %q name %q", dir, name)
		}
		return 4, nil
	})
	k := Key{PodUID: "u1", Container: "app"}
	if a := tr.Assign(k, 0, false, "/logs/ns_pod_u1"); a.Count != 4 || a.Source != SourceLogDir {
		t.Fatalf("got %+v", a)
	}
	tr.Confirm("c4", k)
	if a := tr.Assign(k, 0, false, "/logs/ns_pod_u1"); a.Count != 5 || a.Source != SourceTracked {
		t.Fatalf("after confirm: %+v", a)
	}
	if calls != 1 {
		t.Fatalf("log dir read %d times, want 1", calls)
	}
	errTr := NewTracker(func(string, string) (int, error) { return 7, errors.New("boom") })
	if a := errTr.Assign(k, 0, false, "/x"); a.Count != 0 || a.Source != SourceNone {
		t.Fatalf("error fallback: %+v", a)
	}
}

// Issue 17: a container name that is not one path component does not send
// the fallback to read a directory outside the pod's log directory.
func TestLogDirFallbackConfined(t *testing.T) {
	tr := NewTracker(func(dir, name string) (int, error) {
		t.Errorf("log dir read for %q in %q", name, dir)
		return 9, nil
	})
	for _, name := range []string{"../../../../etc/cron.d/x", "..", ".", "a/b", ""} {
		if a := tr.Assign(Key{PodUID: "u1", Container: name}, 0, false, "/logs/ns_pod_u1"); a.Count != 0 || a.Source != SourceNone {
			t.Errorf("%q: got %+v, want 0 from nothing", name, a)
		}
	}
}

func TestRecoveryAfterRestart(t *testing.T) {
	// A new tracker (plugin restarted) sees the newest dead container only,
	// as the kubelet keeps it, carrying specguard's annotation.
	tr := NewTracker(nil)
	k := Key{PodUID: "u1", Container: "app"}
	n, ok := CountFromAnnotations(map[string]string{"specguard.io/restart-count": "3"})
	if !ok || n != 3 {
		t.Fatalf("CountFromAnnotations = %d, %v", n, ok)
	}
	tr.Resync([]string{"u1"}, []Observed{{ID: "c3", Key: k, Count: n}})
	if a := tr.Assign(k, 0, false, ""); a.Count != 4 {
		t.Fatalf("got %d, want 4", a.Count)
	}
}

func TestResyncDropsGonePodsAndKeepsCounts(t *testing.T) {
	tr := NewTracker(nil)
	a, b := Key{"u1", "app"}, Key{"u2", "app"}
	tr.Assign(a, 0, false, "")
	tr.Confirm("a0", a)
	tr.Assign(b, 0, false, "")
	tr.Confirm("b0", b)
	tr.Remove("a0", a)
	tr.Resync([]string{"u1"}, nil)
	if tr.Pods() != 1 || tr.Live() != 0 {
		t.Fatalf("pods=%d live=%d", tr.Pods(), tr.Live())
	}
	if got := tr.Assign(a, 0, false, ""); got.Count != 1 {
		t.Fatalf("u1 count lost: %+v", got)
	}
	if got := tr.Assign(b, 0, false, ""); got.Count != 0 {
		t.Fatalf("gone pod u2 not dropped: %+v", got)
	}
}

func TestForgetPodAndRemove(t *testing.T) {
	tr := NewTracker(nil)
	k := Key{"u1", "app"}
	tr.Assign(k, 0, false, "")
	tr.Confirm("c0", k)
	tr.Remove("c0", k)
	tr.Remove("c0", k) // twice is harmless
	if tr.Live() != 0 {
		t.Fatalf("live = %d", tr.Live())
	}
	if a := tr.Assign(k, 0, false, ""); a.Count != 1 {
		t.Fatalf("removal lost the count: %+v", a)
	}
	tr.ForgetPod("u1")
	if a := tr.Assign(k, 0, false, ""); a.Count != 0 {
		t.Fatalf("forgotten pod kept its count: %+v", a)
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]int{"0": 0, "12": 12, "2147483647": 2147483647} {
		if n, ok := KubeletCount(map[string]string{"io.kubernetes.container.restartCount": in}); !ok || n != want {
			t.Errorf("%q: %d %v", in, n, ok)
		}
	}
	for _, in := range []string{"", "-1", "2147483648", "1e3", " 1", "99999999999999999999", "1\x00"} {
		if _, ok := KubeletCount(map[string]string{"io.kubernetes.container.restartCount": in}); ok {
			t.Errorf("%q accepted", in)
		}
	}
}
