package engine

import (
	"path"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
)

// FuzzLogPath: random container names, pod identities and sandbox log
// directories, as a crictl user can send them. A log path, when one is
// written, is <the pod's log directory>/<the container name as one path
// element>/<count>.log, already clean: the pod's log directory is the
// sandbox's (cleaned) or a single element under podLogsDir.
func FuzzLogPath(f *testing.F) {
	f.Add("ns", "web", "uid", "../../../../etc/cron.d/x", "", false, uint16(0))
	f.Add("ns", "x/../../../etc", "uid", "app", "", false, uint16(1))
	f.Add("ns", "web", "uid", "app", "/var/log/pods//ns_web_uid/", true, uint16(2))
	f.Add("ns", "web", "uid", "..", "/var/log/pods/ns_web_uid", true, uint16(3))
	f.Add("ns", "web", "uid", "app", "logs", true, uint16(0))
	p, err := policy.Parse("fuzz.yaml", []byte("apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n  node: {podLogsDir: /var/log/pods}\n  rules:\n  - name: env\n    env: [{name: LOG, value: \"{{ .LogPath }}\"}]\n"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, ns, name, uid, ctr, sandboxDir string, hasDir bool, count uint16) {
		pod := &api.PodSandbox{Name: name, Namespace: ns, Uid: uid, Annotations: map[string]string{}}
		if hasDir {
			pod.Annotations[kubelet.CRISandboxLogDirAnnotation] = sandboxDir
		}
		d := Decide(p, &Request{Pod: pod, Container: &api.Container{Name: ctr}, Facts: Facts{Restart: restarts.Assignment{Count: int(count)}}})
		valid := true // what NRI can deliver
		for _, s := range []string{ns, name, uid, ctr, sandboxDir} {
			valid = valid && utf8.ValidString(s)
		}
		if valid {
			checkReply(t, d)
		}
		lp, ok := annotation(d, "specguard.io/log-path")
		if lp != d.LogPath {
			t.Fatalf("annotation %q, decision %q", lp, d.LogPath)
		}
		if !ok {
			return
		}
		if env, _ := envOfAdj(d, "LOG"); d.Allowed && env != lp {
			t.Fatalf("env LOG %q, log path %q", env, lp)
		}
		if path.Clean(lp) != lp || !path.IsAbs(lp) || path.Base(lp) != strconv.Itoa(int(count))+".log" {
			t.Fatalf("log path %q is not a clean <dir>/<name>/%d.log", lp, count)
		}
		if got := path.Base(path.Dir(lp)); got != ctr {
			t.Fatalf("log path %q: container element %q, want the name %q itself", lp, got, ctr)
		}
		dir := path.Dir(path.Dir(lp))
		if hasDir && sandboxDir != "" {
			if dir != path.Clean(sandboxDir) {
				t.Fatalf("log path %q is not in the sandbox's log directory %q", lp, sandboxDir)
			}
		} else if path.Dir(dir) != "/var/log/pods" || path.Base(dir) != ns+"_"+name+"_"+uid {
			t.Fatalf("log path %q is not in /var/log/pods/%s_%s_%s", lp, ns, name, uid)
		}
	})
}
