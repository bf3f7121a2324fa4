package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/specguard/specguard/internal/ociarchive"
)

// untar returns the archive's regular files and the order of all entries.
func untar(t *testing.T, b []byte) (map[string][]byte, []string) {
	t.Helper()
	files := map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return files, order
		}
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, hdr.Name)
		if hdr.Typeflag == tar.TypeReg {
			data, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[hdr.Name] = data
		}
	}
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// blob returns the blob a descriptor points at, checking digest and size.
func blob(t *testing.T, files map[string][]byte, d ociarchive.Descriptor) []byte {
	t.Helper()
	data, ok := files["blobs/sha256/"+strings.TrimPrefix(d.Digest, "sha256:")]
	if !ok {
		t.Fatalf("blob %s missing", d.Digest)
	}
	if sha(data) != d.Digest || int64(len(data)) != d.Size {
		t.Fatalf("blob %s: digest %s size %d, descriptor says size %d", d.Digest, sha(data), len(data), d.Size)
	}
	return data
}

func writeFake(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "specguard")
	if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestArchiveIsAConsistentOCILayout(t *testing.T) {
	const content = "not really a binary"
	opts := Options{
		Binary:  writeFake(t, content),
		Name:    "ghcr.io/specguard/specguard:v1.2.3",
		Version: "v1.2.3",
		Arch:    "amd64",
		Created: time.Unix(1700000000, 0),
	}
	var buf bytes.Buffer
	if err := WriteArchive(&buf, opts); err != nil {
		t.Fatal(err)
	}
	files, order := untar(t, buf.Bytes())

	if got := string(files["oci-layout"]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %q", got)
	}
	if i, j := slices.Index(order, "blobs/sha256/"), slices.Index(order, "index.json"); i < 0 || j < 0 {
		t.Errorf("entries %v lack blobs/sha256/ or index.json", order)
	}

	var idx ociarchive.Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || idx.MediaType != ociarchive.MediaTypeIndex || len(idx.Manifests) != 1 {
		t.Fatalf("index.json = %s", files["index.json"])
	}
	md := idx.Manifests[0]
	if md.Annotations[ociarchive.AnnotationContainerd] != opts.Name || md.Annotations[ociarchive.AnnotationRefName] != "v1.2.3" {
		t.Errorf("index annotations %v: want %s=%s and %s=v1.2.3", md.Annotations, ociarchive.AnnotationContainerd, opts.Name, ociarchive.AnnotationRefName)
	}
	if md.Platform == nil || *md.Platform != (ociarchive.Platform{Architecture: "amd64", OS: "linux"}) {
		t.Errorf("index platform = %+v", md.Platform)
	}

	var man ociarchive.Manifest
	if err := json.Unmarshal(blob(t, files, md), &man); err != nil {
		t.Fatal(err)
	}
	if man.SchemaVersion != 2 || man.MediaType != ociarchive.MediaTypeManifest || man.Config.MediaType != ociarchive.MediaTypeConfig || len(man.Layers) != 1 || man.Layers[0].MediaType != ociarchive.MediaTypeLayer {
		t.Fatalf("manifest = %+v", man)
	}

	var cfg imageConfig
	if err := json.Unmarshal(blob(t, files, man.Config), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" || cfg.Created != "2023-11-14T22:13:20Z" {
		t.Errorf("config os/arch/created = %s/%s/%s", cfg.OS, cfg.Architecture, cfg.Created)
	}
	if !slices.Equal(cfg.Config.Entrypoint, []string{"/specguard"}) || !slices.Equal(cfg.Config.Cmd, []string{"run"}) {
		t.Errorf("entrypoint %v cmd %v, want [/specguard] [run]", cfg.Config.Entrypoint, cfg.Config.Cmd)
	}
	if cfg.Config.Labels[annotationVersion] != "v1.2.3" {
		t.Errorf("labels %v lack the version", cfg.Config.Labels)
	}

	gz := blob(t, files, man.Layers[0])
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	layerTar, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != sha(layerTar) || cfg.RootFS.Type != "layers" {
		t.Errorf("rootfs %+v, want one diff_id %s", cfg.RootFS, sha(layerTar))
	}
	tr := tar.NewReader(bytes.NewReader(layerTar))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != "specguard" || hdr.Mode != 0o755 || hdr.Typeflag != tar.TypeReg || hdr.Uid != 0 || hdr.Gid != 0 {
		t.Errorf("layer entry %s mode %o type %c uid %d gid %d", hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Uid, hdr.Gid)
	}
	if data, _ := io.ReadAll(tr); string(data) != content {
		t.Errorf("layer holds %q, want the binary", data)
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Errorf("layer has more than the binary: %v", err)
	}
}

func TestArchiveIsReproducible(t *testing.T) {
	opts := Options{Binary: writeFake(t, "same"), Name: "example.com/specguard:dev", Arch: "arm64", Created: time.Unix(0, 0)}
	var a, b bytes.Buffer
	if err := WriteArchive(&a, opts); err != nil {
		t.Fatal(err)
	}
	if err := WriteArchive(&b, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same input differ")
	}
}

func TestArchitectureComesFromTheStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go program")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "specguard")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build a test binary: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if arch, err := elfArch(data); err != nil || arch != "arm64" {
		t.Errorf("elfArch = %q, %v; want arm64", arch, err)
	}
}

func TestRefusesWhatCannotRunFromScratch(t *testing.T) {
	if err := WriteArchive(io.Discard, Options{Binary: writeFake(t, "#!/bin/sh\n"), Name: "x/y:z"}); err == nil {
		t.Error("a shell script was packed as the binary")
	}
	// The race-enabled test binary itself needs cgo, so it is dynamic.
	if runtime.GOOS == "linux" {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := elfArch(data); err != nil && !strings.Contains(err.Error(), "CGO_ENABLED=0") {
			t.Errorf("dynamic binary: %v, want advice to build with CGO_ENABLED=0", err)
		}
	}
	for _, name := range []string{"", "no-tag", "example.com:5000/specguard", "has space:1"} {
		err := WriteArchive(io.Discard, Options{Binary: writeFake(t, "x"), Name: name, Arch: "amd64"})
		if err == nil {
			t.Errorf("image name %q accepted", name)
		}
	}
}

func TestTagOf(t *testing.T) {
	for ref, want := range map[string]string{
		"ghcr.io/specguard/specguard:dev":       "dev",
		"localhost:5000/specguard:v1":           "v1",
		"localhost:5000/specguard":              "",
		"specguard":                             "",
		"ghcr.io/specguard/specguard@sha256:ab": "",
	} {
		if got := ociarchive.Tag(ref); got != want {
			t.Errorf("Tag(%q) = %q, want %q", ref, got, want)
		}
	}
}
