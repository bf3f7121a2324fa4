// Command benchtable reads `go test -bench` output on stdin (any number of
// packages and -count runs) and prints one table: every figure each
// benchmark reported, as the median over runs with the spread (min-max),
// and the target it is held to where one is set (docs/performance.md).
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// target is a bound on one figure of one benchmark.
type target struct {
	bench, unit string
	max         float64
	text        string
}

var targets = []target{
	// Every request of one container creation against a no-op plugin's
	// CreateContainer (p50 <= 1.10, p99 <= 1.5), and CreateContainer
	// alone, with each plugin its own process as on a node
	// (BenchmarkCreateContainer, all in one process, is the breakdown).
	{"CreateProcess", "ratio-p50", 1.10, "<= 1.10"},
	{"CreateProcess", "ratio-p99", 1.5, "<= 1.5"},
	{"CreateProcess", "create-ratio-p50", 1.10, "<= 1.10"},
	{"Decide/rules=1000", "p99-us", 20, "< 20 us"},
	{"TrackedMemory", "rss-MiB", 30, "< 30 MiB"},
	{"Startup", "p50-ms", 200, "< 200 ms"},
	{"Startup", "max-ms", 200, "< 200 ms"},
	{"ContainerdCreate", "ratio-p50", 1.05, "<= 1.05"},
	{"ContainerdCreate", "ratio-p99", 1.05, "<= 1.05"},
	{"PodStartup", "ready-ratio-p50", 1.05, "<= 1.05"},
	{"PodStartup", "ready-ratio-mean", 1.05, "<= 1.05"},
}

var benchLine = regexp.MustCompile(`^Benchmark(\S+?)(-\d+)?\s+(\d+)\s+(.*)$`)

type figure struct {
	bench, unit string
}

func main() {
	if err := run(os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(in io.Reader, out io.Writer) error {
	values := map[figure][]float64{}
	var order []figure
	var header []string
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "cpu: ") || strings.HasPrefix(line, "goos: ") {
			if !slices.Contains(header, line) {
				header = append(header, line)
			}
			continue
		}
		m := benchLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[4])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			k := figure{m[1], f[i+1]}
			if _, ok := values[k]; !ok {
				order = append(order, k)
			}
			values[k] = append(values[k], v)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(order) == 0 {
		return fmt.Errorf("no benchmark results on stdin")
	}
	for _, h := range header {
		fmt.Fprintln(out, h)
	}
	fmt.Fprintf(out, "%-26s %-28s %12s %25s %4s %-10s\n", "benchmark", "figure", "median", "spread (min-max)", "n", "target")
	for _, k := range order {
		v := slices.Clone(values[k])
		slices.Sort(v)
		med := v[len(v)/2]
		if len(v)%2 == 0 {
			med = (v[len(v)/2-1] + v[len(v)/2]) / 2
		}
		goal := ""
		for _, t := range targets {
			if t.bench == k.bench && t.unit == k.unit {
				verdict := "met"
				if med > t.max {
					verdict = "MISSED"
				}
				goal = t.text + " " + verdict
			}
		}
		fmt.Fprintf(out, "%-26s %-28s %12s %25s %4d %s\n", k.bench, k.unit, num(med),
			num(v[0])+" - "+num(v[len(v)-1]), len(v), goal)
	}
	return nil
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
}
