package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func goarch() string { return runtime.GOARCH }

// CrictlError is a failed crictl command with what it printed on stderr
// (where the runtime's refusal reasons appear).
type CrictlError struct {
	Args   []string
	Err    error
	Stderr string
}

func (e *CrictlError) Error() string {
	return fmt.Sprintf("crictl %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Stderr))
}

func (e *CrictlError) Unwrap() error { return e.Err }

// Crictl runs crictl against the stack and returns its standard output.
func (s *Stack) Crictl(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Tools.Path("crictl"), append([]string{"--config", s.CrictlConfig()}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &CrictlError{Args: args, Err: err, Stderr: stderr.String()}
	}
	return stdout.String(), nil
}

// CrictlCommand is the crictl command line a person types to reach the
// stack, for the demo's hints.
func (s *Stack) CrictlCommand() string {
	return fmt.Sprintf("%s --runtime-endpoint %s --image-endpoint %s", s.Tools.Path("crictl"), s.Endpoint(), s.Endpoint())
}

// Pod describes a pod for PodConfig.
type Pod struct {
	Name, Namespace, UID string // UID defaults to a random one
	Labels, Annotations  map[string]string
}

// NewUID returns a random pod UID in the Kubernetes form.
func NewUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// PodConfig returns the CRI PodSandboxConfig (in the JSON form crictl runp
// reads) the kubelet would send for p: the kubelet's identity labels, log
// directory <pods>/<ns>_<name>_<uid>, host network (no CNI needed, so no
// hostname either) and the stack's cgroup parent.
func (s *Stack) PodConfig(p Pod) map[string]any {
	if p.UID == "" {
		p.UID = NewUID()
	}
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	labels := map[string]string{}
	for k, v := range p.Labels {
		labels[k] = v
	}
	labels["io.kubernetes.pod.name"] = p.Name
	labels["io.kubernetes.pod.namespace"] = p.Namespace
	labels["io.kubernetes.pod.uid"] = p.UID
	annotations := map[string]string{}
	for k, v := range p.Annotations {
		annotations[k] = v
	}
	return map[string]any{
		"metadata":      map[string]any{"name": p.Name, "namespace": p.Namespace, "uid": p.UID, "attempt": 0},
		"log_directory": s.PodLogDir(p.Namespace, p.Name, p.UID),
		"labels":        labels,
		"annotations":   annotations,
		"linux": map[string]any{
			"cgroup_parent": s.CgroupParent,
			"security_context": map[string]any{
				"namespace_options": namespaceOptions(),
			},
		},
	}
}

// PodLogDir is the kubelet's pod log directory under the stack's pod logs dir.
func (s *Stack) PodLogDir(namespace, name, uid string) string {
	return filepath.Join(s.PodLogsDir(), namespace+"_"+name+"_"+uid)
}

// namespaceOptions are the kubelet's for a host-network pod without a
// shared process namespace: network NODE (2), pid CONTAINER (1), so that
// /proc/1 in a container is the container's own first process.
func namespaceOptions() map[string]any {
	return map[string]any{"network": 2, "pid": 1}
}

// Container describes a container for ContainerConfig.
type Container struct {
	Name        string
	Attempt     int
	Command     []string // default: the image's (sleep until SIGTERM)
	Env         map[string]string
	Labels      map[string]string
	Annotations map[string]string
	// Resources is the CRI LinuxContainerResources in JSON form
	// (cpu_shares, memory_limit_in_bytes, oom_score_adj, ...).
	Resources map[string]any
	// SecurityContext is the CRI LinuxContainerSecurityContext in JSON form.
	SecurityContext map[string]any
	// Extra sets further ContainerConfig fields (mounts, devices, ...) in
	// JSON form; it is applied last.
	Extra map[string]any
}

// ContainerConfig returns the CRI ContainerConfig (in the JSON form crictl
// create reads) for c in the pod described by podConfig, shaped like the
// kubelet's: its four identity labels, log path <name>/<attempt>.log and the
// pod's namespace options. It
// sets no io.kubernetes.container.restartCount annotation unless c does, so
// that specguard's own restart tracking decides.
func (s *Stack) ContainerConfig(podConfig map[string]any, c Container) map[string]any {
	md := podConfig["metadata"].(map[string]any)
	labels := map[string]string{}
	for k, v := range c.Labels {
		labels[k] = v
	}
	labels["io.kubernetes.pod.name"] = fmt.Sprint(md["name"])
	labels["io.kubernetes.pod.namespace"] = fmt.Sprint(md["namespace"])
	labels["io.kubernetes.pod.uid"] = fmt.Sprint(md["uid"])
	labels["io.kubernetes.container.name"] = c.Name
	cfg := map[string]any{
		"metadata":    map[string]any{"name": c.Name, "attempt": c.Attempt},
		"image":       map[string]any{"image": ImageRef},
		"log_path":    fmt.Sprintf("%s/%d.log", c.Name, c.Attempt),
		"labels":      labels,
		"annotations": c.Annotations,
	}
	if len(c.Command) > 0 {
		cfg["command"] = c.Command
	}
	var env []map[string]string
	for k, v := range c.Env {
		env = append(env, map[string]string{"key": k, "value": v})
	}
	if env != nil {
		cfg["envs"] = env
	}
	linux := map[string]any{}
	if c.Resources != nil {
		linux["resources"] = c.Resources
	}
	sc := map[string]any{}
	for k, v := range c.SecurityContext {
		sc[k] = v
	}
	if _, ok := sc["namespace_options"]; !ok {
		sc["namespace_options"] = namespaceOptions()
	}
	linux["security_context"] = sc
	cfg["linux"] = linux
	for k, v := range c.Extra {
		cfg[k] = v
	}
	return cfg
}

// writeConfig writes a config for crictl into the stack's configs directory.
func (s *Stack) writeConfig(kind string, v any) (string, error) {
	s.seq++
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(s.Dir, "configs", fmt.Sprintf("%03d-%s.json", s.seq, kind))
	return path, os.WriteFile(path, b, 0o644)
}

// RunPod runs a pod sandbox (crictl runp) and returns its id.
func (s *Stack) RunPod(podConfig map[string]any) (string, error) {
	path, err := s.writeConfig("pod", podConfig)
	if err != nil {
		return "", err
	}
	out, err := s.Crictl("runp", path)
	return strings.TrimSpace(out), err
}

// CreateContainer creates a container (crictl create) and returns its id; a
// refusal comes back as a *CrictlError carrying the runtime's message.
func (s *Stack) CreateContainer(podID string, ctrConfig, podConfig map[string]any) (string, error) {
	cpath, err := s.writeConfig("container", ctrConfig)
	if err != nil {
		return "", err
	}
	ppath, err := s.writeConfig("pod", podConfig)
	if err != nil {
		return "", err
	}
	out, err := s.Crictl("create", podID, cpath, ppath)
	return strings.TrimSpace(out), err
}

// RunContainer creates and starts a container.
func (s *Stack) RunContainer(podID string, ctrConfig, podConfig map[string]any) (string, error) {
	id, err := s.CreateContainer(podID, ctrConfig, podConfig)
	if err != nil {
		return "", err
	}
	if _, err := s.Crictl("start", id); err != nil {
		return id, err
	}
	return id, nil
}

// Exec runs a command in a running container (crictl exec --sync) and
// returns its standard output.
func (s *Stack) Exec(id string, argv ...string) (string, error) {
	return s.Crictl(append([]string{"exec", "--sync", "--timeout", "20", id}, argv...)...)
}

// ContainerInspect is the part of `crictl inspect` the tests read.
type ContainerInspect struct {
	Status struct {
		ID          string            `json:"id"`
		State       string            `json:"state"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
		LogPath     string            `json:"logPath"`
		Metadata    struct {
			Name    string `json:"name"`
			Attempt int    `json:"attempt"`
		} `json:"metadata"`
	} `json:"status"`
	Info struct {
		Pid         int        `json:"pid"`
		RuntimeSpec specs.Spec `json:"runtimeSpec"`
	} `json:"info"`
}

// Inspect returns `crictl inspect` of a container.
func (s *Stack) Inspect(id string) (*ContainerInspect, error) {
	out, err := s.Crictl("inspect", "-o", "json", id)
	if err != nil {
		return nil, err
	}
	var ci ContainerInspect
	if err := json.Unmarshal([]byte(out), &ci); err != nil {
		return nil, fmt.Errorf("crictl inspect %s: %w", id, err)
	}
	return &ci, nil
}

// Env returns the environment of the container's process (from the runtime
// spec) as a map.
func (ci *ContainerInspect) Env() map[string]string {
	env := map[string]string{}
	if ci.Info.RuntimeSpec.Process != nil {
		for _, kv := range ci.Info.RuntimeSpec.Process.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
	}
	return env
}

// ParseEnv turns `env` output into a map.
func ParseEnv(out string) map[string]string {
	env := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			env[k] = v
		}
	}
	return env
}

// RemoveContainer force-removes a container and, like the kubelet, its log
// files.
func (s *Stack) RemoveContainer(id string) error {
	_, err := s.Crictl("rm", "-f", id)
	return err
}

// RemoveContainerKeepLogs force-removes a container but keeps its log files
// in the pod's log directory.
func (s *Stack) RemoveContainerKeepLogs(id string) error {
	_, err := s.Crictl("rm", "-f", "--keep-logs", id)
	return err
}

// StopContainer stops a container (SIGTERM, then SIGKILL after timeout seconds).
func (s *Stack) StopContainer(id string, timeout int) error {
	_, err := s.Crictl("stop", "--timeout", fmt.Sprint(timeout), id)
	return err
}

// RemovePod stops and removes a pod with its containers.
func (s *Stack) RemovePod(id string) error {
	_, err1 := s.Crictl("stopp", id)
	_, err2 := s.Crictl("rmp", "-f", id)
	return errors.Join(err1, err2)
}

// AnnotationRestartCount is the annotation specguard writes on every
// container it adjusts; WaitPluginReady looks for it.
const AnnotationRestartCount = "specguard.io/restart-count"

// WaitPluginReady waits until specguard adjusts new containers, by creating
// probe containers in a probe pod until one carries specguard's restart-count
// annotation. It fails early when the plugin process exits. A creation that
// fails (fail-closed while the plugin is away) is retried.
func (s *Stack) WaitPluginReady(timeout time.Duration) error {
	start := time.Now()
	pod := s.PodConfig(Pod{Name: "specguard-probe", Namespace: "specguard-probe", UID: "00000000-0000-4000-8000-000000000001"})
	podID, err := s.ensurePod(pod)
	if err != nil {
		return fmt.Errorf("probe pod: %w", err)
	}
	var last error
	for attempt := 0; ; attempt++ {
		if exited, how := s.PluginExited(); exited {
			return fmt.Errorf("specguard exited (%s):\n%s", how, Tail(s.SpecguardLog(), 30))
		}
		id, err := s.CreateContainer(podID, s.ContainerConfig(pod, Container{Name: "probe"}), pod)
		if err == nil {
			ci, ierr := s.Inspect(id)
			_ = s.RemoveContainer(id)
			if ierr != nil {
				return ierr
			}
			if _, ok := ci.Info.RuntimeSpec.Annotations[AnnotationRestartCount]; ok {
				s.Logf("specguard adjusts containers (%v, %d probes)", time.Since(start).Round(time.Millisecond), attempt+1)
				return nil
			}
			last = errors.New("probe container created without specguard's annotations")
		} else {
			last = err
		}
		if time.Since(start) > timeout {
			return fmt.Errorf("specguard not adjusting containers after %v: %v\n%s", timeout, last, Tail(s.SpecguardLog(), 30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// ensurePod returns the id of the running pod with podConfig's name and
// namespace, running it when there is none.
func (s *Stack) ensurePod(podConfig map[string]any) (string, error) {
	md := podConfig["metadata"].(map[string]any)
	out, err := s.Crictl("pods", "-q", "--name", fmt.Sprint(md["name"]), "--namespace", fmt.Sprint(md["namespace"]), "--state", "ready")
	if err != nil {
		return "", err
	}
	if ids := strings.Fields(out); len(ids) > 0 {
		return ids[0], nil
	}
	return s.RunPod(podConfig)
}
