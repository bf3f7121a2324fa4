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
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
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
)

// OCI media types and annotation keys used here.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	annotationRefName     = "org.opencontainers.image.ref.name"
	annotationCreated     = "org.opencontainers.image.created"
	annotationVersion     = "org.opencontainers.image.version"
	annotationSource      = "org.opencontainers.image.source"
	annotationContainerd  = "io.containerd.image.name"
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

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
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

type manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        descriptor        `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

type index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
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
	defer os.Remove(tmp.Name())
	if err := WriteArchive(tmp, opts); err != nil {
		tmp.Close()
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
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{digest(layerTar)}},
		History: []history{{Created: createdText, CreatedBy: "deploy/image: COPY specguard /specguard"}},
	})
	if err != nil {
		return err
	}
	man, err := json.Marshal(manifest{
		SchemaVersion: 2,
		MediaType:     mediaTypeManifest,
		Config:        descriptor{MediaType: mediaTypeConfig, Digest: digest(config), Size: int64(len(config))},
		Layers:        []descriptor{{MediaType: mediaTypeLayer, Digest: digest(layerGz), Size: int64(len(layerGz))}},
		Annotations:   map[string]string{annotationCreated: createdText},
	})
	if err != nil {
		return err
	}
	idx, err := json.Marshal(index{
		SchemaVersion: 2,
		MediaType:     mediaTypeIndex,
		Manifests: []descriptor{{
			MediaType: mediaTypeManifest,
			Digest:    digest(man),
			Size:      int64(len(man)),
			Platform:  &platform{Architecture: opts.Arch, OS: "linux"},
			Annotations: map[string]string{
				annotationContainerd: opts.Name,
				annotationRefName:    tagOf(opts.Name),
			},
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
		{"index.json", idx},
		{blobPath(man), man},
		{blobPath(config), config},
		{blobPath(layerGz), layerGz},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: created, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
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

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(digest(b), "sha256:")
}

// elfArch names the binary's architecture as GOARCH does, and insists on a
// static binary: a FROM-scratch image has no dynamic loader or libc.
func elfArch(bin []byte) (string, error) {
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return "", fmt.Errorf("not an ELF binary: %w", err)
	}
	defer f.Close()
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
	if ref == "" || strings.ContainsAny(ref, " \t\n") || tagOf(ref) == "" {
		return fmt.Errorf("image name %q: want registry/repository:tag", ref)
	}
	return nil
}

// tagOf returns the tag of ref ("" if it has none).
func tagOf(ref string) string {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash || strings.Contains(ref, "@") {
		return ""
	}
	return ref[colon+1:]
}
