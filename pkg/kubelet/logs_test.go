package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestBuildPodLogsDirectory(t *testing.T) {
	cases := map[string]struct {
		root, ns, name, uid, want string
	}{
		"default root": {"", "default", "web", "1234", "/var/log/pods/default_web_1234"},
		"custom root":  {"/data/pods/", "team-a", "api-0", "u-1", "/data/pods/team-a_api-0_u-1"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if got := BuildPodLogsDirectory(tc.root, tc.ns, tc.name, tc.uid); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestContainerLogPaths(t *testing.T) {
	dir := "/var/log/pods/default_web_1234"
	if got, want := BuildContainerLogPath(dir, "app", 3), "/var/log/pods/default_web_1234/app/3.log"; got != want {
		t.Errorf("BuildContainerLogPath = %q, want %q", got, want)
	}
	if got, want := ContainerLogFile("app", 0), "app/0.log"; got != want {
		t.Errorf("ContainerLogFile = %q, want %q", got, want)
	}
}

func TestRestartCountFromLogDir(t *testing.T) {
	cases := map[string]struct {
		files []string // names ending in "/" are directories
		want  int
	}{
		"empty":                {nil, 0},
		"first run":            {[]string{"0.log"}, 1},
		"several":              {[]string{"0.log", "1.log", "2.log"}, 3},
		"gap":                  {[]string{"0.log", "7.log"}, 8},
		"rotated":              {[]string{"4.log.20060102-150405", "3.log"}, 5},
		"rotated gz":           {[]string{"9.log.20060102-150405.gz"}, 10},
		"subdirectory ignored": {[]string{"12.log/", "1.log"}, 2},
		"junk ignored":         {[]string{"app.log", "x1.log", "1.txt", ".5.log", "log", "3log"}, 0},
		"prefix match":         {[]string{"6.logfoo"}, 7},
		"leading zeros":        {[]string{"007.log"}, 8},
		"overflow ignored":     {[]string{"99999999999999999999999.log", "2.log"}, 3},
		"int32 edge ignored":   {[]string{"2147483647.log", "1.log"}, 2},
		"int32 edge minus one": {[]string{"2147483646.log"}, 2147483647},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			pod := t.TempDir()
			cdir := filepath.Join(pod, "app")
			if err := os.MkdirAll(cdir, 0o755); err != nil {
				t.Fatal(err)
			}
			for _, f := range tc.files {
				p := filepath.Join(cdir, f)
				if f[len(f)-1] == '/' {
					if err := os.Mkdir(p, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				if err := os.WriteFile(p, nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := RestartCountFromLogDir(pod, "app")
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("RestartCountFromLogDir = %d, want %d", got, tc.want)
			}
		})
	}
}

// Issue 17: a container name that is not one path component must not make
// the fallback read another directory: the pod's siblings, its parent, or
// anywhere else.
func TestRestartCountFromLogDirConfined(t *testing.T) {
	root := t.TempDir()
	pod := filepath.Join(root, "pods", "ns_web_uid")
	mkLogs(t, filepath.Join(pod, "app"), "3.log")
	mkLogs(t, filepath.Join(root, "pods"), "7.log")
	mkLogs(t, filepath.Join(root, "pods", "other_pod_uid"), "7.log")
	mkLogs(t, pod, "7.log")
	for _, name := range []string{"..", ".", "../other_pod_uid", "app/..", "../../pods/other_pod_uid", "", "a\x00b", strings.Repeat("a", 256)} {
		n, err := RestartCountFromLogDir(pod, name)
		if n != 0 || err == nil || !strings.Contains(err.Error(), "not a single path component") {
			t.Errorf("%q: got %d, %v; want 0 and an error", name, n, err)
		}
	}
	if n, err := RestartCountFromLogDir(pod, "app"); n != 4 || err != nil {
		t.Errorf("app: got %d, %v; want 4", n, err)
	}
}

func TestRestartCountFromMissingDir(t *testing.T) {
	got, err := RestartCountFromLogDir(filepath.Join(t.TempDir(), "nope"), "app")
	if err != nil || got != 0 {
		t.Errorf("missing dir: got %d, %v; want 0, nil", got, err)
	}
}

func TestRestartCountFromFileNotDir(t *testing.T) {
	pod := t.TempDir()
	if err := os.WriteFile(filepath.Join(pod, "app"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := RestartCountFromLogDir(pod, "app"); err == nil {
		t.Error("want an error when the container log dir is a file")
	}
}

func TestParseRestartCount(t *testing.T) {
	cases := map[string]struct {
		in   string
		want int
		ok   bool
	}{
		"zero":       {"0", 0, true},
		"small":      {"5", 5, true},
		"max int32":  {"2147483647", 2147483647, true},
		"over int32": {"2147483648", 0, false},
		"negative":   {"-1", 0, false},
		"plus sign":  {"+1", 0, false},
		"empty":      {"", 0, false},
		"space":      {" 1", 0, false},
		"hex":        {"0x1", 0, false},
		"huge":       {"999999999999999999999999", 0, false},
		"leading 0s": {"007", 7, true},
		"float":      {"1.0", 0, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			got, ok := ParseRestartCount(tc.in)
			if got != tc.want || ok != tc.ok {
				t.Errorf("ParseRestartCount(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func mkLogs(t *testing.T, dir string, names ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzLogDirConfined: whatever the container name, the log-directory
// fallback counts only <pod log dir>/<name>/ for a name that is one path
// element: the log files planted in the pod's directory, its parent and a
// sibling pod's never count.
func FuzzLogDirConfined(f *testing.F) {
	root := f.TempDir()
	pod := filepath.Join(root, "pods", "ns_web_uid")
	for dir, file := range map[string]string{
		filepath.Join(pod, "app"):   "3.log",
		pod:                         "7.log",
		filepath.Join(root, "pods"): "7.log",
		filepath.Join(root, "pods", "other_pod_id"): "7.log",
		root: "7.log",
	} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			f.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file), nil, 0o644); err != nil {
			f.Fatal(err)
		}
	}
	for _, s := range []string{"app", "..", ".", "../other_pod_id", "app/..", "../..", "", "./app"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		n, err := RestartCountFromLogDir(pod, name)
		switch {
		case name == "app" && (n != 4 || err != nil):
			t.Fatalf("app: got %d, %v; want 4", n, err)
		case name != "app" && n != 0:
			t.Fatalf("%q: counted %d from outside <pod>/%s", name, n, name)
		case !IsPathComponent(name) && err == nil:
			t.Fatalf("%q: no error for a name that is not a path element", name)
		}
	})
}
