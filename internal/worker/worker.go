// Package worker runs a request handler's job on another goroutine under
// a deadline, so that the handler can answer in time when the job does
// not: the decisions of the plugin's CreateContainer and
// ValidateContainerAdjustment.
package worker

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrDeadline is Run's error when the job is still running at its
// deadline.
var ErrDeadline = errors.New("deadline exceeded")

// PanicError is Run's error when the job panicked.
type PanicError struct {
	Value any // what the job panicked with
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Pool runs jobs of type J with results of type R on goroutines it keeps
// for the next job until they have been idle for its idle timeout: a
// fresh goroutine grows its stack again to the job's depth. Each worker
// has a scratch value of type S that its jobs reuse instead of
// allocating; it is zeroed after each job, so that an idle worker keeps
// nothing a job left in it alive. A worker still running a job past the
// deadline simply takes no new one until it is done.
type Pool[J, S, R any] struct {
	do    func(job J, scratch *S, result *R) error
	idle  time.Duration
	tasks chan task[J, R] // idle workers take jobs here
}

// New returns a pool whose workers run do and exit after idle without a
// job. What do has written to *result when it returns or panics is the
// job's result.
func New[J, S, R any](idle time.Duration, do func(job J, scratch *S, result *R) error) *Pool[J, S, R] {
	return &Pool[J, S, R]{do: do, idle: idle, tasks: make(chan task[J, R])}
}

type task[J, R any] struct {
	job   J
	reply chan<- outcome[R]
}

type outcome[R any] struct {
	result R
	err    error
}

// state is a worker's own: one allocation per worker, not per job.
type state[S, R any] struct {
	scratch S
	result  R
}

// Run runs job on an idle worker, or on a new one if none is idle, and
// waits for it until deadline has passed or ctx ends. It returns the
// job's result and error; ErrDeadline or ctx.Err() if it stopped waiting
// (the job runs on and its result is dropped); or what the job wrote to
// its result before it panicked, with a *PanicError.
func (p *Pool[J, S, R]) Run(ctx context.Context, deadline time.Duration, job J) (R, error) {
	reply := make(chan outcome[R], 1)
	t := task[J, R]{job: job, reply: reply}
	select {
	case p.tasks <- t:
	default:
		go p.serve(t)
	}
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	var zero R
	select {
	case o := <-reply:
		return o.result, o.err
	case <-timer.C:
		return zero, ErrDeadline
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

// serve runs tasks, t first, until it has been idle for p.idle.
func (p *Pool[J, S, R]) serve(t task[J, R]) {
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	w := new(state[S, R])
	for {
		t.reply <- p.run(t.job, w)
		idle.Reset(p.idle)
		select {
		case t = <-p.tasks:
		case <-idle.C:
			return
		}
	}
}

// run runs one job and leaves w zeroed. A panic is a bug in the job, but
// it must not take the caller's process down with it.
func (p *Pool[J, S, R]) run(job J, w *state[S, R]) (o outcome[R]) {
	defer func() {
		if v := recover(); v != nil {
			o.err = &PanicError{Value: v}
		}
		o.result = w.result
		*w = state[S, R]{}
	}()
	o.err = p.do(job, &w.scratch, &w.result)
	return o
}
