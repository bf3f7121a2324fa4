package worker

import (
	"context"
	"errors"
	"testing"
	"time"
)

// echo returns its job, and its job as an error if it is "refuse".
func echo(job string, _ *int, r *string) error {
	*r = job
	if job == "refuse" {
		return errors.New(job)
	}
	return nil
}

// Run returns what the job wrote to its result and the job's own error.
func TestRunReturnsTheJobsResult(t *testing.T) {
	p := New(time.Minute, echo)
	r, err := p.Run(context.Background(), time.Minute, "allow")
	if r != "allow" || err != nil {
		t.Errorf("Run = %q, %v; want allow, nil", r, err)
	}
	r, err = p.Run(context.Background(), time.Minute, "refuse")
	if r != "refuse" || err == nil || err.Error() != "refuse" {
		t.Errorf("Run = %q, %v; want refuse, the job's error", r, err)
	}
}

// At the deadline Run returns ErrDeadline; the job runs on, and its result
// goes nowhere: the worker, idle again, answers the next job with that
// job's own.
func TestDeadline(t *testing.T) {
	release, finished := make(chan struct{}), make(chan struct{})
	p := New(time.Minute, func(job string, s *int, r *string) error {
		if job == "stuck" {
			<-release
			*r = "late"
			close(finished)
			return nil
		}
		return echo(job, s, r)
	})
	start := time.Now()
	r, err := p.Run(context.Background(), 50*time.Millisecond, "stuck")
	if !errors.Is(err, ErrDeadline) || r != "" {
		t.Fatalf("Run = %q, %v; want no result and ErrDeadline", r, err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Run returned after %s with a 50ms deadline", took)
	}
	close(release)
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("the job did not run on past its deadline")
	}
	for range 10 {
		if r, err := p.Run(context.Background(), time.Minute, "next"); r != "next" || err != nil {
			t.Fatalf("Run after a missed deadline = %q, %v; want next, nil", r, err)
		}
	}
}

// When ctx ends first Run returns its error, whatever the deadline.
func TestContextEnds(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	p := New(time.Minute, func(string, *int, *string) error {
		close(started)
		<-release
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-started
		cancel()
	}()
	if _, err := p.Run(ctx, time.Hour, "stuck"); !errors.Is(err, context.Canceled) {
		t.Errorf("Run = %v; want context.Canceled", err)
	}
}

// A panic is a *PanicError, with what the job wrote before it; the worker
// survives it, its scratch zeroed, and takes the next job.
func TestPanic(t *testing.T) {
	p := New(time.Minute, func(job string, s *int, r *string) error {
		if *s != 0 {
			return errors.New("the scratch is not zeroed")
		}
		*s = 1
		*r = "before the panic"
		if job == "panic" {
			panic("boom")
		}
		return nil
	})
	r, err := p.Run(context.Background(), time.Minute, "panic")
	var panicked *PanicError
	if !errors.As(err, &panicked) || panicked.Value != "boom" || err.Error() != "panic: boom" {
		t.Fatalf("Run = %v; want a *PanicError of boom", err)
	}
	if r != "before the panic" {
		t.Errorf("result = %q; want what the job wrote before the panic", r)
	}
	for range 10 {
		if _, err := p.Run(context.Background(), time.Minute, "next"); err != nil {
			t.Fatalf("after a panic: %v", err)
		}
	}
}

// scratchOf returns the job's scratch, which it finds zeroed, and dirties.
func scratchOf(_ string, s *int, r **int) error {
	if *s != 0 {
		return errors.New("the scratch is not zeroed")
	}
	*s = 1
	*r = s
	return nil
}

// An idle worker takes the next job: the same scratch comes back. (A job
// that arrives before the last worker is ready for it starts another one;
// the test keeps every scratch it saw, so none can be a new worker's.)
func TestIdleWorkerIsReused(t *testing.T) {
	p := New(time.Minute, scratchOf)
	seen := map[*int]bool{}
	for range 100 {
		s, err := p.Run(context.Background(), time.Minute, "job")
		if err != nil {
			t.Fatal(err)
		}
		if seen[s] {
			return
		}
		seen[s] = true
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("100 jobs ran on %d workers; want one reused", len(seen))
}

// A worker idle for the pool's idle timeout exits: the next job runs on a
// new one, with a new scratch.
func TestIdleTimeoutEndsTheWorker(t *testing.T) {
	const idle = time.Millisecond
	p := New(idle, scratchOf)
	first, err := p.Run(context.Background(), time.Minute, "job")
	if err != nil {
		t.Fatal(err)
	}
	for start := time.Now(); time.Since(start) < 10*time.Second; {
		time.Sleep(20 * idle)
		s, err := p.Run(context.Background(), time.Minute, "job")
		if err != nil {
			t.Fatal(err)
		}
		if s != first {
			return
		}
		// The worker was reused; it waits its idle timeout again.
	}
	t.Fatal("the worker was still there after 10s of jobs 20ms apart with an idle timeout of 1ms")
}
