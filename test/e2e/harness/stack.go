package harness

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"
)

// ImageRef is the name the busybox test image is imported under; it is also
// the sandbox image, so no registry is ever contacted.
const ImageRef = "localhost/specguard/busybox:e2e"

// PluginName and PluginIdx are what specguard registers as; the fail-closed
// snippet requires this name.
const (
	PluginName = "specguard"
	PluginIdx  = "90"
)

// Options configure a stack.
type Options struct {
	Tools Tools
	// Dir holds everything but the sockets: containerd's root and state,
	// runc's root, configs, pod logs, daemon logs and the state file.
	// Default: a new directory under /tmp.
	Dir string
	// SockDir holds the sockets. Unix socket paths are limited to 107 bytes
	// and containerd limits the shim socket directory to 42, so it must be
	// short. Default: Dir when that is short enough, else a directory under
	// /tmp derived from Dir.
	SockDir string
	// CgroupParent is the cgroup every pod of the stack is put under, so that
	// cleanup finds and removes them. Default: /specguard-e2e-<base of Dir>.
	CgroupParent string
	// Imports are extra containerd config files merged over the generated
	// one (for example deploy/containerd/fail-closed.toml).
	Imports []string
	// ImageArchive is an OCI archive to import; built from Tools.Busybox
	// when empty.
	ImageArchive string
	// Owner is the pid whose death makes the stack stale (see SweepStale);
	// 0 for a stack meant to outlive its starter, like the demo's.
	Owner int
	// PodNetwork gives pods that do not use the host's network one of
	// their own: a bridge and addresses of the stack's, through the CNI
	// plugins in CNIBinDir, by default Tools.Bin/cni where `make tools`
	// builds them (see podNetwork). Without it (or a configuration of
	// one's own in Dir/cni/net.d) only host-network pods run, as the e2e
	// scenarios' do.
	PodNetwork bool
	// RegistryHosts is containerd's registry host configuration directory
	// (config_path, hosts.toml files per registry), for a mirror; "" for
	// none, when a pull goes to the (unreachable) registry itself.
	RegistryHosts string
	// NRISocket is where containerd serves NRI. Default: SockDir/nri.sock.
	// A Kubernetes node uses the host's /var/run/nri/nri.sock, where the
	// DaemonSet's hostPath volume finds it.
	NRISocket string
	// SystemdCgroup makes runc manage cgroups through systemd, for a node
	// whose kubelet uses the systemd cgroup driver. Default: cgroupfs.
	SystemdCgroup bool
	// CNIBinDir holds the CNI plugins pods without host networking need.
	// Default: Dir/cni/bin, which stays empty (pods use the host network).
	// The network configuration is read from Dir/cni/net.d.
	CNIBinDir string
	// Logf receives progress lines; nil discards them.
	Logf func(format string, args ...any)
}

// State is what a stack records in Dir/stack.json, enough for Cleanup to find
// and stop everything from another process.
type State struct {
	Dir           string   `json:"dir"`
	SockDir       string   `json:"sockDir"`
	CgroupParent  string   `json:"cgroupParent"`
	Owner         int      `json:"owner,omitempty"`
	ContainerdExe string   `json:"containerdExe"`
	ContainerdPid int      `json:"containerdPid,omitempty"`
	ShimExe       string   `json:"shimExe"`
	SpecguardExe  string   `json:"specguardExe"`
	SpecguardPid  int      `json:"specguardPid,omitempty"`
	SpecguardArgs []string `json:"specguardArgs,omitempty"`
	MetricsAddr   string   `json:"metricsAddr,omitempty"`
	CrictlExe     string   `json:"crictlExe"`
	Bridge        string   `json:"bridge,omitempty"` // the pod network's bridge, deleted by Cleanup
	NRISocket     string   `json:"nriSocket,omitempty"`
}

// Stack is a running private containerd, optionally with specguard attached.
type Stack struct {
	Tools        Tools
	Dir          string
	SockDir      string
	CgroupParent string
	Logf         func(format string, args ...any)

	state         State
	imports       []string
	nriSocket     string
	systemdCgroup bool
	cniBinDir     string
	containerd    *daemon
	plugin        *daemon
	seq           int        // numbers the config files written for crictl
	network       podNetwork // zero without Options.PodNetwork
	hosts         string     // Options.RegistryHosts
}

// Paths inside the stack.
func (s *Stack) ConfigPath() string      { return filepath.Join(s.Dir, "containerd.toml") }
func (s *Stack) CrictlConfig() string    { return filepath.Join(s.Dir, "crictl.yaml") }
func (s *Stack) ContainerdLog() string   { return filepath.Join(s.Dir, "containerd.log") }
func (s *Stack) SpecguardLog() string    { return filepath.Join(s.Dir, "specguard.log") }
func (s *Stack) PodLogsDir() string      { return filepath.Join(s.Dir, "pods") }
func (s *Stack) Socket() string          { return filepath.Join(s.SockDir, "containerd.sock") }
func (s *Stack) NRISocket() string       { return s.nriSocket }
func (s *Stack) Endpoint() string        { return "unix://" + s.Socket() }
func (s *Stack) MetricsAddr() string     { return s.state.MetricsAddr }
func (s *Stack) statePath() string       { return filepath.Join(s.Dir, "stack.json") }
func (s *Stack) containerdState() string { return filepath.Join(s.Dir, "state") }
func (s *Stack) containerdRoot() string  { return filepath.Join(s.Dir, "root") }
func (s *Stack) runcRoot() string        { return filepath.Join(s.Dir, "runc") }

// Start creates the stack's directories and config, starts containerd and
// imports the test image. On error everything started is cleaned up again.
func Start(opts Options) (*Stack, error) {
	if err := opts.Tools.Check(); err != nil {
		return nil, err
	}
	if opts.PodNetwork {
		dir := opts.CNIBinDir
		if dir == "" {
			dir = filepath.Join(opts.Tools.Bin, "cni")
		}
		if err := checkPodNetwork(dir); err != nil {
			return nil, err
		}
	}
	s := &Stack{Tools: opts.Tools, Logf: opts.Logf, imports: opts.Imports, hosts: opts.RegistryHosts,
		nriSocket: opts.NRISocket, systemdCgroup: opts.SystemdCgroup, cniBinDir: opts.CNIBinDir}
	if s.Logf == nil {
		s.Logf = func(string, ...any) {}
	}
	var err error
	if opts.Dir == "" {
		if opts.Dir, err = os.MkdirTemp("", "sg-"); err != nil {
			return nil, err
		}
	}
	if s.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	s.SockDir = opts.SockDir
	if s.SockDir == "" {
		s.SockDir = s.Dir
		// The shim sockets are <SockDir>/s/<64 hex>: keep SockDir/s within 42.
		if len(s.Dir) > 38 {
			sum := sha256.Sum256([]byte(s.Dir))
			s.SockDir = "/tmp/sgsock-" + hex.EncodeToString(sum[:4])
		}
	}
	if s.nriSocket == "" {
		s.nriSocket = filepath.Join(s.SockDir, "nri.sock")
	}
	if opts.PodNetwork {
		s.network = newPodNetwork(s.Dir)
		if s.cniBinDir == "" {
			s.cniBinDir = filepath.Join(s.Tools.Bin, "cni")
		}
	}
	if s.cniBinDir == "" {
		s.cniBinDir = filepath.Join(s.Dir, "cni", "bin")
	}
	s.CgroupParent = opts.CgroupParent
	if s.CgroupParent == "" {
		s.CgroupParent = "/specguard-e2e-" + filepath.Base(s.Dir)
	}
	s.state = State{
		Dir:           s.Dir,
		SockDir:       s.SockDir,
		CgroupParent:  s.CgroupParent,
		Owner:         opts.Owner,
		ContainerdExe: s.Tools.Path("containerd"),
		ShimExe:       s.Tools.Path("containerd-shim-runc-v2"),
		SpecguardExe:  s.Tools.Specguard,
		CrictlExe:     s.Tools.Path("crictl"),
		Bridge:        s.network.Bridge,
		NRISocket:     s.nriSocket,
	}
	for _, d := range []string{s.Dir, s.SockDir, s.PodLogsDir(), filepath.Join(s.Dir, "nri", "plugins"),
		filepath.Join(s.Dir, "nri", "conf.d"), filepath.Join(s.Dir, "configs")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := s.saveState(); err != nil {
		return nil, err
	}
	if err := s.start(opts.ImageArchive); err != nil {
		if cerr := s.Down(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
		}
		return nil, err
	}
	return s, nil
}

func (s *Stack) start(archive string) error {
	if err := s.writeConfigs(); err != nil {
		return err
	}
	if err := s.StartContainerd(); err != nil {
		return err
	}
	if archive == "" {
		archive = filepath.Join(s.Dir, "busybox-image.tar")
		if err := WriteBusyboxImageFile(archive, ImageRef, s.Tools.Busybox); err != nil {
			return err
		}
	}
	return s.ImportImage(archive)
}

func (s *Stack) saveState() error { return WriteStateFile(s.statePath(), s.state) }

// WriteStateFile writes v as indented JSON to path, through a temporary
// file renamed over it, so that a reader (a cleanup from another process)
// never sees half a state.
func WriteStateFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ReadStateFile reads a file WriteStateFile wrote into v; an error names
// the file.
func ReadStateFile(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

var containerdConfig = template.Must(template.New("containerd.toml").Parse(`# Private containerd for specguard's e2e tests and demo (generated).
version = 3
root = '{{.Root}}'
state = '{{.State}}'
imports = [{{range $i, $f := .Imports}}{{if $i}}, {{end}}'{{$f}}'{{end}}]

[grpc]
  address = '{{.Socket}}'

[ttrpc]
  address = '{{.Socket}}.ttrpc'

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = 'overlayfs'
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = '{{.Image}}'
{{- if .RegistryHosts}}
    [plugins.'io.containerd.cri.v1.images'.registry]
      config_path = '{{.RegistryHosts}}'
{{- end}}

  [plugins.'io.containerd.cri.v1.runtime']
    # Without CAP_SYS_RESOURCE nothing may lower oom_score_adj below
    # containerd's own: clamp instead of failing the container.
    restrict_oom_score_adj = true
    # Network namespaces inside the stack, so that cleanup finds them.
    netns_mounts_under_state_dir = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = 'runc'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = 'io.containerd.runc.v2'
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = '{{.Runc}}'
          Root = '{{.RuncRoot}}'
          SystemdCgroup = {{.SystemdCgroup}}
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      # e2e pods use the host network and need no CNI plugin; a pod
      # network (Options.PodNetwork) or a Kubernetes node puts the plugins
      # here.
      bin_dirs = ['{{.CNIBinDir}}']
      conf_dir = '{{.Dir}}/cni/net.d'

  [plugins.'io.containerd.grpc.v1.cri']
    stream_server_address = '127.0.0.1'
    stream_server_port = '0'

  [plugins.'io.containerd.nri.v1.nri']
    disable = false
    socket_path = '{{.NRISocket}}'
    plugin_path = '{{.Dir}}/nri/plugins'
    plugin_config_path = '{{.Dir}}/nri/conf.d'

  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = '{{.SockDir}}/s'

  [plugins.'io.containerd.internal.v1.opt']
    path = '{{.Dir}}/opt'

  [plugins.'io.containerd.image-verifier.v1.bindir']
    bin_dir = '{{.Dir}}/opt/image-verifier/bin'
`))

func (s *Stack) writeConfigs() error {
	var b strings.Builder
	err := containerdConfig.Execute(&b, map[string]any{
		"Root":          s.containerdRoot(),
		"State":         s.containerdState(),
		"Imports":       s.imports,
		"Socket":        s.Socket(),
		"Image":         ImageRef,
		"Runc":          s.Tools.Path("runc"),
		"RuncRoot":      s.runcRoot(),
		"Dir":           s.Dir,
		"NRISocket":     s.NRISocket(),
		"SockDir":       s.SockDir,
		"SystemdCgroup": s.systemdCgroup,
		"CNIBinDir":     s.cniBinDir,
		"RegistryHosts": s.hosts,
	})
	if err != nil {
		return err
	}
	if s.network.Bridge != "" {
		if err := s.writeCNIConfig(); err != nil {
			return err
		}
	}
	if err := os.WriteFile(s.ConfigPath(), []byte(b.String()), 0o644); err != nil {
		return err
	}
	crictl := fmt.Sprintf("runtime-endpoint: %s\nimage-endpoint: %s\ntimeout: 30\ndebug: false\npull-image-on-create: false\n",
		s.Endpoint(), s.Endpoint())
	return os.WriteFile(s.CrictlConfig(), []byte(crictl), 0o644)
}

// env is the environment of the daemons: containerd finds the shim on PATH.
func (s *Stack) env() []string {
	env := []string{"PATH=" + s.Tools.Bin + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "SPECGUARD_") {
			env = append(env, kv)
		}
	}
	return env
}

// StartContainerd starts containerd and waits until its CRI service answers.
func (s *Stack) StartContainerd() error {
	if s.containerd != nil && !s.containerd.exited() {
		return errors.New("containerd is already running")
	}
	start := time.Now()
	d, err := startDaemon("containerd", []string{s.Tools.Path("containerd"), "--config", s.ConfigPath()}, s.env(), s.ContainerdLog())
	if err != nil {
		return err
	}
	s.containerd = d
	s.state.ContainerdPid = d.pid()
	if err := s.saveState(); err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if d.exited() {
			return fmt.Errorf("containerd exited (%s) during startup:\n%s", d.exitStatus(), Tail(s.ContainerdLog(), 20))
		}
		if _, err := s.Crictl("version"); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fmt.Errorf("containerd not answering on %s after 30s: %v\n%s", s.Socket(), err, Tail(s.ContainerdLog(), 20))
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.Logf("containerd (pid %d) ready on %s in %v", d.pid(), s.Socket(), time.Since(start).Round(time.Millisecond))
	return nil
}

// StopContainerd stops containerd with SIGTERM; running containers survive.
func (s *Stack) StopContainerd() error {
	if s.containerd == nil {
		return nil
	}
	err := s.containerd.stop(syscall.SIGTERM, 10*time.Second)
	s.state.ContainerdPid = 0
	return errors.Join(err, s.saveState())
}

// RestartContainerd stops and starts containerd with the same config.
func (s *Stack) RestartContainerd() error {
	if err := s.StopContainerd(); err != nil {
		return err
	}
	return s.StartContainerd()
}

// ImportImage imports an OCI archive into the CRI namespace with ctr.
func (s *Stack) ImportImage(archive string) error {
	start := time.Now()
	out, err := exec.Command(s.Tools.Path("ctr"), "-a", s.Socket(), "-n", "k8s.io", "images", "import",
		"--platform", "linux/"+goarch(), archive).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ctr images import %s: %v\n%s", archive, err, out)
	}
	s.Logf("imported %s in %v", filepath.Base(archive), time.Since(start).Round(time.Millisecond))
	return nil
}

// StartPlugin starts specguard as an external NRI plugin on the stack's NRI
// socket with the given policy file ("" for the built-in default policy)
// and extra arguments. It does not wait for the plugin to register: see
// WaitPluginReady.
func (s *Stack) StartPlugin(policy string, extra ...string) error {
	if s.plugin != nil && !s.plugin.exited() {
		return errors.New("specguard is already running")
	}
	addr, err := freeLocalAddr()
	if err != nil {
		return err
	}
	args := []string{s.Tools.Specguard, "run", "--socket-path", s.NRISocket(),
		"--plugin-name", PluginName, "--plugin-idx", PluginIdx, "--metrics-addr", addr}
	if policy != "" {
		abs, err := filepath.Abs(policy)
		if err != nil {
			return err
		}
		args = append(args, "--config", abs)
	}
	args = append(args, extra...)
	d, err := startDaemon("specguard", args, s.env(), s.SpecguardLog())
	if err != nil {
		return err
	}
	s.plugin = d
	s.state.SpecguardPid = d.pid()
	s.state.SpecguardArgs = args
	s.state.MetricsAddr = addr
	s.Logf("specguard (pid %d) started: %s", d.pid(), strings.Join(args[1:], " "))
	return s.saveState()
}

// PluginPid returns the running plugin's pid, 0 when it is not running.
func (s *Stack) PluginPid() int {
	if s.plugin == nil || s.plugin.exited() {
		return 0
	}
	return s.plugin.pid()
}

// PluginExited reports whether the plugin was started and has exited, with
// how it ended.
func (s *Stack) PluginExited() (bool, string) {
	if s.plugin == nil {
		return false, "never started"
	}
	return s.plugin.exited(), s.plugin.exitStatus()
}

// StopPlugin signals specguard (SIGTERM for a clean stop, SIGKILL for a
// crash) and waits for it to exit.
func (s *Stack) StopPlugin(sig syscall.Signal) error {
	if s.plugin == nil {
		return nil
	}
	err := s.plugin.stop(sig, 10*time.Second)
	s.state.SpecguardPid = 0
	return errors.Join(err, s.saveState())
}

// PluginExitCode returns the exit code of the last plugin process, or -1
// while it runs (or when it died by a signal).
func (s *Stack) PluginExitCode() int {
	if s.plugin == nil || !s.plugin.exited() {
		return -1
	}
	return s.plugin.cmd.ProcessState.ExitCode()
}

// Down stops and removes everything the stack started; see Cleanup.
func (s *Stack) Down() error {
	if s.plugin != nil {
		_ = s.plugin.stop(syscall.SIGTERM, 5*time.Second)
	}
	err := Cleanup(s.Dir, s.Logf)
	// Reap our own children that Cleanup terminated by pid.
	for _, d := range []*daemon{s.plugin, s.containerd} {
		if d != nil {
			select {
			case <-d.done:
			case <-time.After(5 * time.Second):
			}
		}
	}
	return err
}

// LoadState reads the state file of the stack in dir.
func LoadState(dir string) (State, error) {
	var st State
	err := ReadStateFile(filepath.Join(dir, "stack.json"), &st)
	return st, err
}

// Cleanup stops and removes the stack recorded in dir/stack.json, by pid
// only, and is safe to repeat: every pod is stopped and removed through CRI
// while containerd answers; specguard and containerd get SIGTERM (then
// SIGKILL); shims found by their pid files and processes left in the stack's
// cgroup are killed; mounts under the stack's directories are unmounted
// deepest first; the cgroup directories and the stack's directories are
// removed. A directory without a state file is left alone.
func Cleanup(dir string, logf func(string, ...any)) error {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	st, err := LoadState(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var errs []error
	if alive(st.ContainerdPid, st.ContainerdExe) {
		errs = append(errs, removeAllPods(st, logf))
	}
	if err := terminate(st.SpecguardPid, st.SpecguardExe, syscall.SIGTERM, 5*time.Second); err != nil {
		errs = append(errs, err)
	}
	if err := terminate(st.ContainerdPid, st.ContainerdExe, syscall.SIGTERM, 10*time.Second); err != nil {
		errs = append(errs, err)
	}
	// Whatever still runs in the stack's cgroup is a container of ours.
	for _, pid := range cgroupPids(st.CgroupParent) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	// Shims outlive containerd; their bundles record their pids.
	shimPids, _ := filepath.Glob(filepath.Join(st.Dir, "state", "io.containerd.runtime.v2.task", "*", "*", "shim.pid"))
	for _, f := range shimPids {
		if err := terminate(readPidFile(f), st.ShimExe, syscall.SIGKILL, 5*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	for _, pid := range cgroupPids(st.CgroupParent) {
		if !waitGone(pid, 5*time.Second) {
			errs = append(errs, fmt.Errorf("container process %d in %s survived SIGKILL", pid, st.CgroupParent))
		}
	}
	if err := unmountAll(st.Dir, st.SockDir); err != nil {
		errs = append(errs, err)
	}
	if err := removeCgroup(st.CgroupParent); err != nil {
		errs = append(errs, err)
	}
	if err := removeBridge(st.Bridge); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		// Keep the state file so that a later cleanup can finish the job.
		return fmt.Errorf("cleanup of %s incomplete: %w", st.Dir, err)
	}
	for _, d := range []string{st.SockDir, st.Dir} {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	logf("cleaned up %s", st.Dir)
	return errors.Join(errs...)
}

// removeAllPods stops and removes every pod through crictl.
func removeAllPods(st State, logf func(string, ...any)) error {
	crictl := func(args ...string) (string, error) {
		out, err := exec.Command(st.CrictlExe, append([]string{"--config", filepath.Join(st.Dir, "crictl.yaml")}, args...)...).Output()
		return string(out), err
	}
	out, err := crictl("pods", "-q")
	if err != nil {
		return nil // containerd not answering: the pid and cgroup steps take over
	}
	for _, id := range strings.Fields(out) {
		if _, err := crictl("stopp", id); err != nil {
			logf("crictl stopp %s: %v", id, err)
		}
		if _, err := crictl("rmp", "-f", id); err != nil {
			logf("crictl rmp %s: %v", id, err)
		}
	}
	return nil
}

// SweepStale cleans up stacks under /tmp whose owner process is gone (a test
// binary killed by a timeout or a signal skips its own cleanup).
func SweepStale(logf func(string, ...any)) error {
	states, _ := filepath.Glob(filepath.Join(os.TempDir(), "sg-*", "stack.json"))
	var errs []error
	for _, f := range states {
		st, err := LoadState(filepath.Dir(f))
		if err != nil || st.Owner == 0 || procState(st.Owner) != "" {
			continue
		}
		if logf != nil {
			logf("cleaning up stale stack %s (owner pid %d gone)", st.Dir, st.Owner)
		}
		errs = append(errs, Cleanup(st.Dir, logf))
	}
	return errors.Join(errs...)
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "  | " + strings.Join(lines, "\n  | ")
}

func freeLocalAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

// Leftovers describes what of a stack still exists after cleanup: daemons,
// mounts, cgroup directories and directories; "" when nothing does.
func Leftovers(st State) string {
	var left []string
	if alive(st.ContainerdPid, st.ContainerdExe) {
		left = append(left, fmt.Sprintf("containerd pid %d", st.ContainerdPid))
	}
	if alive(st.SpecguardPid, st.SpecguardExe) {
		left = append(left, fmt.Sprintf("specguard pid %d", st.SpecguardPid))
	}
	if mounts, _ := mountsUnder(st.Dir, st.SockDir); len(mounts) > 0 {
		left = append(left, "mounts "+strings.Join(mounts, ", "))
	}
	if dirs := cgroupDirs(st.CgroupParent); len(dirs) > 0 {
		left = append(left, "cgroups "+strings.Join(dirs, ", "))
	}
	for _, d := range []string{st.Dir, st.SockDir} {
		if _, err := os.Stat(d); err == nil {
			left = append(left, "directory "+d)
		}
	}
	if st.Bridge != "" {
		if _, err := net.InterfaceByName(st.Bridge); err == nil {
			left = append(left, "bridge "+st.Bridge)
		}
	}
	return strings.Join(left, "; ")
}
