package critest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/specguard/specguard/test/e2e/harness"
)

// The images critest v1.37.0 names (sigs.k8s.io/cri-tools pkg/framework and
// pkg/validate). No registry is reachable here, so they are made from the
// static busybox: those a container test creates without pulling (it asks
// for the image's status and pulls only when the runtime lacks it) are
// imported into containerd's k8s.io namespace, and every one is served
// under its public name by the test registry (registry_test.go), which
// containerd uses as its mirror, for the tests that pull. The image tests'
// digest-pinned image cannot be made (knownFailures).
const (
	busyboxImage     = "registry.k8s.io/e2e-test-images/busybox:1.29-2"
	nginxImage       = "registry.k8s.io/e2e-test-images/nginx:1.14-2"
	httpdImage       = "registry.k8s.io/e2e-test-images/httpd:2.4.39-4"
	noNewPrivsImage  = "registry.k8s.io/e2e-test-images/nonewprivs:1.3"
	predefinedGroups = "gcr.io/k8s-staging-cri-tools/test-image-predefined-group:latest"
)

// hostNetNginxImage is the web server the host-network port-forward test
// runs; critest names it per architecture.
var hostNetNginxImage = "gcr.io/k8s-staging-cri-tools/hostnet-nginx-" + runtime.GOARCH + ":latest"

// nginxScript stands in for nginx: what critest checks of its nginx images
// is a web server answering GET / with 200 on the image's port, a process
// named nginx whose pid is in /var/run/nginx.pid, and a command line of
// PID 1 that names a "master process". busybox's httpd serves; the script
// stays its parent so that the process named nginx lives as long as the
// server.
const nginxScript = `#!/bin/sh
# A stand-in for nginx in specguard's CRI conformance run (test/critest).
mkdir -p /var/run
echo $$ > /var/run/nginx.pid
echo "nginx stand-in: busybox httpd serving /usr/share/nginx/html on port %[1]d"
httpd -f -p %[1]d -h /usr/share/nginx/html &
trap 'kill $! 2>/dev/null; exit 0' TERM INT
wait
`

func webServerImage(ref string, port int) harness.Image {
	return harness.Image{
		Ref:        ref,
		AllApplets: true,
		Files: []harness.ImageFile{
			{Path: "usr/sbin/nginx", Mode: 0o755, Data: fmt.Sprintf(nginxScript, port)},
			{Path: "usr/share/nginx/html/index.html", Mode: 0o644, Data: "<html><body>specguard critest web server</body></html>\n"},
		},
		// The last argument is what critest greps /proc/1/cmdline for.
		Cmd: []string{"/usr/sbin/nginx", "nginx: master process"},
	}
}

// testImage is an image of the run: served by the test registry under
// its name and the also names, and imported into containerd before critest
// runs when the suite creates containers from it without pulling.
type testImage struct {
	harness.Image
	also     []string
	imported bool
}

const staging = "gcr.io/k8s-staging-cri-tools/"

// marked is a busybox image told apart from the others by one file, as
// cri-tools' images/image-test adds one.
func marked(ref string) harness.Image {
	name := ref[strings.LastIndex(ref, "/")+1:]
	return harness.Image{Ref: ref, AllApplets: true,
		Files: []harness.ImageFile{{Path: name, Mode: 0o644, Data: ref + "\n"}}}
}

func user(ref, u string) harness.Image {
	img := marked(ref)
	img.User = u
	img.Passwd = []string{"www-data:x:33:33:www-data:/var/www:/bin/sh"}
	img.Group = []string{"www-data:x:33:"}
	return img
}

// critestImages are the images of the run.
func critestImages() []testImage {
	return []testImage{
		// Every applet: the tests run top, pidof, hostname, ping...; and
		// stand-ins for the two the Debian busybox lacks.
		{Image: harness.Image{Ref: busyboxImage, AllApplets: true, Files: []harness.ImageFile{
			{Path: "usr/bin/pgrep", Mode: 0o755, Data: pgrepScript},
			{Path: "usr/bin/ipcs", Mode: 0o755, Data: ipcsScript},
		}}, imported: true},
		{Image: webServerImage(nginxImage, 80), imported: true},
		{Image: webServerImage(hostNetNginxImage, 12003), imported: true},
		// The multiple-containers tests' web server, whose log must say httpd.
		{Image: webServerImage(httpdImage, 80)},
		// As images/image-predefined-group: user 1000 in a group 50000
		// that only the image's /etc/group defines.
		{Image: harness.Image{
			Ref: predefinedGroups, AllApplets: true, User: "1000",
			Passwd: []string{"default-user:x:1000:1000::/home/default-user:/bin/sh"},
			Group:  []string{"default-user:x:1000:", "group-defined-in-image:x:50000:default-user"},
		}, imported: true},
		// Pulled by the image tests (pkg/validate/consts.go).
		// Not the sandbox image's bytes: a test removes pause:3.9 by its
		// id, which would take the stack's sandbox image with it.
		{Image: marked("registry.k8s.io/pause:3.9"), also: []string{"k8s.gcr.io/pause:3.9"}},
		{Image: marked(staging + "test-image-latest")},
		{Image: marked(staging + "test-image-tag:test")},
		{Image: marked(staging + "test-image-tag:all")},
		{Image: marked(staging + "test-image-1:latest")},
		{Image: marked(staging + "test-image-2:latest")},
		{Image: marked(staging + "test-image-3:latest")},
		{Image: marked(staging + "test-image-tags:1"), also: []string{staging + "test-image-tags:2", staging + "test-image-tags:3"}},
		{Image: user(staging+"test-image-user-uid", "1002")},
		{Image: user(staging+"test-image-user-username", "www-data")},
		{Image: user(staging+"test-image-user-uid-group", "1003:33")},
		{Image: user(staging+"test-image-user-username-group", "www-data:www-data")},
	}
}

// pgrepScript and ipcsScript stand in for the applets critest runs that
// Debian's busybox-static does not have, as far as critest uses them:
// "pgrep sleep" (is the timed-out exec's process gone?) and "ipcs -m"
// (which shared memory segments does the container's IPC namespace see?).
const (
	pgrepScript = "#!/bin/sh\n# pgrep NAME stand-in (test/critest): the pids of processes named NAME.\nexec pidof \"$1\"\n"
	ipcsScript  = "#!/bin/sh\n# ipcs -m stand-in (test/critest): the IPC namespace's shared memory segments.\ncat /proc/sysvipc/shm\n"
)

// noNewPrivsSource is the program of the nonewprivs image: installed
// setuid root, it prints the effective uid it runs with, which is 0 unless
// no_new_privs kept the set-user-ID bit from taking effect.
const noNewPrivsSource = `package main

import (
	"fmt"
	"os"
)

func main() { fmt.Printf("Effective uid: %d\n", os.Geteuid()) }
`

// buildNoNewPrivs compiles noNewPrivsSource, static, into dir.
func buildNoNewPrivs(dir string) ([]byte, error) {
	src := filepath.Join(dir, "nonewprivs-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module nonewprivs\n\ngo 1.22\n"), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(noNewPrivsSource), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(dir, "nonewprivs"), ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the nonewprivs program: %v\n%s", err, out)
	}
	return os.ReadFile(filepath.Join(dir, "nonewprivs"))
}

// writeImages writes each image's archive into dir. It returns the
// archives to import and every archive with its other names, for the
// registry.
func writeImages(dir, busybox string) (imports []string, all map[string][]string, err error) {
	nnp, err := buildNoNewPrivs(dir)
	if err != nil {
		return nil, nil, err
	}
	images := append(critestImages(), testImage{Image: harness.Image{Ref: noNewPrivsImage, AllApplets: true,
		Files: []harness.ImageFile{{Path: "usr/local/bin/nonewprivs", Mode: 0o4755, Data: string(nnp)}},
		Cmd:   []string{"/usr/local/bin/nonewprivs"}}})
	all = map[string][]string{}
	for i, img := range images {
		name := strings.NewReplacer("/", "_", ":", "_").Replace(img.Ref)
		p := filepath.Join(dir, fmt.Sprintf("%02d-%s.tar", i, name))
		if err := harness.WriteImageFile(p, img.Image, busybox); err != nil {
			return nil, nil, fmt.Errorf("image %s: %w", img.Ref, err)
		}
		all[p] = img.also
		if img.imported {
			imports = append(imports, p)
		}
	}
	return imports, all, nil
}
