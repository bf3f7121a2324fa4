package cluster

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	admissionv1 "k8s.io/api/admissionregistration/v1"

	"github.com/specguard/specguard/test/cluster/node"
)

// The admission policies deploy/base ships, and what they guard.
const (
	tolerationPolicy = "specguard-tolerate-missing-nri-plugins"
	subPathPolicy    = "specguard-hostpath-subpath"
	toleration       = "tolerate-missing-nri-plugins.noderesource.dev"
	subPathExemption = "specguard.io/hostpath-subpath"
)

// create runs `kubectl create -f -` on a manifest, with extra flags (such as
// --dry-run=server, which runs admission and stores nothing), and returns
// kubectl's output with its error.
func (c *cluster) create(manifest string, flags ...string) (string, error) {
	args := append([]string{"--kubeconfig", c.n.Kubeconfig(), "create", "-f", "-"}, flags...)
	cmd := exec.Command(filepath.Join(c.n.Tools.KubeBin, "kubectl"), args...)
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// refused asserts that the API server refuses manifest with policy's
// message, naming every string in want. The policies take effect a moment
// after they are created, so it waits for a server-side dry run to be
// refused first, then creates the pod for real.
func (c *cluster) refused(manifest, policy string, want ...string) {
	c.t.Helper()
	if err := eventually(time.Minute, time.Second, func() error {
		if out, err := c.create(manifest, "--dry-run=server"); err == nil {
			return fmt.Errorf("admitted: %s", out)
		}
		return nil
	}); err != nil {
		c.t.Fatalf("policy %s never refused the pod: %v\n%s", policy, err, manifest)
	}
	out, err := c.create(manifest)
	if err == nil {
		c.t.Fatalf("the API server admitted a pod policy %s must refuse: %s\n%s", policy, out, manifest)
	}
	for _, w := range append([]string{"ValidatingAdmissionPolicy '" + policy + "'", "denied request"}, want...) {
		if !strings.Contains(out, w) {
			c.t.Errorf("the refusal does not say %q:\n%s", w, out)
		}
	}
	c.t.Logf("refused: %s", strings.TrimSpace(out))
}

// admitted asserts that the API server admits manifest (server-side dry
// run: admission runs, nothing is stored), created with extra kubectl flags.
func (c *cluster) admitted(manifest string, flags ...string) {
	c.t.Helper()
	if err := eventually(30*time.Second, time.Second, func() error {
		if out, err := c.create(manifest, append([]string{"--dry-run=server"}, flags...)...); err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}); err != nil {
		c.t.Fatalf("the API server refused a pod it must admit: %v\n%s", err, manifest)
	}
}

// admission: deploy/'s ValidatingAdmissionPolicies, installed by the same
// `kubectl apply -k`, type-check on the real API server and decide:
// the fail-closed toleration annotation only in specguard-system, hostPath
// volumes never with subPath or subPathExpr outside exempt namespaces.
func (c *cluster) admission() {
	for _, name := range []string{tolerationPolicy, subPathPolicy} {
		c.policyTypeChecked(name)
	}

	// The toleration annotation, in the forms containerd's validator reads.
	annotated := func(ns, name, key string) string {
		m := strings.Replace(podManifest(name, "sleep 3600", ""), "  namespace: "+testNS+"\n",
			fmt.Sprintf("  namespace: %s\n  annotations: {%s: \"true\"}\n", ns, key), 1)
		if !strings.Contains(m, key) {
			c.t.Fatalf("annotated manifest lacks %s:\n%s", key, m)
		}
		return m
	}
	for _, key := range []string{toleration, toleration + "/container.c", toleration + "/pod"} {
		c.refused(annotated(testNS, "tolerated", key), tolerationPolicy, "annotation "+key, "reserved for specguard-system")
	}
	if out, err := c.n.Kubectl("-n", testNS, "get", "pod", "tolerated", "-o", "name"); err == nil {
		c.t.Errorf("a refused pod exists: %s", out)
	}
	// Added later, by an update: refused too; other updates pass.
	c.apply(podManifest("adm-plain", "sleep 3600", ""))
	if out, err := c.n.Kubectl("-n", testNS, "annotate", "pod", "adm-plain", toleration+"=true"); err == nil ||
		!strings.Contains(err.Error(), tolerationPolicy) {
		c.t.Errorf("annotating a running pod with %s: %v %s, want a refusal by %s", toleration, err, out, tolerationPolicy)
	}
	c.kubectl("-n", testNS, "annotate", "pod", "adm-plain", "example.com/other=1")
	c.kubectl("-n", testNS, "delete", "pod", "adm-plain", "--wait=false")

	// specguard's namespace may: its own DaemonSet pod carries the
	// annotation and runs, and another pod there is admitted.
	p, err := c.n.SpecguardPod()
	if err != nil {
		c.t.Fatal(err)
	}
	if v := p.Annotations[toleration]; v != "true" {
		c.t.Errorf("specguard's pod %s carries %s=%q, want \"true\"", p.Name, toleration, v)
	}
	c.t.Logf("specguard's pod %s runs with %s=%q", p.Name, toleration, p.Annotations[toleration])
	c.admitted(annotated(node.Namespace, "tolerated", toleration))

	// A kubelet's mirror pod of an annotated static pod is admitted; the
	// mirror annotation alone, from anyone else, is not enough.
	mirror := strings.Replace(annotated(testNS, "static-tolerated", toleration), "  annotations: {",
		"  annotations: {kubernetes.io/config.mirror: mirror-hash, ", 1)
	mirror = strings.Replace(mirror, "spec:\n", "spec:\n  nodeName: "+node.Name+"\n", 1)
	c.refused(mirror, tolerationPolicy, "annotation "+toleration)
	c.admitted(mirror, "--as", "system:node:"+node.Name, "--as-group", "system:nodes", "--as-group", "system:authenticated")

	// hostPath with subPath or subPathExpr (in an init container too) is
	// refused; the same volume without subPath is admitted and, the test
	// policy not denying it, runs.
	hostDir := fmt.Sprintf("/tmp/sg-e2e-hostpath-%d", os.Getpid())
	c.t.Cleanup(func() { _ = os.RemoveAll(hostDir) })
	volume := fmt.Sprintf("  volumes: [{name: host, hostPath: {path: %s, type: DirectoryOrCreate}}]\n", hostDir)
	subPath := podManifest("host-subpath", "sleep 3600",
		"      volumeMounts: [{name: host, mountPath: /host, subPath: sub}]\n"+volume)
	c.refused(subPath, subPathPolicy, "hostPath volume host ("+hostDir+")", "subPath or subPathExpr", "volume-subpaths")
	subPathExpr := strings.Replace(podManifest("host-subpathexpr", "sleep 3600", volume), "  containers:\n",
		"  initContainers:\n    - {name: init, image: "+image+", imagePullPolicy: Never, command: [\"true\"],"+
			" volumeMounts: [{name: host, mountPath: /host, subPathExpr: $(POD_NAME)}],"+
			" env: [{name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]}\n  containers:\n", 1)
	c.refused(subPathExpr, subPathPolicy, "hostPath volume host ("+hostDir+")")
	c.apply(podManifest("host-nosubpath", "sleep 3600", "      volumeMounts: [{name: host, mountPath: /host}]\n"+volume))
	c.waitPodReady("host-nosubpath", time.Minute)
	c.kubectl("-n", testNS, "delete", "pod", "host-nosubpath", "--wait=false")

	// Scoping: a namespace labelled exempt admits it.
	const exempt = testNS + "-subpath-exempt"
	c.apply(fmt.Sprintf("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels: {%s: allow}\n", exempt, subPathExemption))
	c.t.Cleanup(func() { _, _ = c.n.Kubectl("delete", "namespace", exempt, "--wait=false") })
	c.admitted(strings.Replace(subPath, "  namespace: "+testNS+"\n", "  namespace: "+exempt+"\n", 1))
}

// policyTypeChecked waits until the API server has type-checked a policy
// and asserts it found nothing wrong (a misspelled field in an expression is
// only a warning in the policy's status, not an error at creation).
func (c *cluster) policyTypeChecked(name string) {
	c.t.Helper()
	var vap admissionv1.ValidatingAdmissionPolicy
	if err := eventually(time.Minute, time.Second, func() error {
		out, err := c.n.Kubectl("get", "validatingadmissionpolicy", name, "-o", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(out), &vap); err != nil {
			return err
		}
		if vap.Status.ObservedGeneration != vap.Generation || vap.Status.TypeChecking == nil {
			return fmt.Errorf("not type-checked yet: %+v", vap.Status)
		}
		return nil
	}); err != nil {
		c.t.Fatalf("policy %s: %v", name, err)
	}
	for _, w := range vap.Status.TypeChecking.ExpressionWarnings {
		c.t.Errorf("policy %s: %s: %s", name, w.FieldRef, w.Warning)
	}
	if out, err := c.n.Kubectl("get", "validatingadmissionpolicybinding", name, "-o", "name"); err != nil {
		c.t.Errorf("policy %s has no binding of that name: %v %s", name, err, out)
	}
}
