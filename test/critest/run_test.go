package critest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

// Outcome of one spec in one critest run, from ginkgo's JSON report.
type outcome struct {
	State   string // ginkgo's: passed, failed, skipped, panicked, timedout, interrupted, aborted, pending
	Message string // the failure's first line
	RunTime time.Duration
}

func (o outcome) passed() bool  { return o.State == "passed" }
func (o outcome) skipped() bool { return o.State == "skipped" || o.State == "pending" }

// run is one critest invocation's results, by spec text.
type run struct {
	Specs    map[string]outcome
	Duration time.Duration
	Log      string // critest's output
}

// ginkgoReport is the part of ginkgo's JSON report (--ginkgo.json-report,
// a list of suite reports) read here.
type ginkgoReport []struct {
	SpecReports []struct {
		ContainerHierarchyTexts []string
		LeafNodeType            string
		LeafNodeText            string
		State                   string
		RunTime                 time.Duration
		Failure                 struct {
			Message string
		}
	}
}

// critestSeed fixes the spec order (ginkgo's --seed) of every run.
const critestSeed = "20"

// focusOn is a --ginkgo.focus regexp for exactly these specs (full texts).
func focusOn(specs []string) string {
	quoted := make([]string, len(specs))
	for i, f := range specs {
		quoted[i] = regexp.QuoteMeta(f)
	}
	// ginkgo matches the suite's description, a space and the text.
	return "(?:^| )(?:" + strings.Join(quoted, "|") + ")$"
}

// runCritest runs critest against the stack, writing its output, its JSON
// report and its JUnit report under dir; focus, when not empty, is a
// --ginkgo.focus regexp limiting the run.
func runCritest(ctx context.Context, s *harness.Stack, dir, focus string) (*run, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	report := filepath.Join(dir, "report.json")
	_ = os.Remove(report)
	args := []string{
		"-runtime-endpoint", s.Endpoint(), "-image-endpoint", s.Endpoint(),
		// critest's own NRI plugins check the runtime's NRI contract,
		// next to specguard when it is attached.
		"-nri-socket", s.NRISocket(),
		"-ginkgo.no-color", "-ginkgo.v",
		// critest shuffles the specs; one order in every pass, so that
		// what one spec leaves to the next is the same with and without
		// specguard.
		"-ginkgo.seed", critestSeed,
		"-ginkgo.timeout", "40m",
		"-ginkgo.json-report", report,
		"-ginkgo.junit-report", filepath.Join(dir, "junit.xml"),
	}
	if focus != "" {
		args = append(args, "-ginkgo.focus", focus)
	}
	logPath := filepath.Join(dir, "critest.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.CommandContext(ctx, s.Tools.Path("critest"), args...)
	// critest reads /etc/crictl.yaml when there is one; its directory is
	// the stack's so that nothing of the node's crictl setup leaks in.
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/sbin")
	start := time.Now()
	runErr := cmd.Run()
	r := &run{Specs: map[string]outcome{}, Duration: time.Since(start), Log: logPath}
	b, err := os.ReadFile(report)
	if err != nil {
		return r, fmt.Errorf("critest wrote no report (%v; exit: %v); its output:\n%s", err, runErr, harness.Tail(logPath, 40))
	}
	var rep ginkgoReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return r, fmt.Errorf("%s: %w", report, err)
	}
	for _, suite := range rep {
		for _, sr := range suite.SpecReports {
			if sr.LeafNodeType != "It" {
				continue
			}
			msg, _, _ := strings.Cut(strings.TrimSpace(sr.Failure.Message), "\n")
			r.Specs[fullText(sr.ContainerHierarchyTexts, sr.LeafNodeText)] = outcome{State: sr.State, Message: msg, RunTime: sr.RunTime}
		}
	}
	if len(r.Specs) == 0 {
		return r, fmt.Errorf("critest reported no spec (exit: %v); its output:\n%s", runErr, harness.Tail(logPath, 40))
	}
	return r, nil
}

// fullText is what ginkgo matches --focus against: the container texts
// and the spec's own, joined by spaces.
func fullText(containers []string, leaf string) string {
	return strings.Join(append(slices.Clone(containers), leaf), " ")
}

// counts tallies a run: specs that ran (not skipped) and passed.
func (r *run) counts() (ran, passed int) {
	for _, o := range r.Specs {
		if o.skipped() {
			continue
		}
		ran++
		if o.passed() {
			passed++
		}
	}
	return ran, passed
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
