package queue

import (
	"testing"
	"time"
)

// Functions run in the order they were added, off the caller's goroutine.
func TestRunsInOrder(t *testing.T) {
	var q Queue
	var got []int
	done := make(chan struct{})
	const n = maxBacklog // all fit: none runs on the caller
	for i := range n {
		q.Add(func() {
			got = append(got, i)
			if i == n-1 {
				close(done)
			}
		})
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the queue did not run its functions")
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("function %d ran as number %d", v, i)
		}
	}
	if len(got) != n {
		t.Fatalf("%d functions ran, want %d", len(got), n)
	}
}

// Past maxBacklog waiting functions, Add runs the function itself: a
// flood slows the caller instead of growing the queue.
func TestFullQueueRunsOnTheCaller(t *testing.T) {
	var q Queue
	started, release := make(chan struct{}), make(chan struct{})
	q.Add(func() { close(started); <-release })
	<-started // the goroutine holds the first function; none wait
	done := make(chan struct{})
	for i := range maxBacklog {
		q.Add(func() {
			if i == maxBacklog-1 {
				close(done)
			}
		})
	}
	ran := false
	q.Add(func() { ran = true })
	if !ran {
		t.Error("Add queued a function past maxBacklog instead of running it")
	}
	// The backlog still runs.
	close(release)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the backlog did not run")
	}
}
