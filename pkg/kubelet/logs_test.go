package kubelet

import (
	"os"
	"path/filepath"
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
