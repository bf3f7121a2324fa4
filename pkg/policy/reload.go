package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Store holds the current policy and is its only writer: it reloads the
// policy from its file, and takes the one the runtime supplies (Supply).
// A policy that fails to load never replaces the last good one; every
// change, applied or refused, is reported through OnReload.
type Store struct {
	path string
	cur  atomic.Pointer[Policy]

	mu       sync.Mutex // serializes writers
	hash     [32]byte
	supplied string // the source of a runtime-supplied policy; "" if none

	// OnReload is called after each reload attempt that found a changed
	// file: with the new policy, or with the error that kept the old one.
	OnReload func(p *Policy, err error)
	// Poll is how often the file is re-read in case a change notification
	// was missed (network filesystems, odd editors). Zero means 5s.
	Poll time.Duration
}

// NewStore loads the policy at path; it fails if the policy is invalid.
func NewStore(path string) (*Store, error) {
	s := &Store{path: path}
	data, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	s.cur.Store(p)
	s.hash = sha256.Sum256(data)
	return s, nil
}

// NewStaticStore holds a fixed policy (the built-in default).
func NewStaticStore(p *Policy) *Store {
	s := &Store{}
	s.cur.Store(p)
	return s
}

// Path is the file the policy comes from, "" for a static store.
func (s *Store) Path() string { return s.path }

// Current returns the policy in force.
func (s *Store) Current() *Policy { return s.cur.Load() }

// Supply makes a policy the runtime handed over (NRI Configure) the
// current one, reported through OnReload like a reload. A policy that
// does not parse is reported and refused, and the current one stays.
// From then on the store's file no longer replaces it: a change to the
// file, or a SIGHUP, is reported as not applied, so the runtime's policy
// cannot be replaced behind its back.
func (s *Store) Supply(source string, data []byte) (*Policy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := Parse(source, data)
	if err != nil {
		s.report(nil, err)
		return nil, err
	}
	s.supplied = source
	s.cur.Store(p)
	s.report(p, nil)
	return p, nil
}

func readPolicyFile(path string) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }() // read only
	return io.ReadAll(io.LimitReader(f, MaxDocumentSize+1))
}

// Reload re-reads the file. It returns changed=false when the content is
// what is already loaded.
func (s *Store) Reload() (changed bool, err error) {
	if s.path == "" {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := readPolicyFile(s.path)
	if err != nil {
		s.report(nil, err)
		return true, err
	}
	h := sha256.Sum256(data)
	if bytes.Equal(h[:], s.hash[:]) {
		return false, nil
	}
	if s.supplied != "" {
		s.hash = h
		err := fmt.Errorf("%s: not applied: the policy in force is %s, supplied by the runtime, and only the runtime replaces it", s.path, s.supplied)
		s.report(nil, err)
		return true, err
	}
	p, err := Parse(s.path, data)
	if err != nil {
		// Remember the bad content so it is reported once, not every poll.
		s.hash = h
		s.report(nil, err)
		return true, err
	}
	s.hash = h
	s.cur.Store(p)
	s.report(p, nil)
	return true, nil
}

func (s *Store) report(p *Policy, err error) {
	if s.OnReload != nil {
		s.OnReload(p, err)
	}
}

// Watch reloads on changes to the file (watching its directory, so
// ConfigMap symlink swaps and atomic renames are seen), on every value
// from hup (SIGHUP), and on a slow poll. It returns when ctx is done.
func (s *Store) Watch(ctx context.Context, hup <-chan os.Signal) error {
	if s.path == "" {
		<-ctx.Done()
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer func() { _ = w.Close() }()
	if err := w.Add(filepath.Dir(s.path)); err != nil {
		return err
	}
	poll := s.Poll
	if poll <= 0 {
		poll = 5 * time.Second
	}
	ticker := time.NewTicker(poll)
	defer ticker.Stop()
	// Editors and kubelet write in several steps; wait for quiet.
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			s.forceReload()
		case <-ticker.C:
			_, _ = s.Reload() // reported through OnReload
		case _, ok := <-w.Events:
			if !ok {
				return nil
			}
			debounce = time.After(200 * time.Millisecond)
		case <-debounce:
			debounce = nil
			_, _ = s.Reload() // reported through OnReload
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			s.report(nil, err)
		}
	}
}

// forceReload reloads even if the content did not change, so SIGHUP
// always gives an answer in the log.
func (s *Store) forceReload() {
	s.mu.Lock()
	s.hash = [32]byte{}
	s.mu.Unlock()
	_, _ = s.Reload() // reported through OnReload
}
