// Command image packs a static specguard binary into a single-layer OCI
// image archive (an OCI image layout in a tar), without a container engine.
// `ctr images import` loads the result into containerd. The image is the
// same as the Dockerfile next to this file builds: FROM scratch, the binary
// at /specguard, ENTRYPOINT ["/specguard"], CMD ["run"].
//
//	go run ./deploy/image -binary _output/image/specguard -name ghcr.io/specguard/specguard:dev -o specguard.oci.tar
//
// The archive is reproducible: the same binary and flags give the same bytes.
package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"debug/elf"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/specguard/specguard/internal/ociarchive"
)

// OCI annotation keys used here.
const (
	annotationCreated     = "org.opencontainers.image.created"
	annotationVersion     = "org.opencontainers.image.version"
	annotationSource      = "org.opencontainers.image.source"
	binaryPathInImage     = "specguard"
	defaultImageReference = "ghcr.io/specguard/specguard:dev"
)

// Options say what to pack.
type Options struct {
	Binary  string    // path of the static specguard binary
	Name    string    // image reference, registry/repository:tag
	Version string    // org.opencontainers.image.version label; "" to omit
	Arch    string    // GOARCH-style; "" to read it from the binary's ELF header
	Created time.Time // image creation time, also every file's mtime
}

type imageConfig struct {
	Created      string          `json:"created"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Config       containerConfig `json:"config"`
	RootFS       rootFS          `json:"rootfs"`
	History      []history       `json:"history"`
}

type containerConfig struct {
	User         string              `json:"User"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Labels       map[string]string   `json:"Labels,omitempty"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   string `json:"created"`
	CreatedBy string `json:"created_by"`
}

func main() {
	opts := Options{}
	var out, created string
	flag.StringVar(&opts.Binary, "binary", "", "static specguard binary to pack (required)")
	flag.StringVar(&opts.Name, "name", defaultImageReference, "image reference")
	flag.StringVar(&opts.Version, "version", "", "version label")
	flag.StringVar(&opts.Arch, "arch", "", "image architecture (default: from the binary)")
	flag.StringVar(&out, "o", "specguard.oci.tar", "output archive")
	flag.StringVar(&created, "created", os.Getenv("SOURCE_DATE_EPOCH"), "creation time, Unix seconds (default $SOURCE_DATE_EPOCH, else 0)")
	flag.Parse()
	if opts.Binary == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if created != "" {
		secs, err := strconv.ParseInt(created, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "image: -created %q: not Unix seconds\n", created)
			os.Exit(2)
		}
		opts.Created = time.Unix(secs, 0)
	} else {
		opts.Created = time.Unix(0, 0)
	}
	if err := writeArchiveFile(out, opts); err != nil {
		fmt.Fprintf(os.Stderr, "image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%s: %s\n", out, opts.Name)
}

func writeArchiveFile(path string, opts Options) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }() // gone after the rename; only a failure leaves it
	if err := WriteArchive(tmp, opts); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// WriteArchive writes the OCI image layout for opts to w as a tar.
func WriteArchive(w io.Writer, opts Options) error {
	bin, err := os.ReadFile(opts.Binary)
	if err != nil {
		return err
	}
	if opts.Arch == "" {
		if opts.Arch, err = elfArch(bin); err != nil {
			return fmt.Errorf("%s: %w", opts.Binary, err)
		}
	}
	if err := checkReference(opts.Name); err != nil {
		return err
	}
	created := opts.Created.UTC()
	createdText := created.Format(time.RFC3339)

	layerTar, err := layer(bin, created)
	if err != nil {
		return err
	}
	layerGz, err := gzipBytes(layerTar)
	if err != nil {
		return err
	}

	labels := map[string]string{annotationSource: "https://github.com/specguard/specguard"}
	if opts.Version != "" {
		labels[annotationVersion] = opts.Version
	}
	config, err := json.Marshal(imageConfig{
		Created:      createdText,
		Architecture: opts.Arch,
		OS:           "linux",
		Config: containerConfig{
			User:         "0:0",
			Entrypoint:   []string{"/" + binaryPathInImage},
			Cmd:          []string{"run"},
			ExposedPorts: map[string]struct{}{"9090/tcp": {}},
			Labels:       labels,
		},
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{ociarchive.Digest(layerTar)}},
		History: []history{{Created: createdText, CreatedBy: "deploy/image: COPY specguard /specguard"}},
	})
	if err != nil {
		return err
	}
	return ociarchive.Write(w, ociarchive.Image{
		Ref: opts.Name, Arch: opts.Arch, Config: config, Layer: layerGz, Created: created,
		Annotations: map[string]string{annotationCreated: createdText},
	})
}

// layer is the image's one file system layer: the binary at /specguard.
func layer(bin []byte, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     binaryPathInImage,
		Mode:     0o755,
		Size:     int64(len(bin)),
		ModTime:  mtime,
		Format:   tar.FormatPAX,
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return nil, err
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipBytes compresses with no name and no timestamp in the header, so the
// layer digest depends on the content only.
func gzipBytes(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// elfArch names the binary's architecture as GOARCH does, and insists on a
// static binary: a FROM-scratch image has no dynamic loader or libc.
func elfArch(bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("not an ELF binary: %w", err)
	}
	defer func() { _ = f.Close() }() // read from memory: nothing to flush
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", errors.New("dynamically linked; build it with CGO_ENABLED=0")
		}
	}
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", fmt.Errorf("unsupported ELF machine %v; pass -arch", f.Machine)
}

// checkReference rejects references containerd would not import as named.
func checkReference(ref string) error {
	if ref == "" || strings.ContainsAny(ref, " \t\n") || ociarchive.Tag(ref) == "" {
		return fmt.Errorf("image name %q: want registry/repository:tag", ref)
	}
	return nil
}
