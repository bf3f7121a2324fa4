package main

import "io"

// Placeholders while the commands are built; each moves to its own file.

func notYet(name string, w io.Writer) int {
	io.WriteString(w, "specguard "+name+": not implemented yet\n")
	return exitUsage
}
