// Command specguard is a containerd NRI plugin that brings the kubelet's
// container-config rules to the runtime. See README.md.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/specguard/specguard/plugin"
)

// Exit codes, as the README gives them: 0 success, 1 bad input, 2 usage.
const (
	exitOK    = 0
	exitInput = 1
	exitUsage = 2
)

// command is one subcommand. run gets the arguments after the subcommand
// name and returns the process exit code.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"run":      {"run the NRI plugin", runCmd},
		"validate": {"validate policy files", validateCmd},
		"explain":  {"show what a policy does to a pod or request", explainCmd},
		"generate": {"print the CRI configs the kubelet would send for a pod", generateCmd},
		"version":  {"print the version", versionCmd},
	}
}

func main() {
	os.Exit(dispatch(os.Args[1:], os.Stdout, os.Stderr))
}

func dispatch(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 && plugin.LaunchedByRuntime() {
		// containerd starts plugins from its plugin directory without
		// arguments; flags then come from SPECGUARD_* variables.
		return runCmd(nil, stdout, stderr)
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "specguard: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return exitUsage
	}
	return c.run(args[1:], stdout, stderr)
}

func usage(w io.Writer, cmds map[string]command) {
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "usage: specguard <command> [flags]\n\ncommands:")
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, cmds[n].summary)
	}
}
