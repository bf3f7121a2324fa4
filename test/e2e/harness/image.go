package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"strings"
	"time"

	"github.com/specguard/specguard/internal/ociarchive"
)

// BusyboxApplets are the commands the test image links to /bin/busybox.
var BusyboxApplets = []string{
	"sh", "env", "cat", "sleep", "id", "grep", "ls", "echo", "ps", "printf",
	"true", "false", "test", "head", "tail", "wc", "sed", "awk", "readlink",
	"stat", "mkdir", "rm", "touch", "whoami", "hostname", "mount", "find",
	"xargs", "tr", "cut", "sort", "uname", "date", "kill", "nproc", "df",
}

// PauseCommand is the image's default command: it sleeps until SIGTERM or
// SIGINT and then exits 0, so the image also works as the sandbox ("pause")
// image and stops promptly even as PID 1, which has no default handlers.
var PauseCommand = []string{"sh", "-c", "trap 'exit 0' TERM INT; sleep 2147483647 & wait"}

// epoch is the fixed timestamp of every file and of the image, so the same
// busybox always yields the same image digest.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteBusyboxImage writes an OCI image archive (a tar of an OCI image
// layout: oci-layout, index.json, blobs/sha256/...) to w. The image has one
// gzip layer holding the static busybox binary read from busyboxPath, a
// symlink per applet in BusyboxApplets, /etc/passwd and /etc/group with root
// and nobody, and /tmp; its config runs PauseCommand. The index names the
// image ref in the io.containerd.image.name annotation, which is what
// `ctr images import` registers it as, so no registry is involved.
func WriteBusyboxImage(w io.Writer, ref, busyboxPath string) error {
	return WriteImage(w, Image{Ref: ref}, busyboxPath)
}

// Image describes a test image built on the static busybox; the zero value
// past Ref is WriteBusyboxImage's image.
type Image struct {
	Ref string
	// AllApplets links every applet the busybox binary has, where
	// `busybox --list-full` places it (bin, sbin, usr/bin, usr/sbin),
	// instead of BusyboxApplets under bin.
	AllApplets bool
	Passwd     []string    // more /etc/passwd lines
	Group      []string    // more /etc/group lines
	Files      []ImageFile // more files, after the rest
	Cmd        []string    // the default command; nil for PauseCommand
	User       string      // the image config's user; "" for root
}

// ImageFile is a regular file in a test image.
type ImageFile struct {
	Path string // relative, like "usr/sbin/nginx"; its directories are created
	Mode int64
	Data string
}

// WriteImage writes img as an OCI image archive to w, the busybox binary
// read from busyboxPath; see WriteBusyboxImage.
func WriteImage(w io.Writer, img Image, busyboxPath string) error {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("reading busybox (install busybox-static): %w", err)
	}
	applets := make([]string, 0, len(BusyboxApplets))
	for _, a := range BusyboxApplets {
		applets = append(applets, "bin/"+a)
	}
	if img.AllApplets {
		out, err := exec.Command(busyboxPath, "--list-full").Output()
		if err != nil {
			return fmt.Errorf("%s --list-full: %w", busyboxPath, err)
		}
		applets = strings.Fields(string(out))
	}
	layerTar, err := busyboxLayer(bb, applets, img)
	if err != nil {
		return err
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return err
	}
	zw.ModTime = epoch
	if _, err := zw.Write(layerTar); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	diffID := ociarchive.Digest(layerTar)

	cmd := img.Cmd
	if cmd == nil {
		cmd = PauseCommand
	}
	cfg := map[string]any{
		"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		"Cmd":        cmd,
		"WorkingDir": "/",
	}
	if img.User != "" {
		cfg["User"] = img.User
	}
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       cfg,
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{
			"created":    epoch.Format(time.RFC3339),
			"created_by": "specguard test/e2e/harness: busybox-static",
		}},
	})
	if err != nil {
		return err
	}
	return ociarchive.Write(w, ociarchive.Image{Ref: img.Ref, Arch: runtime.GOARCH, Config: config, Layer: gz.Bytes(), Created: epoch})
}

// WriteImageFile is WriteImage into a new file at path.
func WriteImageFile(path string, img Image, busyboxPath string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteImage(f, img, busyboxPath); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// WriteBusyboxImageFile is WriteBusyboxImage into a new file at path.
func WriteBusyboxImageFile(path, ref, busyboxPath string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteBusyboxImage(f, ref, busyboxPath); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// busyboxLayer returns the uncompressed layer tar: busybox, passwd and
// group, /tmp, a symlink per applet path and img's files.
func busyboxLayer(bb []byte, applets []string, img Image) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	dir := func(name string, mode int64) error {
		dirs[name] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch})
	}
	// parents creates the directories above p that are not there yet.
	parents := func(p string) error {
		for i := 0; i < len(p); i++ {
			if p[i] == '/' && !dirs[p[:i+1]] {
				if err := dir(p[:i+1], 0o755); err != nil {
					return err
				}
			}
		}
		return nil
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	lines := func(base string, more []string) []byte {
		return []byte(base + strings.Join(append(more, ""), "\n"))
	}
	steps := []func() error{
		func() error { return dir("bin/", 0o755) },
		func() error { return dir("etc/", 0o755) },
		func() error { return dir("tmp/", 0o1777) },
		func() error { return file("bin/busybox", 0o755, bb) },
		func() error {
			return file("etc/passwd", 0o644, lines("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n", img.Passwd))
		},
		func() error { return file("etc/group", 0o644, lines("root:x:0:\nnogroup:x:65534:\n", img.Group)) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	for _, a := range applets {
		if a == "bin/busybox" {
			continue
		}
		if err := parents(a); err != nil {
			return nil, err
		}
		target := "busybox"
		if path.Dir(a) != "bin" {
			target = "/bin/busybox"
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: a, Linkname: target, Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range img.Files {
		if err := parents(f.Path); err != nil {
			return nil, err
		}
		if err := file(f.Path, f.Mode, []byte(f.Data)); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
