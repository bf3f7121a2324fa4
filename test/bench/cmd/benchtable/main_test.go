package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestTableMediansSpreadAndTargets(t *testing.T) {
	in := `goos: linux
cpu: Intel(R) Xeon(R) Processor
BenchmarkDecide/rules=1000-2   20000   9000 ns/op   12.0 p99-us   45 allocs/op
BenchmarkDecide/rules=1000-2   20000   9000 ns/op   30.0 p99-us   45 allocs/op
BenchmarkDecide/rules=1000-2   20000   9000 ns/op   14.0 p99-us   45 allocs/op
BenchmarkCreateProcess-2   3000   700000 ns/op   1.05 ratio-p50
BenchmarkCreateProcess-2   	time="x" level=error msg="a log line, not a result"
PASS
`
	var out bytes.Buffer
	if err := run(strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"cpu: Intel(R) Xeon(R) Processor",
		"Decide/rules=1000",
		"14.0", // the median of 12, 30, 14
		"12.0 - 30.0",
		"< 20 us met",
		"<= 1.10 met",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "ratio-p50") != 1 {
		t.Errorf("the log line was read as a result:\n%s", got)
	}
}

func TestNoResults(t *testing.T) {
	if err := run(strings.NewReader("PASS\n"), &bytes.Buffer{}); err == nil {
		t.Fatal("no error without results")
	}
}
