// Package node runs a single-node Kubernetes on this machine for specguard's
// cluster tests and `make cluster`: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler and a kubelet (v1.37.2, built from
// the Go module proxy, see test/tools/kube) on the private containerd of
// test/e2e/harness, with certificates made at start, every server on
// 127.0.0.1 and all state under one directory. Everything it starts is
// recorded by pid in Dir/node.json so that Cleanup, from any process, stops
// it and removes what it left (also after a killed run).
package node

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/specguard/specguard/test/e2e/harness"
)

// Name is the node's name. The kubelet listens on 127.0.0.1 only and the
// API server reaches it by the node's Hostname address, so the name must
// resolve there; the kubelet refuses a loopback node IP.
const Name = "localhost"

// NRISocket is where a node's containerd serves NRI: the host path the
// DaemonSet in deploy/ mounts.
const NRISocket = "/var/run/nri/nri.sock"

// PodLogsDir is the kubelet's default pod log directory, which the
// DaemonSet mounts for the restart-count fallback.
const PodLogsDir = "/var/log/pods"

// Tools are the binaries a node runs.
type Tools struct {
	harness.Tools        // containerd, shim, ctr, crictl, runc, specguard, busybox
	KubeBin       string // kubelet, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, etcd
	CNIBin        string // the CNI plugins bridge, host-local, loopback (make tools)
}

// KubeBinaries are the programs Tools.KubeBin must hold.
var kubeBinaries = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"}

var cniPlugins = []string{"bridge", "host-local", "loopback"}

// DefaultTools returns the tools where `make cluster-tools build` puts them.
func DefaultTools(root string) Tools {
	t := Tools{Tools: harness.DefaultTools(root)}
	t.KubeBin = t.Bin
	t.CNIBin = filepath.Join(t.Bin, "cni") // built by hack/tools.sh
	return t
}

// Check reports every missing binary with the command that provides it.
func (t Tools) Check() error {
	errs := []error{t.Tools.Check()}
	for _, b := range kubeBinaries {
		if !executable(filepath.Join(t.KubeBin, b)) {
			errs = append(errs, fmt.Errorf("missing %s (run `make cluster-tools`)", filepath.Join(t.KubeBin, b)))
		}
	}
	for _, b := range cniPlugins {
		if !executable(filepath.Join(t.CNIBin, b)) {
			errs = append(errs, fmt.Errorf("missing CNI plugin %s (run `make tools`)", filepath.Join(t.CNIBin, b)))
		}
	}
	return errors.Join(errs...)
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0
}

// Options configure a node.
type Options struct {
	Tools Tools
	Dir   string // all state; must be absolute or is made so
	// Owner is the pid whose death makes the node stale (0: it outlives
	// its starter, as `make cluster`'s does).
	Owner int
	Logf  func(format string, args ...any)
}

// Proc is one process the node started.
type Proc struct {
	Name string `json:"name"`
	Exe  string `json:"exe"`
	Pid  int    `json:"pid"`
}

// State is what Dir/node.json records.
type State struct {
	Dir          string `json:"dir"`
	StackDir     string `json:"stackDir"`
	Owner        int    `json:"owner,omitempty"`
	Procs        []Proc `json:"procs"`
	KubeletRoot  string `json:"kubeletRoot"`
	CgroupParent string `json:"cgroupParent"`
	Kubeconfig   string `json:"kubeconfig"`
	APIServer    string `json:"apiServer"`
	KubeletPort  int    `json:"kubeletPort"`
}

// Node is a running single-node cluster.
type Node struct {
	Tools Tools
	Dir   string
	Stack *harness.Stack
	Logf  func(format string, args ...any)

	pki     *pki
	state   State
	daemons map[string]*harness.Daemon
	cgroup  cgroupSetup
}

// Paths.
func (n *Node) Kubeconfig() string { return filepath.Join(n.Dir, "admin.kubeconfig") }
func (n *Node) LogPath(name string) string {
	return filepath.Join(n.Dir, "logs", name+".log")
}
func (n *Node) statePath() string   { return filepath.Join(n.Dir, "node.json") }
func (n *Node) kubeletRoot() string { return filepath.Join(n.Dir, "kubelet") }
func (n *Node) StackDir() string    { return filepath.Join(n.Dir, "containerd") }

// cgroupSetup is the host's cgroup driver and version, which the kubelet
// and runc must share.
type cgroupSetup struct {
	version int
	systemd bool
}

// detectCgroups reads the host's setup: cgroup v2 when /sys/fs/cgroup is a
// unified hierarchy; the systemd driver when systemd is the init system.
func detectCgroups() cgroupSetup {
	c := cgroupSetup{version: harness.CgroupVersion()}
	if st, err := os.Stat("/run/systemd/system"); err == nil && st.IsDir() {
		c.systemd = true
	}
	return c
}

func (c cgroupSetup) driver() string {
	if c.systemd {
		return "systemd"
	}
	return "cgroupfs"
}

// parent is the cgroup the kubelet puts every pod under.
func (c cgroupSetup) parent() string {
	if c.systemd {
		return "/kubepods.slice"
	}
	return "/kubepods"
}

// CheckHost reports why this machine cannot run a node.
func CheckHost() error {
	errs := []error{harness.CheckHost()}
	if conn, err := net.DialTimeout("unix", NRISocket, time.Second); err == nil {
		_ = conn.Close()
		errs = append(errs, fmt.Errorf("%s is served by another containerd: a node's containerd needs it (stop that containerd or `make cluster-down`)", NRISocket))
	}
	return errors.Join(errs...)
}

// Start brings the node up: containerd, etcd, the control plane and the
// kubelet, and waits until the node is Ready. On error everything started
// is stopped again.
func Start(ctx context.Context, opts Options) (*Node, error) {
	if err := opts.Tools.Check(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, err
	}
	// A node left in dir by a killed run, or by an earlier `make cluster`.
	if err := Cleanup(dir, opts.Logf); err != nil {
		return nil, fmt.Errorf("cleaning up the previous node in %s: %w", dir, err)
	}
	if err := CheckHost(); err != nil {
		return nil, err
	}
	n := &Node{Tools: opts.Tools, Dir: dir, Logf: opts.Logf, daemons: map[string]*harness.Daemon{}, cgroup: detectCgroups()}
	if n.Logf == nil {
		n.Logf = func(string, ...any) {}
	}
	n.state = State{Dir: dir, StackDir: n.StackDir(), Owner: opts.Owner, KubeletRoot: n.kubeletRoot(),
		CgroupParent: n.cgroup.parent(), Kubeconfig: n.Kubeconfig()}
	for _, d := range []string{dir, filepath.Join(dir, "logs"), n.kubeletRoot(), filepath.Join(n.StackDir(), "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	if err := n.save(); err != nil {
		return nil, err
	}
	if err := n.start(ctx, opts.Owner); err != nil {
		if cerr := n.Down(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed start: %w", cerr))
		}
		return nil, err
	}
	return n, nil
}

func (n *Node) save() error { return harness.WriteStateFile(n.statePath(), n.state) }

// ports the node's servers listen on, all on 127.0.0.1.
type ports struct {
	etcd, etcdPeer, apiserver, kubelet, kubeletHealthz, controllerManager, scheduler int
}

func freePorts(k int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	var ps []int
	for range k {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ps = append(ps, l.Addr().(*net.TCPAddr).Port)
	}
	return ps, nil
}

func (n *Node) start(ctx context.Context, owner int) error {
	t0 := time.Now()
	ps, err := freePorts(7)
	if err != nil {
		return err
	}
	p := ports{ps[0], ps[1], ps[2], ps[3], ps[4], ps[5], ps[6]}
	n.state.APIServer = "https://127.0.0.1:" + strconv.Itoa(p.apiserver)
	n.state.KubeletPort = p.kubelet
	if err := n.makePKI(); err != nil {
		return fmt.Errorf("certificates: %w", err)
	}
	n.Logf("certificates made in %s", filepath.Join(n.Dir, "pki"))

	if err := n.startContainerd(owner); err != nil {
		return err
	}
	if err := n.startEtcd(ctx, p); err != nil {
		return err
	}
	if err := n.startAPIServer(ctx, p); err != nil {
		return err
	}
	if err := n.startControllers(p); err != nil {
		return err
	}
	if err := n.startKubelet(p); err != nil {
		return err
	}
	if err := n.waitReady(ctx); err != nil {
		return err
	}
	n.Logf("node %s Ready in %v (cgroup %s v%d)", Name, time.Since(t0).Round(100*time.Millisecond), n.cgroup.driver(), n.cgroup.version)
	return nil
}

func (n *Node) makePKI() error {
	p, err := newPKI(filepath.Join(n.Dir, "pki"))
	if err != nil {
		return err
	}
	n.pki = p
	loop := []net.IP{net.ParseIP("127.0.0.1")}
	specs := []certSpec{
		{name: "apiserver", cn: "kube-apiserver", server: true,
			ips: append(loop, net.ParseIP("10.96.0.1")),
			dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}},
		{name: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}},
		{name: "controller-manager", cn: "system:kube-controller-manager"},
		{name: "scheduler", cn: "system:kube-scheduler"},
		{name: "kubelet", cn: "system:node:" + Name, orgs: []string{"system:nodes"}},
		{name: "kubelet-serving", cn: Name, server: true, ips: loop, dns: []string{Name}},
	}
	for _, s := range specs {
		if err := p.issue(s); err != nil {
			return err
		}
	}
	if err := p.serviceAccountKey(); err != nil {
		return err
	}
	for _, k := range []struct{ file, user string }{
		{n.Kubeconfig(), "admin"},
		{filepath.Join(n.Dir, "controller-manager.kubeconfig"), "controller-manager"},
		{filepath.Join(n.Dir, "scheduler.kubeconfig"), "scheduler"},
		{filepath.Join(n.Dir, "kubelet.kubeconfig"), "kubelet"},
	} {
		if err := p.kubeconfig(k.file, n.state.APIServer, k.user); err != nil {
			return err
		}
	}
	return nil
}

// cniConfig is a bridge network for pods that do not use the host's: the
// host reaches pod IPs through the bridge (the kubelet's probes), pods reach
// the host. No masquerading: nothing here leaves the machine.
const cniConfig = `{
  "cniVersion": "1.0.0",
  "name": "specguard-node",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "sgnode0",
      "isGateway": true,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "ranges": [[{"subnet": "10.244.0.0/24"}]],
        "routes": [{"dst": "0.0.0.0/0"}]
      }
    }
  ]
}
`

func (n *Node) startContainerd(owner int) error {
	if err := os.WriteFile(filepath.Join(n.StackDir(), "cni", "net.d", "10-specguard-node.conflist"), []byte(cniConfig), 0o644); err != nil {
		return err
	}
	s, err := harness.Start(harness.Options{
		Tools:         n.Tools.Tools,
		Dir:           n.StackDir(),
		CgroupParent:  n.cgroup.parent(),
		NRISocket:     NRISocket,
		SystemdCgroup: n.cgroup.systemd,
		CNIBinDir:     n.Tools.CNIBin,
		Owner:         owner,
		Logf:          n.Logf,
	})
	if err != nil {
		return fmt.Errorf("containerd: %w", err)
	}
	n.Stack = s
	return nil
}

// run starts one of the node's daemons and records it.
func (n *Node) run(name string, args ...string) (*harness.Daemon, error) {
	exe := filepath.Join(n.Tools.KubeBin, name)
	d, err := harness.StartDaemon(name, append([]string{exe}, args...), n.Stack.Env(), n.LogPath(name))
	if err != nil {
		return nil, err
	}
	n.daemons[name] = d
	n.state.Procs = append(n.state.Procs, Proc{Name: name, Exe: exe, Pid: d.Pid()})
	return d, n.save()
}

// waitFor polls check until it succeeds, the daemon exits or the timeout.
func (n *Node) waitFor(ctx context.Context, d *harness.Daemon, what string, timeout time.Duration, check func() error) error {
	t0 := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if d != nil && d.Exited() {
			return fmt.Errorf("%s: the process exited (%s):\n%s", what, d.ExitStatus(), harness.Tail(n.LogPath(filepath.Base(what)), 25))
		}
		if last = check(); last == nil {
			n.Logf("%s ready in %v", what, time.Since(t0).Round(10*time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %v", what, timeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (n *Node) startEtcd(ctx context.Context, p ports) error {
	client := "http://127.0.0.1:" + strconv.Itoa(p.etcd)
	peer := "http://127.0.0.1:" + strconv.Itoa(p.etcdPeer)
	d, err := n.run("etcd", "--name", "node", "--data-dir", filepath.Join(n.Dir, "etcd"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "node="+peer, "--log-level", "warn")
	if err != nil {
		return err
	}
	return n.waitFor(ctx, d, "etcd", 30*time.Second, func() error {
		resp, err := http.Get(client + "/health")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/health: %s", resp.Status)
		}
		return nil
	})
}

// adminClient is an HTTPS client with the admin's certificate.
func (n *Node) adminClient() (*http.Client, error) {
	return n.AdminClient(5 * time.Second)
}

// AdminClient is an HTTPS client with the cluster admin's certificate,
// trusting the node's CA: it reaches the API server (APIServer) and the
// kubelet (KubeletURL, which authenticates by that CA and allows all).
// A timeout of 0 is none (for watches).
func (n *Node) AdminClient(timeout time.Duration) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(n.pki.certFile("admin"), n.pki.keyFile("admin"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(n.pki.caCert)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}}}, nil
}

// APIServer is the API server's URL.
func (n *Node) APIServer() string { return n.state.APIServer }

// KubeletURL is the kubelet's HTTPS endpoint (its /metrics, /pods).
func (n *Node) KubeletURL() string { return "https://127.0.0.1:" + strconv.Itoa(n.state.KubeletPort) }

func (n *Node) startAPIServer(ctx context.Context, p ports) error {
	k := n.pki
	d, err := n.run("kube-apiserver",
		"--etcd-servers", "http://127.0.0.1:"+strconv.Itoa(p.etcd),
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(p.apiserver),
		"--advertise-address", "127.0.0.1",
		// The default reconciler refuses a loopback address for the
		// kubernetes Service's endpoints; nothing here needs them.
		"--endpoint-reconciler-type", "none",
		"--cert-dir", filepath.Join(n.Dir, "apiserver"),
		"--tls-cert-file", k.certFile("apiserver"), "--tls-private-key-file", k.keyFile("apiserver"),
		"--client-ca-file", k.caFile(),
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file", filepath.Join(k.dir, "sa.pub"),
		"--service-account-signing-key-file", k.keyFile("sa"),
		"--authorization-mode", "Node,RBAC",
		"--allow-privileged=true",
		"--kubelet-client-certificate", k.certFile("apiserver-kubelet-client"),
		"--kubelet-client-key", k.keyFile("apiserver-kubelet-client"),
		"--kubelet-certificate-authority", k.caFile(),
		"--kubelet-preferred-address-types", "Hostname",
		"--profiling=false")
	if err != nil {
		return err
	}
	hc, err := n.adminClient()
	if err != nil {
		return err
	}
	return n.waitFor(ctx, d, "kube-apiserver", 90*time.Second, func() error {
		resp, err := hc.Get(n.state.APIServer + "/readyz")
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	})
}

func (n *Node) startControllers(p ports) error {
	cm := filepath.Join(n.Dir, "controller-manager.kubeconfig")
	if _, err := n.run("kube-controller-manager",
		"--kubeconfig", cm, "--authentication-kubeconfig", cm, "--authorization-kubeconfig", cm,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(p.controllerManager),
		"--leader-elect=false",
		// Each controller acts as its own service account, with the
		// bootstrap RBAC roles made for it (as kubeadm runs it).
		"--use-service-account-credentials=true",
		"--service-account-private-key-file", n.pki.keyFile("sa"),
		"--root-ca-file", n.pki.caFile(),
		"--cluster-name", "specguard-node",
		"--controllers", "*,-bootstrapsigner,-tokencleaner,-nodeipam"); err != nil {
		return err
	}
	sc := filepath.Join(n.Dir, "scheduler.kubeconfig")
	_, err := n.run("kube-scheduler",
		"--kubeconfig", sc, "--authentication-kubeconfig", sc, "--authorization-kubeconfig", sc,
		"--bind-address", "127.0.0.1", "--secure-port", strconv.Itoa(p.scheduler),
		"--leader-elect=false")
	return err
}

func (n *Node) kubeletConfig(p ports) string {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization:
  mode: AlwaysAllow
containerRuntimeEndpoint: %s
cgroupDriver: %s
failSwapOn: false
podLogsDir: %s
clusterDomain: cluster.local
resolvConf: /etc/resolv.conf
# Fast ConfigMap propagation for the policy-reload scenarios.
syncFrequency: 10s
# Crash-looping containers restart every 2s instead of backing off to 5m
# (KubeletCrashLoopBackOffMax, beta and on in 1.37): the restart-count
# scenarios watch many attempts.
crashLoopBackOff:
  maxContainerRestartPeriod: 2s
# This machine's disk and memory are shared with the tests: evict only when
# really short, so that a full build cache does not evict the pods.
evictionHard:
  memory.available: 50Mi
  nodefs.available: "1%%"
  imagefs.available: "1%%"
  nodefs.inodesFree: "1%%"
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
`, p.kubelet, p.kubeletHealthz, n.pki.certFile("kubelet-serving"), n.pki.keyFile("kubelet-serving"),
		n.pki.caFile(), n.Stack.Endpoint(), n.cgroup.driver(), PodLogsDir)
	if n.cgroup.version == 1 {
		// Kubernetes 1.35+ refuses cgroup v1 unless told otherwise.
		b.WriteString("failCgroupV1: false\n")
	}
	return b.String()
}

func (n *Node) startKubelet(p ports) error {
	cfg := filepath.Join(n.Dir, "kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(n.kubeletConfig(p)), 0o644); err != nil {
		return err
	}
	_, err := n.run("kubelet", "--config", cfg,
		"--kubeconfig", filepath.Join(n.Dir, "kubelet.kubeconfig"),
		"--root-dir", n.kubeletRoot(),
		"--hostname-override", Name,
		"--v", "2")
	return err
}

// nodeStatus is the part of a Node object waitReady reads.
type nodeStatus struct {
	Status struct {
		Conditions []struct {
			Type, Status, Reason, Message string
		} `json:"conditions"`
	} `json:"status"`
}

// WaitNodeReady waits until the node reports Ready (after a containerd
// restart, say).
func (n *Node) WaitNodeReady(timeout time.Duration) error {
	return n.waitFor(context.Background(), n.daemons["kubelet"], "kubelet", timeout, n.nodeReady)
}

func (n *Node) nodeReady() error {
	out, err := n.Kubectl("get", "node", Name, "-o", "json")
	if err != nil {
		return err
	}
	var ns nodeStatus
	if err := json.Unmarshal([]byte(out), &ns); err != nil {
		return err
	}
	for _, c := range ns.Status.Conditions {
		if c.Type == "Ready" {
			if c.Status == "True" {
				return nil
			}
			return fmt.Errorf("node %s not Ready: %s: %s", Name, c.Reason, c.Message)
		}
	}
	return fmt.Errorf("node %s has no Ready condition yet", Name)
}

func (n *Node) waitReady(ctx context.Context) error {
	if err := n.waitFor(ctx, n.daemons["kubelet"], "kubelet", 120*time.Second, n.nodeReady); err != nil {
		return err
	}
	// Pods need their namespace's default service account, which the
	// controller manager creates.
	return n.waitFor(ctx, n.daemons["kube-controller-manager"], "kube-controller-manager", 60*time.Second, func() error {
		_, err := n.Kubectl("get", "serviceaccount", "default", "-n", "default")
		return err
	})
}

// Kubectl runs kubectl as the cluster admin and returns its standard output;
// the error carries standard error.
func (n *Node) Kubectl(args ...string) (string, error) {
	return Kubectl(n.Tools.KubeBin, n.Kubeconfig(), "", args...)
}

// KubectlIn is Kubectl run in a directory (for `apply -k` of relative paths).
func (n *Node) KubectlIn(dir string, args ...string) (string, error) {
	return Kubectl(n.Tools.KubeBin, n.Kubeconfig(), dir, args...)
}

// Kubectl runs the kubectl in bin against a kubeconfig.
func Kubectl(bin, kubeconfig, dir string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(bin, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...)
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}

// Down stops everything the node started and removes its state; see Cleanup.
func (n *Node) Down() error {
	err := Cleanup(n.Dir, n.Logf)
	for _, d := range n.daemons {
		select {
		case <-d.Done():
		case <-time.After(5 * time.Second):
		}
	}
	return err
}

// LoadState reads the state file of the node in dir.
func LoadState(dir string) (State, error) {
	var st State
	err := harness.ReadStateFile(filepath.Join(dir, "node.json"), &st)
	return st, err
}

// Cleanup stops the node recorded in dir/node.json by pid and removes what
// it left: the kubelet first (so that it restarts nothing), then the pods
// and containerd (harness.Cleanup, which also removes the pods' cgroups),
// the control plane and etcd, the kubelet's mounts, the pods' log
// directories under /var/log/pods, and dir itself. Safe to repeat; a
// directory without a state file is left alone.
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
	stop := func(name string) {
		for _, p := range st.Procs {
			if p.Name == name {
				if err := harness.Terminate(p.Pid, p.Exe, syscall.SIGTERM, 10*time.Second); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	stop("kubelet")
	logDirs := podLogDirs(st)
	if err := harness.Cleanup(st.StackDir, logf); err != nil {
		errs = append(errs, err)
	}
	for _, name := range []string{"kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"} {
		stop(name)
	}
	if err := harness.UnmountAll(st.KubeletRoot); err != nil {
		errs = append(errs, err)
	}
	for _, d := range logDirs {
		if err := os.RemoveAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cleanup of node %s incomplete: %w", dir, err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	logf("node in %s cleaned up", dir)
	return nil
}

// podLogDirs lists the kubelet's log directories of the pods this node's
// containerd knows (<ns>_<name>_<uid>), found by the pod UIDs in its
// sandbox state.
func podLogDirs(st State) []string {
	entries, err := os.ReadDir(PodLogsDir)
	if err != nil {
		return nil
	}
	uids := map[string]bool{}
	pods, _ := filepath.Glob(filepath.Join(st.KubeletRoot, "pods", "*"))
	for _, p := range pods {
		uids[filepath.Base(p)] = true
	}
	var dirs []string
	for _, e := range entries {
		name := e.Name()
		if i := strings.LastIndexByte(name, '_'); i >= 0 && uids[name[i+1:]] {
			dirs = append(dirs, filepath.Join(PodLogsDir, name))
		}
	}
	return dirs
}

// SweepStale cleans up the node in dir when the process that started it is
// gone (a test binary killed by a timeout or a signal).
func SweepStale(dir string, logf func(string, ...any)) error {
	st, err := LoadState(dir)
	if err != nil || !harness.OwnerGone(st.Owner) {
		return nil
	}
	return Cleanup(dir, logf)
}
