package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const unitFile = "systemd/specguard.service"

// unit is a systemd unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not key=value in a section: %q", path, n, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Errorf("[%s] %s set %d times, want once", section, key, len(v))
		return ""
	}
	return v[0]
}

func TestSystemdUnit(t *testing.T) {
	u := parseUnit(t, unitFile)

	for _, key := range []string{"After", "Wants"} {
		if !slices.Contains(strings.Fields(strings.Join(u["Unit"][key], " ")), "containerd.service") {
			t.Errorf("[Unit] %s does not name containerd.service", key)
		}
	}
	// specguard reconnects by itself; tying it to containerd's lifetime
	// would stop it on every containerd restart.
	for _, key := range []string{"PartOf", "BindsTo", "Requires"} {
		if len(u["Unit"][key]) > 0 {
			t.Errorf("[Unit] %s=%v: specguard must outlive a containerd restart", key, u["Unit"][key])
		}
	}

	if got := u.one(t, "Service", "Restart"); got != "always" {
		t.Errorf("Restart=%s, want always", got)
	}
	exec := strings.Fields(u.one(t, "Service", "ExecStart"))
	if len(exec) == 0 || !filepath.IsAbs(exec[0]) || filepath.Base(exec[0]) != "specguard" {
		t.Fatalf("ExecStart %q, want an absolute path to specguard", exec)
	}
	if !slices.Equal(exec[1:], wantArgs) {
		t.Errorf("ExecStart arguments %q, want the DaemonSet's %q", exec[1:], wantArgs)
	}

	// Hardening that keeps the NRI socket reachable: root without any
	// capability, read-only file system (connect works on it), Unix sockets
	// allowed, the host's /var/run visible (no private mount of it).
	want := map[string]string{
		"CapabilityBoundingSet":   "",
		"AmbientCapabilities":     "",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectControlGroups":    "yes",
		"RestrictNamespaces":      "yes",
		"MemoryDenyWriteExecute":  "yes",
		"SystemCallArchitectures": "native",
	}
	for k, v := range want {
		if got := u.one(t, "Service", k); got != v {
			t.Errorf("%s=%q, want %q", k, got, v)
		}
	}
	families := strings.Fields(u.one(t, "Service", "RestrictAddressFamilies"))
	for _, f := range []string{"AF_UNIX", "AF_INET", "AF_INET6"} {
		if !slices.Contains(families, f) {
			t.Errorf("RestrictAddressFamilies %v lacks %s (NRI socket, metrics)", families, f)
		}
	}
	for _, k := range []string{"User", "DynamicUser", "PrivateNetwork", "InaccessiblePaths", "TemporaryFileSystem", "RootDirectory"} {
		if len(u["Service"][k]) > 0 {
			t.Errorf("%s=%v would cut specguard off from the root-owned NRI socket", k, u["Service"][k])
		}
	}
	if got := u.one(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s", got)
	}
}

// TestSystemdUnitVerifies runs systemd's own checker over the unit, with
// ExecStart pointed at a binary that exists here.
func TestSystemdUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("no systemd-analyze (apt-get install systemd)")
	}
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Replace(string(data), "ExecStart=/usr/local/bin/specguard", "ExecStart="+self, 1)
	path := filepath.Join(t.TempDir(), "specguard.service")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	// Only complaints about this unit count; the host may have its own.
	var ours []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "specguard.service") {
			ours = append(ours, line)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, strings.Join(ours, "\n"))
	}
}

// TestImageRecipesAgree keeps the Dockerfile, the engine-free archive
// builder, the make target and the DaemonSet on one image.
func TestImageRecipesAgree(t *testing.T) {
	read := func(p string) string {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	dockerfile := read("image/Dockerfile")
	froms := regexp.MustCompile(`(?m)^FROM[ \t]+(.+)$`).FindAllStringSubmatch(dockerfile, -1)
	if len(froms) == 0 || !strings.HasPrefix(froms[len(froms)-1][1], "scratch") {
		t.Errorf("the Dockerfile's final stage is %v, want FROM scratch", froms)
	}
	for _, want := range []string{"CGO_ENABLED=0", `ENTRYPOINT ["/specguard"]`, `CMD ["run"]`, "COPY --from=build /out/specguard /specguard"} {
		if !strings.Contains(dockerfile, want) {
			t.Errorf("the Dockerfile lacks %q", want)
		}
	}
	builder := read("image/main.go")
	for _, want := range []string{`Entrypoint:   []string{"/" + binaryPathInImage}`, `Cmd:          []string{"run"}`, `binaryPathInImage     = "specguard"`} {
		if !strings.Contains(builder, want) {
			t.Errorf("deploy/image/main.go lacks %q: it no longer builds the Dockerfile's image", want)
		}
	}

	// make image-archive names the image the DaemonSet runs, so an imported
	// archive is what the pods start.
	mk := read("../mk/deploy.mk")
	m := regexp.MustCompile(`(?m)^IMAGE \?= (\S+)$`).FindStringSubmatch(mk)
	if m == nil {
		t.Fatal("mk/deploy.mk sets no IMAGE default")
	}
	ds := decodeFile(t, "base/daemonset.yaml").daemonSets[0]
	if img := ds.Spec.Template.Spec.Containers[0].Image; img != m[1] {
		t.Errorf("the DaemonSet runs %s, make image-archive builds %s", img, m[1])
	}
	if !strings.Contains(builder, `defaultImageReference = "`+m[1]+`"`) {
		t.Errorf("deploy/image/main.go's default name is not %s", m[1])
	}
}
