package harness

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"time"
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

// Media types of the OCI image spec.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type blob struct {
	digest string
	data   []byte
}

func newBlob(data []byte) blob {
	sum := sha256.Sum256(data)
	return blob{digest: "sha256:" + hex.EncodeToString(sum[:]), data: data}
}

// WriteBusyboxImage writes an OCI image archive (a tar of an OCI image
// layout: oci-layout, index.json, blobs/sha256/...) to w. The image has one
// gzip layer holding the static busybox binary read from busyboxPath, a
// symlink per applet in BusyboxApplets, /etc/passwd and /etc/group with root
// and nobody, and /tmp; its config runs PauseCommand. The index names the
// image ref in the io.containerd.image.name annotation, which is what
// `ctr images import` registers it as, so no registry is involved.
func WriteBusyboxImage(w io.Writer, ref, busyboxPath string) error {
	bb, err := os.ReadFile(busyboxPath)
	if err != nil {
		return fmt.Errorf("reading busybox (install busybox-static): %w", err)
	}
	layerTar, err := busyboxLayer(bb)
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
	layer := newBlob(gz.Bytes())
	diffID := newBlob(layerTar).digest

	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":        PauseCommand,
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
		"history": []map[string]any{{
			"created":    epoch.Format(time.RFC3339),
			"created_by": "specguard test/e2e/harness: busybox-static",
		}},
	})
	if err != nil {
		return err
	}
	configBlob := newBlob(config)

	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        descriptor{MediaType: mediaTypeConfig, Digest: configBlob.digest, Size: int64(len(configBlob.data))},
		"layers":        []descriptor{{MediaType: mediaTypeLayer, Digest: layer.digest, Size: int64(len(layer.data))}},
	})
	if err != nil {
		return err
	}
	manifestBlob := newBlob(manifest)

	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeIndex,
		"manifests": []descriptor{{
			MediaType: mediaTypeManifest,
			Digest:    manifestBlob.digest,
			Size:      int64(len(manifestBlob.data)),
			Annotations: map[string]string{
				"io.containerd.image.name":          ref,
				"org.opencontainers.image.ref.name": refTag(ref),
			},
			Platform: &platform{Architecture: runtime.GOARCH, OS: "linux"},
		}},
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	files := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
	}
	for _, b := range []blob{manifestBlob, configBlob, layer} {
		files = append(files, struct {
			name string
			data []byte
		}{"blobs/sha256/" + b.digest[len("sha256:"):], b.data})
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// WriteBusyboxImageFile is WriteBusyboxImage into a new file at path.
func WriteBusyboxImageFile(path, ref, busyboxPath string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteBusyboxImage(f, ref, busyboxPath); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// busyboxLayer returns the uncompressed layer tar.
func busyboxLayer(bb []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, mode int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: epoch})
	}
	file := func(name string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	steps := []func() error{
		func() error { return dir("bin/", 0o755) },
		func() error { return dir("etc/", 0o755) },
		func() error { return dir("tmp/", 0o1777) },
		func() error { return file("bin/busybox", 0o755, bb) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nnogroup:x:65534:\n")) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, err
		}
	}
	for _, applet := range BusyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + applet, Linkname: "busybox", Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// refTag returns the tag of an image reference ("e2e" of "x/y:e2e"), or
// "latest" when there is none.
func refTag(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case ':':
			return ref[i+1:]
		case '/':
			return "latest"
		}
	}
	return "latest"
}
