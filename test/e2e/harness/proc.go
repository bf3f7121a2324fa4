package harness

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemon is a long-running process the stack started, in its own session so
// that a terminal's Ctrl-C reaches only the process that drives the stack.
type daemon struct {
	name string
	exe  string
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited and been reaped
}

// startDaemon starts argv with its output appended to logPath.
func startDaemon(name string, argv []string, env []string, logPath string) (*daemon, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logf.Close() }() // the child has its own descriptor
	fmt.Fprintf(logf, "==== %s: starting %s\n", time.Now().Format(time.RFC3339Nano), strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	d := &daemon{name: name, exe: argv[0], cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(d.done)
	}()
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

func (d *daemon) exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// stop sends sig and waits up to grace for the process to exit, then kills it.
func (d *daemon) stop(sig syscall.Signal, grace time.Duration) error {
	if d.exited() {
		return nil
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
		return nil
	case <-time.After(grace):
	}
	_ = d.cmd.Process.Kill()
	select {
	case <-d.done:
		return fmt.Errorf("%s (pid %d) ignored %v for %v and was killed", d.name, d.pid(), sig, grace)
	case <-time.After(5 * time.Second):
		return fmt.Errorf("%s (pid %d) survived SIGKILL", d.name, d.pid())
	}
}

// exitStatus describes how the process ended, for error messages.
func (d *daemon) exitStatus() string {
	if !d.exited() {
		return "running"
	}
	return d.cmd.ProcessState.String()
}

// procExe returns the executable of a running process, without the
// " (deleted)" suffix the kernel adds when the file was replaced (a rebuilt
// binary); "" when there is no such process or it is a zombie.
func procExe(pid int) string {
	if pid <= 0 || procState(pid) == "Z" {
		return ""
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(exe, " (deleted)")
}

// procState returns the one-letter state of a process ("" when gone).
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// The command name is in parentheses and may contain spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return ""
	}
	return string(b[i+2])
}

// alive reports whether pid runs exe (compared by base name when exe is not
// absolute), so that a recycled pid is never mistaken for ours.
func alive(pid int, exe string) bool {
	got := procExe(pid)
	if got == "" {
		return false
	}
	if filepath.IsAbs(exe) {
		return sameFile(got, exe)
	}
	return filepath.Base(got) == exe
}

func sameFile(a, b string) bool {
	if a == b {
		return true
	}
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// terminate ends the process pid if it still runs exe: sig, up to grace to
// exit, then SIGKILL. It is a no-op for a process that is gone or recycled.
func terminate(pid int, exe string, sig syscall.Signal, grace time.Duration) error {
	if !alive(pid, exe) {
		return nil
	}
	_ = syscall.Kill(pid, sig)
	if waitGone(pid, grace) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if waitGone(pid, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("pid %d (%s) survived SIGKILL", pid, exe)
}

// waitGone polls until pid has exited (or is a zombie waiting for its parent).
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if s := procState(pid); s == "" || s == "Z" {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// readPidFile reads a decimal pid from a file; 0 when absent or malformed.
func readPidFile(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}

// mountsUnder returns the mount points at or below any of dirs, deepest first.
func mountsUnder(dirs ...string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var mounts []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountPath(fields[4])
		for _, d := range dirs {
			if d != "" && (mp == d || strings.HasPrefix(mp, strings.TrimSuffix(d, "/")+"/")) {
				mounts = append(mounts, mp)
				break
			}
		}
	}
	sort.SliceStable(mounts, func(i, j int) bool { return depth(mounts[i]) > depth(mounts[j]) })
	return mounts, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountAll unmounts everything at or below dirs, deepest first; a busy
// mount is detached lazily.
func unmountAll(dirs ...string) error {
	var errs []error
	// A mount can be stacked several times on one point: repeat until none is left.
	for range 5 {
		mounts, err := mountsUnder(dirs...)
		if err != nil {
			return err
		}
		if len(mounts) == 0 {
			return nil
		}
		errs = errs[:0]
		for _, mp := range mounts {
			if err := syscall.Unmount(mp, 0); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				if err2 := syscall.Unmount(mp, syscall.MNT_DETACH); err2 != nil && !errors.Is(err2, syscall.EINVAL) {
					errs = append(errs, fmt.Errorf("unmount %s: %w", mp, err2))
				}
			}
		}
	}
	return errors.Join(errs...)
}
