package policy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestRuntimeSuppliedPolicyIsNotReplacedByTheFile: once the runtime has
// supplied the policy, neither a SIGHUP nor a change to the --config file
// replaces it, and each attempt is reported, not silent. A bad supplied
// policy is reported and refused, keeping the one in force.
func TestRuntimeSuppliedPolicyIsNotReplacedByTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "policy.yaml")
	if err := os.WriteFile(path, []byte(goodPolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(path)
	if err != nil {
		t.Fatal(err)
	}
	s.Poll = 20 * time.Millisecond
	var mu sync.Mutex
	var reports []string
	s.OnReload = func(p *Policy, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			reports = append(reports, "error: "+err.Error())
		} else {
			reports = append(reports, "applied: "+p.Source)
		}
	}
	reported := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			for _, r := range reports {
				if strings.Contains(r, want) {
					mu.Unlock()
					return
				}
			}
			mu.Unlock()
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no report containing %q in %q", want, reports)
	}

	if _, err := s.Supply("<runtime>", []byte("not: [a policy")); err == nil {
		t.Fatal("a bad supplied policy was accepted")
	}
	if s.Current().Source != path {
		t.Fatalf("a bad supplied policy replaced the file's: %s", s.Current().Source)
	}
	reported("error: <runtime>")

	supplied := strings.Replace(goodPolicy, "good", "supplied", 1)
	p, err := s.Supply("<runtime>", []byte(supplied))
	if err != nil {
		t.Fatal(err)
	}
	if s.Current() != p || p.Rules[0].Name != "supplied" {
		t.Fatalf("the supplied policy is not in force: %+v", s.Current().Rules)
	}
	reported("applied: <runtime>")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go func() { done <- s.Watch(ctx, hup) }()

	hup <- syscall.SIGHUP
	reported(path + ": not applied: the policy in force is <runtime>, supplied by the runtime")
	// Written aside and renamed over, as a ConfigMap update is, so no
	// poll reads it half written.
	edited := path + ".new"
	if err := os.WriteFile(edited, []byte(strings.Replace(goodPolicy, "good", "edited", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(edited, path); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the debounce and several polls
	mu.Lock()
	n := 0
	for _, r := range reports {
		if strings.Contains(r, "not applied") {
			n++
		}
	}
	mu.Unlock()
	if n != 2 {
		t.Errorf("the SIGHUP and the edit gave %d 'not applied' reports, want 2 (one each, not one per poll): %q", n, reports)
	}
	if got := s.Current().Rules[0].Name; got != "supplied" {
		t.Errorf("the file replaced the runtime's policy: rule %q in force", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
