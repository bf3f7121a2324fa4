package main

import (
	"fmt"
	"io"

	"github.com/specguard/specguard/pkg/policy"
)

func validateCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("validate", stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, "usage: specguard validate FILE...") }
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitUsage
	}
	code := exitOK
	for _, f := range fs.Args() {
		p, err := policy.Load(f)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = exitInput
			continue
		}
		for _, w := range p.WarningText() {
			fmt.Fprintln(stderr, w)
		}
		fmt.Fprintf(stdout, "%s: valid (%d rules, mode %s, failurePolicy %s)\n", f, len(p.Rules), p.Mode, p.FailurePolicy)
	}
	return code
}
