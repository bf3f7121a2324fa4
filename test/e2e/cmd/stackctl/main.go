// Command stackctl runs the e2e harness's private containerd stack by hand:
// `stackctl demo` starts it in the background with specguard and a sample pod
// and shows what specguard changed (make demo); `stackctl down` stops and
// removes it, and any stack a killed e2e run left behind (make demo-down,
// hack/e2e-cleanup).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: stackctl demo [--dir DIR] [--policy FILE] | stackctl down [DIR...]")
		return 2
	}
	root, err := harness.RepoRoot()
	if err != nil {
		fmt.Fprintln(stderr, "stackctl:", err)
		return 1
	}
	switch args[0] {
	case "demo":
		fs := flag.NewFlagSet("stackctl demo", flag.ContinueOnError)
		fs.SetOutput(stderr)
		dir := fs.String("dir", filepath.Join(root, "_output", "demo"), "directory of the demo stack")
		policy := fs.String("policy", filepath.Join(root, "test", "e2e", "testdata", "demo-policy.yaml"), "policy for specguard")
		if err := fs.Parse(args[1:]); err != nil {
			return 2
		}
		if err := demo(root, *dir, *policy, stdout); err != nil {
			fmt.Fprintln(stderr, "demo:", err)
			return 1
		}
		return 0
	case "down":
		dirs := args[1:]
		if len(dirs) == 0 {
			dirs = []string{filepath.Join(root, "_output", "demo")}
		}
		if err := down(dirs, stdout); err != nil {
			fmt.Fprintln(stderr, "down:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "stackctl: unknown command %q\n", args[0])
		return 2
	}
}

func down(dirs []string, w io.Writer) error {
	logf := func(f string, a ...any) { fmt.Fprintf(w, f+"\n", a...) }
	var errs []error
	for _, dir := range dirs {
		if _, err := harness.LoadState(dir); errors.Is(err, os.ErrNotExist) {
			logf("nothing running in %s", dir)
			continue
		}
		errs = append(errs, harness.Cleanup(dir, logf))
	}
	errs = append(errs, harness.SweepStale(logf))
	return errors.Join(errs...)
}

func demo(root, dir, policyFile string, w io.Writer) error {
	if err := harness.CheckHost(); err != nil {
		return err
	}
	step := newStepper(w)
	if _, err := harness.LoadState(dir); err == nil {
		step.begin("stopping the previous demo in " + dir)
		if err := harness.Cleanup(dir, nil); err != nil {
			return err
		}
		step.end()
	}

	step.begin("starting a private containerd (state in " + dir + ")")
	s, err := harness.Start(harness.Options{
		Tools:        harness.DefaultTools(root),
		Dir:          dir,
		CgroupParent: "/specguard-demo",
	})
	if err != nil {
		return err
	}
	step.end()
	ok := false
	defer func() {
		if !ok {
			fmt.Fprintf(w, "\nthe demo failed; logs: %s, %s\n", s.ContainerdLog(), s.SpecguardLog())
			fmt.Fprintln(w, "stop what is left with: make demo-down")
		}
	}()

	// The policy's log paths must match where this containerd writes logs.
	policy, err := os.ReadFile(policyFile)
	if err != nil {
		return err
	}
	effective := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(effective, withPodLogsDir(policy, s.PodLogsDir()), 0o644); err != nil {
		return err
	}
	step.begin("starting specguard on " + rel(root, policyFile))
	if err := s.StartPlugin(effective); err != nil {
		return err
	}
	if err := s.WaitPluginReady(15 * time.Second); err != nil {
		return err
	}
	step.end()

	step.begin("creating pod demo/shop and container web")
	pod := s.PodConfig(harness.Pod{Name: "shop", Namespace: "demo", Labels: map[string]string{"team": "blue"}})
	podID, err := s.RunPod(pod)
	if err != nil {
		return err
	}
	want := harness.Container{Name: "web", Env: map[string]string{"GREETING": "hello"}}
	ctr := s.ContainerConfig(pod, want)
	id, err := s.RunContainer(podID, ctr, pod)
	if err != nil {
		return err
	}
	ci, err := s.Inspect(id)
	if err != nil {
		return err
	}
	step.end()

	report(w, s, ci, want)
	ok = true
	hints(w, s, id, rel(root, policyFile))
	return nil
}

// withPodLogsDir sets spec.node.podLogsDir in a policy document unless it
// already sets one: the demo's pods log under its own directory.
func withPodLogsDir(policy []byte, dir string) []byte {
	text := string(policy)
	if strings.Contains(text, "podLogsDir:") {
		return policy
	}
	line := "  node:\n    podLogsDir: " + dir + "\n"
	if strings.Contains(text, "\n  node:\n") {
		return []byte(strings.Replace(text, "\n  node:\n", "\n"+line, 1))
	}
	return []byte(strings.Replace(text, "\nspec:\n", "\nspec:\n"+line, 1))
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// stepper prints what a long step does and how long it took.
type stepper struct {
	w     io.Writer
	start time.Time
}

func newStepper(w io.Writer) *stepper { return &stepper{w: w} }

func (s *stepper) begin(what string) {
	s.start = time.Now()
	fmt.Fprintf(s.w, "==> %s ... ", what)
}

func (s *stepper) end() {
	fmt.Fprintf(s.w, "done (%v)\n", time.Since(s.start).Round(time.Millisecond))
}
