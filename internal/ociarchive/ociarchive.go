// Package ociarchive writes a single-layer OCI image as an OCI image layout
// in a tar, the form `ctr images import` loads without a registry: the
// image's name is in the index (io.containerd.image.name). The same inputs
// give the same bytes.
package ociarchive

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"strings"
	"time"
)

// Media types of the OCI image spec.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"

	AnnotationRefName    = "org.opencontainers.image.ref.name"
	AnnotationContainerd = "io.containerd.image.name"
)

// Image is what Write packs.
type Image struct {
	Ref         string            // the image's name for containerd; its tag also goes in org.opencontainers.image.ref.name
	Arch        string            // GOARCH-style
	Config      []byte            // the image config; its rootfs names Digest of the uncompressed layer
	Layer       []byte            // the layer, gzipped
	Created     time.Time         // every archive entry's mtime
	Annotations map[string]string // the manifest's annotations; nil for none
}

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform is a descriptor's platform.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Manifest is an OCI image manifest.
type Manifest struct {
	SchemaVersion int               `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	Config        Descriptor        `json:"config"`
	Layers        []Descriptor      `json:"layers"`
	Annotations   map[string]string `json:"annotations,omitempty"`
}

// Index is an OCI image index.
type Index struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

// Digest is the OCI digest of b.
func Digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// BlobPath is where the layout keeps b.
func BlobPath(b []byte) string {
	return "blobs/sha256/" + strings.TrimPrefix(Digest(b), "sha256:")
}

// Tag returns the tag of ref ("" if it has none).
func Tag(ref string) string {
	slash := strings.LastIndex(ref, "/")
	colon := strings.LastIndex(ref, ":")
	if colon <= slash || strings.Contains(ref, "@") {
		return ""
	}
	return ref[colon+1:]
}

// Write writes img to w: oci-layout, index.json, and the manifest, config
// and layer under blobs/sha256/.
func Write(w io.Writer, img Image) error {
	man, err := json.Marshal(Manifest{
		SchemaVersion: 2,
		MediaType:     MediaTypeManifest,
		Config:        Descriptor{MediaType: MediaTypeConfig, Digest: Digest(img.Config), Size: int64(len(img.Config))},
		Layers:        []Descriptor{{MediaType: MediaTypeLayer, Digest: Digest(img.Layer), Size: int64(len(img.Layer))}},
		Annotations:   img.Annotations,
	})
	if err != nil {
		return err
	}
	idx, err := json.Marshal(Index{
		SchemaVersion: 2,
		MediaType:     MediaTypeIndex,
		Manifests: []Descriptor{{
			MediaType: MediaTypeManifest,
			Digest:    Digest(man),
			Size:      int64(len(man)),
			Platform:  &Platform{Architecture: img.Arch, OS: "linux"},
			Annotations: map[string]string{
				AnnotationContainerd: img.Ref,
				AnnotationRefName:    Tag(img.Ref),
			},
		}},
	})
	if err != nil {
		return err
	}

	tw := tar.NewWriter(w)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: img.Created, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", idx},
		{BlobPath(man), man},
		{BlobPath(img.Config), img.Config},
		{BlobPath(img.Layer), img.Layer},
	} {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: img.Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}
