package engine

import (
	"go/build"
	"os/exec"
	"strings"
	"testing"
)

// TestEngineImports holds the engine to "pure, no I/O" by its imports:
// nothing that reads the host (files, sockets, processes, the clock, the
// kernel) directly, and no containerd/v2 at any depth. What it needs of the
// host comes in Facts (pkg/facts gathers them).
func TestEngineImports(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	io := map[string]bool{
		"os": true, "os/exec": true, "os/signal": true, "os/user": true, "io/fs": true, "io/ioutil": true,
		"net": true, "net/http": true, "syscall": true, "golang.org/x/sys/unix": true, "path/filepath": true,
		"runtime": true, "time": true, "context": true, "math/rand": true, "math/rand/v2": true, "crypto/rand": true,
		"unsafe": true, "plugin": true,
	}
	for _, imp := range pkg.Imports {
		if io[imp] {
			t.Errorf("pkg/engine imports %s: the engine does no I/O and reads no clock; pass what it needs in Facts", imp)
		}
	}

	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to list the engine's dependencies")
	}
	out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/containerd/containerd/") {
			t.Errorf("pkg/engine depends on %s: containerd's own packages (the default seccomp profile) are built in pkg/facts", dep)
		}
	}
}
