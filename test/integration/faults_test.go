package integration

import (
	"strconv"
	"sync"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

// TestChurnThroughRestartsAndDrops drives one container name through many
// attempts while specguard is killed and restarted and while the runtime
// drops every connection in the middle of a burst of requests. Restart
// counts must go up by one on every adjusted attempt: none lost, none
// repeated.
func TestChurnThroughRestartsAndDrops(t *testing.T) {
	r := newRuntime(t)
	p := r.startPlugin()
	pod := r.addPod("web-0", "shop", "uid-churn", nil)

	last := -1
	var prev *api.Container
	attempt := func() {
		c, adj, err := r.create(pod, "app", nil)
		if err != nil {
			t.Fatalf("after %d: %v", last, err)
		}
		v, ok := adj.GetAnnotations()["specguard.io/restart-count"]
		if !ok {
			t.Fatalf("after %d: a container created without specguard", last)
		}
		n, _ := strconv.Atoi(v)
		if n != last+1 {
			t.Fatalf("restart count %d after %d: lost or repeated", n, last)
		}
		last = n
		if prev != nil {
			r.remove(pod, prev) // the kubelet keeps the newest dead container
		}
		prev = c
	}
	for i := 0; i < 300; i++ {
		switch i {
		case 100:
			p.kill()
			p = r.startPlugin()
		case 200:
			// Drop every connection while other requests are in flight.
			other := r.addPod("noise", "shop", "uid-noise", nil)
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; j < 50; j++ {
					r.create(other, "noise-"+strconv.Itoa(j), nil) // errors are expected mid-drop
				}
			}()
			r.restart()
			wg.Wait()
			p.waitRegistered()
		}
		attempt()
	}
	if last != 299 {
		t.Fatalf("last count %d, want 299", last)
	}
}
