package restarts

import (
	"errors"
	"testing"
)

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
