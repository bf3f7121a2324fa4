package ociarchive

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	img := Image{Ref: "example.com/a/b:v1", Arch: "amd64", Config: []byte(`{"os":"linux"}`), Layer: []byte("gz"), Created: time.Unix(0, 0)}
	var buf bytes.Buffer
	if err := Write(&buf, img); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[h.Name], _ = io.ReadAll(tr)
	}
	var idx Index
	if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", files["index.json"], err)
	}
	d := idx.Manifests[0]
	if d.Annotations[AnnotationContainerd] != img.Ref || d.Annotations[AnnotationRefName] != "v1" || d.Platform.Architecture != "amd64" {
		t.Errorf("index descriptor %+v", d)
	}
	var man Manifest
	if err := json.Unmarshal(files["blobs/sha256/"+d.Digest[len("sha256:"):]], &man); err != nil {
		t.Fatal(err)
	}
	if man.Config.Digest != Digest(img.Config) || man.Layers[0].Digest != Digest(img.Layer) ||
		!bytes.Equal(files[BlobPath(img.Config)], img.Config) || !bytes.Equal(files[BlobPath(img.Layer)], img.Layer) {
		t.Errorf("manifest %+v does not point at the config and layer", man)
	}
	for ref, tag := range map[string]string{"a/b:v1": "v1", "a:5000/b": "", "a/b@sha256:00": "", "b:x": "x"} {
		if got := Tag(ref); got != tag {
			t.Errorf("Tag(%q) = %q, want %q", ref, got, tag)
		}
	}
}
