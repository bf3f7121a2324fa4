// Package workload is what specguard's benchmarks feed it: a policy of any
// size whose matched rules stay the same as it grows, and the pod and
// container containerd hands to NRI plugins for a kubelet-created pod,
// built from a Pod manifest through the kubelet-parity code (pkg/kubelet)
// and containerd's NRI view (pkg/criview) rather than written by hand.
package workload

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/criview"
	"github.com/specguard/specguard/pkg/facts"
	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/kubelet/podgen"
	"github.com/specguard/specguard/pkg/policy"
)

// MatchedRules is how many rules of Policy(n) match the request, for any n.
const MatchedRules = 5

// Namespace, PodName and ContainerName identify the benchmark request.
const (
	Namespace     = "shop"
	PodName       = "web-7d9f8c6b5-x2x7q"
	PodUID        = "5d1c2a3e-8f4b-4c6d-9e0f-1a2b3c4d5e6f"
	ContainerName = "web"
	Image         = "registry.example/shop/web:1.4.2"
	LogsDir       = "/var/log/pods"
	sandboxPID    = 4242 // the pause process of the benchmark pod
)

// matched are the rules that apply to the request: env templates (the
// node-level downward API), resource defaults and bounds with an override,
// security checks, a label-selected annotation and an audit-mode bound.
const matched = `  - name: downward-api
    match:
      excludeNamespaces: ["kube-system"]
    env:
      - {name: RESTART_COUNT, value: "{{ .RestartCount }}"}
      - {name: POD_LOG_PATH, value: "{{ .LogPath }}"}
      - {name: POD_QOS_CLASS, value: "{{ .QOSClass }}"}
      - {name: NODE_NAME, value: "{{ .Node.Name }}"}
  - name: shop-resources
    match:
      namespaces: ["shop"]
    annotations:
      add: {shop.example/owner: "{{ .Pod.Labels.team }}"}
    resources:
      cpu:
        shares: {default: 256, min: 2, max: 4096}
        quota: {max: 400000}
      memory:
        limit: {default: 256Mi, max: 2Gi}
      pids:
        limit: {default: 1024, max: 4096}
      rlimits: [{type: RLIMIT_NOFILE, soft: 65536, hard: 65536}]
      onViolation: clamp
    overrides:
      allow: [resources.memory.limit]
  - name: tenant-safety-net
    match:
      namespaces: ["shop", "team-*"]
    security:
      runAsNonRoot: true
      hostNamespaces: deny
      hostPaths: {allow: ["/var/lib/kubelet/pods/**"], deny: ["/var/run/*.sock", "/etc/**"]}
      devices: deny
      sysctls: {}
      seccomp: {unconfined: inject}
  - name: web-tier
    match:
      podLabels: {matchLabels: {app: web}}
      containers: ["web"]
    annotations:
      add: {example.com/tier: frontend}
  - name: image-memory-audit
    mode: audit
    match:
      images: ["registry.example/*"]
    resources:
      memory:
        limit: {max: 1Gi}
`

// Policy returns a policy of n rules (n >= MatchedRules) as YAML: the
// MatchedRules rules above and n-MatchedRules that do not match the
// request. Of those, eight in ten select other namespaces by name (the
// namespace index skips them), one in ten selects namespaces by a glob and
// one in ten selects this namespace but other containers and pod labels,
// so both kinds are evaluated on every request and fail to match.
func Policy(n int) []byte {
	if n < MatchedRules {
		n = MatchedRules
	}
	var b strings.Builder
	b.WriteString("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  mode: enforce\n  node: {podLogsDir: " + LogsDir + "}\n  rules:\n")
	b.WriteString(matched)
	for i := 0; i < n-MatchedRules; i++ {
		switch i % 10 {
		case 8:
			fmt.Fprintf(&b, `  - name: batch-%[1]d
    match:
      namespaces: ["batch-%[1]d-*"]
    env:
      - {name: BATCH_SHARD, value: "{{ .Pod.Name }}-%[1]d"}
    resources:
      memory:
        limit: {default: 512Mi, max: 4Gi}
`, i)
		case 9:
			fmt.Fprintf(&b, `  - name: shop-sidecar-%[1]d
    match:
      namespaces: ["shop"]
      containers: ["sidecar-%[1]d"]
      podLabels: {matchExpressions: [{key: app, operator: In, values: ["api-%[1]d"]}]}
    resources:
      cpu:
        shares: {default: 128}
      pids:
        limit: {max: 512}
`, i)
		default:
			fmt.Fprintf(&b, `  - name: team-%[1]d
    match:
      namespaces: ["team-%[1]d", "team-%[1]d-staging"]
    env:
      - {name: TEAM, value: "team-%[1]d"}
    annotations:
      add: {example.com/cost-center: "cc-%[1]d"}
    resources:
      cpu:
        shares: {default: 512, max: 8192}
      memory:
        limit: {default: 1Gi, max: 8Gi}
      onViolation: clamp
    security:
      runAsNonRoot: true
      hostNamespaces: deny
`, i)
		}
	}
	return []byte(b.String())
}

// MustPolicy parses and compiles Policy(n).
func MustPolicy(n int) *policy.Policy {
	p, err := policy.Parse(fmt.Sprintf("workload-%d.yaml", n), Policy(n))
	if err != nil {
		panic(fmt.Sprintf("workload policy of %d rules: %v", n, err))
	}
	return p
}

// manifest is a Deployment's pod: two labelled containers' worth of
// settings on one, requests and limits (Burstable), a ConfigMap and the
// service account token mounted, non-root with RuntimeDefault seccomp.
const manifest = `apiVersion: v1
kind: Pod
metadata:
  name: {{NAME}}
  namespace: shop
  uid: {{UID}}
  labels: {app: web, team: blue, pod-template-hash: 7d9f8c6b5, app.kubernetes.io/version: 1.4.2}
  annotations:
    kubectl.kubernetes.io/default-container: web
    prometheus.io/scrape: "true"
    prometheus.io/port: "9090"
spec:
  nodeName: node-1
  serviceAccountName: web
  securityContext:
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    fsGroup: 1000
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: web
    image: registry.example/shop/web:1.4.2
    args: ["--listen=:8080", "--metrics=:9090", "--config=/etc/web/config.yaml"]
    ports:
    - {name: http, containerPort: 8080}
    - {name: metrics, containerPort: 9090}
    env:
    - {name: LOG_LEVEL, value: info}
    - {name: GOMAXPROCS, value: "1"}
    - {name: CACHE_SIZE, value: 64Mi}
    - name: POD_IP
      valueFrom: {fieldRef: {fieldPath: status.podIP}}
    resources:
      requests: {cpu: 250m, memory: 256Mi}
      limits: {cpu: "1", memory: 512Mi}
    volumeMounts:
    - {name: config, mountPath: /etc/web}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
  volumes:
  - name: config
    configMap: {name: web-config}
`

// Request returns the pod and container containerd reports to NRI plugins
// at CreateContainer for the manifest's web container at the given restart
// count, with the mounts and environment containerd adds from the image
// and for the sandbox.
func Request(restartCount int) (*api.PodSandbox, *api.Container) {
	return request(PodName, PodUID, "sb-"+PodUID[:8], "ctr-"+PodUID[:8], restartCount)
}

func request(name, uid, sandboxID, containerID string, restartCount int) (*api.PodSandbox, *api.Container) {
	m := strings.NewReplacer("{{NAME}}", name, "{{UID}}", uid).Replace(manifest)
	pod, err := podgen.DecodePod("workload.yaml", []byte(m))
	if err != nil {
		panic(err)
	}
	g, err := podgen.GenerateConfigs(pod, podgen.GenerateOptions{RestartCount: &restartCount, PodLogsDir: LogsDir,
		Node: podgen.NodeConfig{Name: "node-1", PodIPs: []string{"10.244.1.17"}, HostIPs: []string{"192.168.1.10"}}})
	if err != nil {
		panic(err)
	}
	sb := criview.Pod(g.PodSandboxConfig, "runc")
	sb.Id = sandboxID
	c := criview.Container(g.PodSandboxConfig, g.ContainerConfig)
	c.Id, c.PodSandboxId = containerID, sandboxID
	c.Annotations[kubelet.CRISandboxIDAnnotation] = sandboxID
	c.State = api.ContainerState_CONTAINER_CREATED
	// What containerd adds: the image's environment and the sandbox mounts.
	c.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOSTNAME=" + name}, c.Env...)
	sandboxDir := "/run/containerd/io.containerd.grpc.v1.cri/sandboxes/" + sandboxID
	for _, mnt := range []struct{ dst, src string }{
		{"/etc/hosts", "/var/lib/kubelet/pods/" + uid + "/etc-hosts"},
		{"/dev/termination-log", "/var/lib/kubelet/pods/" + uid + "/containers/web/" + strconv.Itoa(restartCount)},
		{"/etc/hostname", sandboxDir + "/hostname"},
		{"/etc/resolv.conf", sandboxDir + "/resolv.conf"},
		{"/dev/shm", sandboxDir + "/shm"},
	} {
		c.Mounts = append(c.Mounts, &api.Mount{Destination: mnt.dst, Source: mnt.src, Type: "bind", Options: []string{"rbind", "rprivate", "rw"}})
	}
	// criview joins the sandbox's namespaces as /proc/1/ns/*, which is the
	// host's (pid 1) to the security checks; a real sandbox has its own pid.
	for _, ns := range c.Linux.Namespaces {
		if rest, ok := strings.CutPrefix(ns.Path, "/proc/1/ns/"); ok {
			ns.Path = "/proc/" + strconv.Itoa(sandboxPID) + "/ns/" + rest
		}
	}
	// containerd's defaults in every container's spec: its mounts and, for
	// RuntimeDefault, the whole seccomp profile (most of the request's size).
	c.Mounts = append(defaultMounts(), c.Mounts...)
	if c.Linux.GetSeccompProfile().GetProfileType() == api.SecurityProfile_RUNTIME_DEFAULT {
		prof, err := facts.RuntimeDefaultSeccomp()
		if err != nil {
			panic(err)
		}
		c.Linux.SeccompPolicy = prof
	}
	c.Linux.CgroupsPath = "kubepods-burstable-pod" + strings.ReplaceAll(uid, "-", "_") + ".slice:cri-containerd:" + containerID
	return sb, c
}

// Fleet returns pods and containers for a node running n containers in
// n/perPod pods, as Synchronize would report them, each container carrying
// the restart count specguard wrote on it.
func Fleet(n, perPod int) ([]*api.PodSandbox, []*api.Container) {
	if perPod < 1 {
		perPod = 1
	}
	var pods []*api.PodSandbox
	var ctrs []*api.Container
	base, proto := Request(0)
	for i := 0; len(ctrs) < n; i++ {
		uid := fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		pod := clonePod(base, fmt.Sprintf("web-%d", i), uid, fmt.Sprintf("sb-%d", i))
		pods = append(pods, pod)
		for j := 0; j < perPod && len(ctrs) < n; j++ {
			c := CloneContainer(proto, pod, fmt.Sprintf("ctr-%d-%d", i, j), fmt.Sprintf("c%d", j), 0)
			c.State = api.ContainerState_CONTAINER_RUNNING
			c.Annotations["specguard.io/restart-count"] = "0"
			ctrs = append(ctrs, c)
		}
	}
	return pods, ctrs
}

func clonePod(p *api.PodSandbox, name, uid, id string) *api.PodSandbox {
	out := &api.PodSandbox{Id: id, Name: name, Uid: uid, Namespace: p.Namespace, RuntimeHandler: p.RuntimeHandler,
		Labels: copyMap(p.Labels), Annotations: copyMap(p.Annotations), Linux: p.Linux}
	out.Labels[kubelet.PodNameLabel], out.Labels[kubelet.PodUIDLabel] = name, uid
	out.Annotations[kubelet.CRISandboxNameAnnotation], out.Annotations[kubelet.CRISandboxUIDAnnotation] = name, uid
	out.Annotations[kubelet.CRISandboxLogDirAnnotation] = kubelet.BuildPodLogsDirectory(LogsDir, p.Namespace, name, uid)
	return out
}

// CloneContainer returns a copy of c as container name (id) of pod at the
// given restart count, with its identity labels and annotations updated.
func CloneContainer(c *api.Container, pod *api.PodSandbox, id, name string, restartCount int) *api.Container {
	out := &api.Container{Id: id, PodSandboxId: pod.Id, Name: name, State: c.State,
		Labels: copyMap(c.Labels), Annotations: copyMap(c.Annotations),
		Args: c.Args, Env: c.Env, Image: c.Image, User: c.User, Linux: c.Linux}
	// The kubelet's and containerd's files for the pod are under its UID
	// and sandbox ID.
	ids := strings.NewReplacer(c.Annotations[kubelet.CRISandboxIDAnnotation], pod.Id, c.Labels[kubelet.PodUIDLabel], pod.Uid)
	for _, m := range c.Mounts {
		out.Mounts = append(out.Mounts, &api.Mount{Destination: m.Destination, Source: ids.Replace(m.Source), Type: m.Type, Options: m.Options})
	}
	out.Labels[kubelet.PodNameLabel], out.Labels[kubelet.PodUIDLabel] = pod.Name, pod.Uid
	out.Labels[kubelet.ContainerNameLabel] = name
	out.Annotations[kubelet.CRISandboxIDAnnotation] = pod.Id
	out.Annotations[kubelet.CRISandboxNameAnnotation], out.Annotations[kubelet.CRISandboxUIDAnnotation] = pod.Name, pod.Uid
	out.Annotations[kubelet.CRIContainerNameAnnotation] = name
	out.Annotations[kubelet.ContainerRestartCountAnnotation] = strconv.Itoa(restartCount)
	return out
}

// defaultMounts are the mounts containerd puts in every container's spec
// before the CRI config's, as NRI reports them.
func defaultMounts() []*api.Mount {
	return []*api.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
		{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
		{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}},
	}
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m)+2)
	for k, v := range m {
		out[k] = v
	}
	return out
}
