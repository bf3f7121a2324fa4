// Package queue runs work a request handler hands off so as to reply
// first: the log lines and audit records of a decision.
package queue

import (
	"sync"
	"time"
)

// Queue runs functions in order on one goroutine, which stays for
// idleTimeout after the last one so that its stack, grown to the log
// formatter's depth, is reused. Past maxBacklog the caller runs the
// function itself, so a flood slows requests rather than growing memory.
// The zero value is ready to use.
type Queue struct {
	mu      sync.Mutex
	pending []func()
	running bool
	wake    chan struct{}
}

const (
	maxBacklog  = 1024
	idleTimeout = 30 * time.Second
)

// Add queues f, or runs it before returning when maxBacklog functions
// are already waiting.
func (q *Queue) Add(f func()) {
	q.mu.Lock()
	if len(q.pending) >= maxBacklog {
		q.mu.Unlock()
		f()
		return
	}
	q.pending = append(q.pending, f)
	if q.wake == nil {
		q.wake = make(chan struct{}, 1)
	}
	start, wake := !q.running, q.wake
	q.running = true
	q.mu.Unlock()
	if start {
		go q.drain(wake)
		return
	}
	select {
	case wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (q *Queue) drain(wake <-chan struct{}) {
	idle := time.NewTimer(idleTimeout)
	defer idle.Stop()
	for {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		for _, f := range batch {
			f()
		}
		if len(batch) > 0 {
			continue
		}
		idle.Reset(idleTimeout)
		select {
		case <-wake:
		case <-idle.C:
			q.mu.Lock()
			if len(q.pending) == 0 {
				q.running = false
				q.mu.Unlock()
				return
			}
			q.mu.Unlock()
		}
	}
}
