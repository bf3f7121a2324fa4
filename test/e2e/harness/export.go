package harness

import (
	"syscall"
	"time"
)

// Daemon is a long-running process in its own session with its output
// appended to a log file, for harnesses built on this one (the Kubernetes
// node of test/cluster).
type Daemon struct{ d *daemon }

// StartDaemon starts argv with env, its output appended to logPath.
func StartDaemon(name string, argv, env []string, logPath string) (*Daemon, error) {
	d, err := startDaemon(name, argv, env, logPath)
	if err != nil {
		return nil, err
	}
	return &Daemon{d: d}, nil
}

func (d *Daemon) Pid() int           { return d.d.pid() }
func (d *Daemon) Exited() bool       { return d.d.exited() }
func (d *Daemon) ExitStatus() string { return d.d.exitStatus() }

// Stop sends sig, waits up to grace, then kills the process.
func (d *Daemon) Stop(sig syscall.Signal, grace time.Duration) error { return d.d.stop(sig, grace) }

// Done is closed once the process has exited and been reaped.
func (d *Daemon) Done() <-chan struct{} { return d.d.done }

// Alive reports whether pid still runs exe (a recycled pid never matches).
func Alive(pid int, exe string) bool { return alive(pid, exe) }

// Terminate ends pid if it still runs exe: sig, up to grace, then SIGKILL.
func Terminate(pid int, exe string, sig syscall.Signal, grace time.Duration) error {
	return terminate(pid, exe, sig, grace)
}

// UnmountAll unmounts everything at or below dirs, deepest first.
func UnmountAll(dirs ...string) error { return unmountAll(dirs...) }

// OwnerGone reports whether the process recorded as a state's owner has
// exited, so that what it started is stale.
func OwnerGone(pid int) bool { return pid != 0 && procState(pid) == "" }

// Env is the environment the stack's daemons run with.
func (s *Stack) Env() []string { return s.env() }

// SetImports replaces the extra containerd config files merged over the
// generated one and rewrites the config; it takes effect at the next
// (re)start of containerd.
func (s *Stack) SetImports(imports []string) error {
	s.imports = imports
	return s.writeConfigs()
}
