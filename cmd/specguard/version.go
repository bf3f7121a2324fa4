package main

import (
	"fmt"
	"io"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func versionCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", stderr)
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	nri := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/containerd/nri" {
				nri = d.Version
			}
		}
	}
	fmt.Fprintf(stdout, "specguard %s (nri %s)\n", version, nri)
	return exitOK
}
