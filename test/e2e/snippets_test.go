package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The containerd snippets under deploy/containerd parse, merge over a
// config as imports, and yield the intended settings (containerd's own
// `config dump` of the merged result).
func TestContainerdSnippets(t *testing.T) {
	requireEnv(t)
	cases := map[string][]string{
		"nri.toml": {
			"disable = false",
			"socket_path = '/var/run/nri/nri.sock'",
			"plugin_registration_timeout = '5s'",
			"plugin_request_timeout = '2s'",
		},
		"fail-closed.toml": {
			"[plugins.'io.containerd.nri.v1.nri'.default_validator]",
			"enable = true",
			"required_plugins = ['specguard']",
		},
	}
	for name, want := range cases {
		t.Run(name, func(t *testing.T) {
			snippet := filepath.Join(suite.root, "deploy", "containerd", name)
			main := filepath.Join(t.TempDir(), "config.toml")
			// A config of its own, like a node's, that imports the snippet.
			cfg := "version = 3\nroot = '/var/lib/containerd'\nimports = ['" + snippet + "']\n" +
				"[plugins.'io.containerd.nri.v1.nri']\n  plugin_path = '/opt/nri/plugins'\n"
			if err := os.WriteFile(main, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(suite.tools.Path("containerd"), "--config", main, "config", "dump").CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, out)
			}
			nri := section(string(out), "[plugins.'io.containerd.nri.v1.nri']")
			for _, w := range want {
				if !strings.Contains(nri, w) {
					t.Errorf("merged NRI config lacks %q:\n%s", w, nri)
				}
			}
			if !strings.Contains(nri, "plugin_path = '/opt/nri/plugins'") {
				t.Errorf("importing %s dropped the main config's NRI settings:\n%s", name, nri)
			}
		})
	}
}

// section returns the lines of a TOML dump from header to the next table
// that is not nested under it.
func section(dump, header string) string {
	i := strings.Index(dump, header)
	if i < 0 {
		return ""
	}
	prefix := strings.TrimSuffix(header, "]")
	var b strings.Builder
	for n, line := range strings.Split(dump[i:], "\n") {
		trimmed := strings.TrimSpace(line)
		if n > 0 && strings.HasPrefix(trimmed, "[") && !strings.HasPrefix(trimmed, prefix) {
			break
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}
