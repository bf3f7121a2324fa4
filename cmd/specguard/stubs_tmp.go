package main

import "io"

// Placeholders while the commands are built; each moves to its own file.
func validateCmd(args []string, stdout, stderr io.Writer) int { return notYet("validate", stderr) }
func explainCmd(args []string, stdout, stderr io.Writer) int  { return notYet("explain", stderr) }
func generateCmd(args []string, stdout, stderr io.Writer) int { return notYet("generate", stderr) }

func notYet(name string, w io.Writer) int {
	io.WriteString(w, "specguard "+name+": not implemented yet\n")
	return exitUsage
}
