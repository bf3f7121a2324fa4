package critest

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/specguard/specguard/internal/ociarchive"
)

// registry serves the test images read-only over the OCI distribution API
// on 127.0.0.1. The stack's containerd uses it as the mirror of every
// registry (hosts.toml in _default), so the images critest pulls by their
// public names come from here; nothing leaves the node.
type registry struct {
	blobs     map[string][]byte // by digest: manifests, configs, layers
	manifests map[string]string // "repository:tag" -> manifest digest
	addr      string
	srv       *http.Server
}

// newRegistry loads the OCI archives (see ociarchive) and the extra names
// of each, and starts serving.
func newRegistry(archives map[string][]string) (*registry, error) {
	r := &registry{blobs: map[string][]byte{}, manifests: map[string]string{}}
	for path, names := range archives {
		ref, digest, err := r.load(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		for _, n := range append([]string{ref}, names...) {
			repo, tag, err := splitRef(n)
			if err != nil {
				return nil, err
			}
			r.manifests[repo+":"+tag] = digest
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.addr = l.Addr().String()
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve)}
	go r.srv.Serve(l)
	return r, nil
}

func (r *registry) close() { r.srv.Close() }

// load reads one archive's blobs and returns the image's name and its
// manifest's digest.
func (r *registry) load(path string) (string, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	var index ociarchive.Index
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return "", "", err
		}
		switch {
		case h.Name == "index.json":
			if err := json.Unmarshal(b, &index); err != nil {
				return "", "", fmt.Errorf("index.json: %w", err)
			}
		case strings.HasPrefix(h.Name, "blobs/sha256/"):
			r.blobs["sha256:"+strings.TrimPrefix(h.Name, "blobs/sha256/")] = b
		}
	}
	if len(index.Manifests) != 1 {
		return "", "", fmt.Errorf("index.json lists %d manifests, want 1", len(index.Manifests))
	}
	m := index.Manifests[0]
	return m.Annotations[ociarchive.AnnotationContainerd], m.Digest, nil
}

// splitRef splits "registry.k8s.io/pause:3.9" into the repository the
// registry serves ("pause") and the tag ("3.9", "latest" when none).
func splitRef(ref string) (string, string, error) {
	domain, rest, ok := strings.Cut(ref, "/")
	if !ok || !strings.ContainsAny(domain, ".:") {
		return "", "", fmt.Errorf("image name %q has no registry", ref)
	}
	tag := "latest"
	if i := strings.LastIndex(rest, ":"); i > strings.LastIndex(rest, "/") {
		rest, tag = rest[:i], rest[i+1:]
	}
	return rest, tag, nil
}

// serve answers GET and HEAD on /v2/, /v2/<name>/manifests/<tag|digest>
// and /v2/<name>/blobs/<digest>. The mirror's ?ns= (the registry asked
// for) is not needed: one name means one image on every registry here.
func (r *registry) serve(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "read-only registry", http.StatusMethodNotAllowed)
		return
	}
	p := strings.TrimPrefix(req.URL.Path, "/v2/")
	if p == "" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "{}")
		return
	}
	var digest, mediaType string
	if name, ref, ok := cutLast(p, "/manifests/"); ok {
		digest = ref
		if !strings.HasPrefix(ref, "sha256:") {
			digest = r.manifests[name+":"+ref]
		}
		mediaType = ociarchive.MediaTypeManifest
	} else if _, ref, ok := cutLast(p, "/blobs/"); ok {
		digest, mediaType = ref, "application/octet-stream"
	}
	b, ok := r.blobs[digest]
	if digest == "" || !ok {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"not in specguard's test registry"}]}`)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Docker-Content-Digest", digest)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	if req.Method == http.MethodGet {
		w.Write(b)
	}
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(sep):], true
}

// writeHosts writes containerd's registry host configuration (its
// config_path) sending every registry to the mirror at addr.
func writeHosts(dir, addr string) error {
	d := filepath.Join(dir, "_default")
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	hosts := fmt.Sprintf("# Every registry through specguard's test registry (test/critest).\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", addr)
	return os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(hosts), 0o644)
}
