package engine

import (
	"errors"
	"strings"
	"testing"

	"github.com/containerd/nri/pkg/api"
)

const validationPolicy = `  validation:
    trustedPlugins: ["05-gpu-*", "30-dra"]
    denyHooks: true
    denyHostMounts: true
    denyDevices: true
    denySeccomp: true
    denyNamespaces: true
  rules:
  - name: sec
    match: {namespaces: [team-a]}
    security:
      seccomp: {unconfined: inject}
      maskedPaths: [/etc/shadow, /sys/firmware]
`

// adjusted builds a validation request as the runtime does: each plugin's
// changes merged into one adjustment, each field claimed by its owner.
type adjusted struct {
	req *api.ValidateContainerAdjustmentRequest
}

func newAdjusted(c *api.Container) *adjusted {
	return &adjusted{req: &api.ValidateContainerAdjustmentRequest{
		Pod: secPod(), Container: c, Adjust: &api.ContainerAdjustment{}, Owners: api.NewOwningPlugins(),
	}}
}

func (a *adjusted) id() string { return a.req.Container.Id }

func (a *adjusted) mount(plugin string, m *api.Mount) *adjusted {
	a.req.Adjust.AddMount(m)
	a.req.Owners.ClaimMount(a.id(), m.Destination, plugin)
	return a
}

func (a *adjusted) hook(plugin, path string) *adjusted {
	a.req.Adjust.AddHooks(&api.Hooks{Prestart: []*api.Hook{{Path: path}}})
	a.req.Owners.ClaimHooks(a.id(), plugin)
	return a
}

func (a *adjusted) device(plugin string, d *api.LinuxDevice) *adjusted {
	a.req.Adjust.AddDevice(d)
	a.req.Owners.ClaimDevice(a.id(), d.Path, plugin)
	return a
}

func (a *adjusted) cdi(plugin, name string) *adjusted {
	a.req.Adjust.AddCDIDevice(&api.CDIDevice{Name: name})
	a.req.Owners.ClaimCdiDevice(a.id(), name, plugin)
	return a
}

func (a *adjusted) seccomp(plugin string, s *api.LinuxSeccomp) *adjusted {
	a.req.Adjust.SetLinuxSeccompPolicy(s)
	a.req.Owners.ClaimSeccompPolicy(a.id(), plugin)
	return a
}

func (a *adjusted) namespace(plugin string, ns *api.LinuxNamespace, remove bool) *adjusted {
	if remove {
		a.req.Adjust.RemoveNamespace(ns)
	} else {
		a.req.Adjust.AddOrReplaceNamespace(ns)
	}
	a.req.Owners.ClaimNamespace(a.id(), ns.Type, plugin)
	return a
}

func unconfinedContainer() *api.Container {
	c := secContainer()
	c.Linux.SeccompProfile, c.Linux.SeccompPolicy = nil, nil
	return c
}

// specguardOwn adds what specguard's policy adds to an unconfined
// container of team-a, owned by specguard.
func (a *adjusted) specguardOwn(t *testing.T) *adjusted {
	prof := testNode.RuntimeDefaultSeccomp
	for _, p := range []string{"/etc/shadow", "/sys/firmware"} {
		m, _ := MaskMount(p)
		a.mount("90-specguard", m)
	}
	return a.seccomp("90-specguard", prof)
}

func TestValidateAdjustment(t *testing.T) {
	p := mustPolicy(t, validationPolicy)
	for name, tc := range map[string]struct {
		build func(*adjusted)
		want  []string // substrings of the error; nil: allowed
	}{
		"nothing": {build: func(*adjusted) {}},
		"specguard's own masks and seccomp": {
			build: func(a *adjusted) { a.specguardOwn(t) },
		},
		"an OCI hook": {
			build: func(a *adjusted) { a.hook("10-hooker", "/usr/local/bin/evil") },
			want:  []string{`plugin "10-hooker" adds OCI hooks (prestart /usr/local/bin/evil) (hooks, validation.denyHooks)`},
		},
		"hooks from two plugins name both": {
			build: func(a *adjusted) { a.hook("10-a", "/a").hook("20-b", "/b") },
			want:  []string{`plugin "10-a" adds OCI hooks`, `plugin "20-b" adds OCI hooks`},
		},
		"a host mount": {
			build: func(a *adjusted) { a.specguardOwn(t).mount("10-mounter", bindMount("/host", "/var/run")) },
			want:  []string{`plugin "10-mounter" mounts host path /var/run (mounts[/host], validation.denyHostMounts)`},
		},
		"a tmpfs is not a host mount": {
			build: func(a *adjusted) {
				a.mount("10-mounter", &api.Mount{Destination: "/scratch", Type: "tmpfs", Source: "tmpfs"})
			},
		},
		"this pod's kubelet directory is not a host mount": {
			build: func(a *adjusted) {
				a.mount("10-mounter", bindMount("/extra", "/var/lib/kubelet/pods/"+secPod().Uid+"/volumes/x/y"))
			},
		},
		"a mount like specguard's but elsewhere": {
			build: func(a *adjusted) { a.mount("10-mounter", bindMount("/etc/passwd", "/dev/null")) },
			want:  []string{`plugin "10-mounter" mounts host path /dev/null (mounts[/etc/passwd]`},
		},
		"a device": {
			build: func(a *adjusted) { a.device("10-dev", &api.LinuxDevice{Path: "/dev/sda", Type: "b", Major: 8}) },
			want:  []string{`plugin "10-dev" adds device /dev/sda (b 8:0) (devices[/dev/sda], validation.denyDevices)`},
		},
		"a CDI device": {
			build: func(a *adjusted) { a.cdi("10-dev", "vendor.com/dev=1") },
			want:  []string{`plugin "10-dev" adds CDI device vendor.com/dev=1`},
		},
		"a trusted plugin's device, by index and name": {
			build: func(a *adjusted) {
				a.device("05-gpu-plugin", &api.LinuxDevice{Path: "/dev/nvidia0", Type: "c", Major: 195})
			},
		},
		"a trusted plugin's CDI device": {
			build: func(a *adjusted) { a.cdi("30-dra", "nvidia.com/gpu=0") },
		},
		// NRI names a plugin "<index>-<name>" and does not authenticate
		// either: a plugin that registers the trusted name at another index,
		// or a name that starts with the trusted index, is not trusted.
		"the trusted name at another index": {
			build: func(a *adjusted) { a.cdi("95-dra", "nvidia.com/gpu=0") },
			want:  []string{`plugin "95-dra" adds CDI device nvidia.com/gpu=0`},
		},
		"a look-alike name carrying the trusted index": {
			build: func(a *adjusted) { a.cdi("95-30-dra", "nvidia.com/gpu=0") },
			want:  []string{`plugin "95-30-dra" adds CDI device nvidia.com/gpu=0`},
		},
		"another seccomp policy": {
			build: func(a *adjusted) { a.seccomp("10-sec", &api.LinuxSeccomp{DefaultAction: "SCMP_ACT_ALLOW"}) },
			want:  []string{`plugin "10-sec" sets a seccomp policy (default action SCMP_ACT_ALLOW, 0 syscall rules) (linux.seccompPolicy, validation.denySeccomp)`},
		},
		"a namespace replaced": {
			build: func(a *adjusted) {
				a.namespace("10-ns", &api.LinuxNamespace{Type: "network", Path: "/proc/1/ns/net"}, false)
			},
			want: []string{`plugin "10-ns" replaces the network namespace with /proc/1/ns/net (linux.namespaces[network], validation.denyNamespaces)`},
		},
		"a namespace removed": {
			build: func(a *adjusted) { a.namespace("10-ns", &api.LinuxNamespace{Type: "pid"}, true) },
			want:  []string{`plugin "10-ns" removes the pid namespace (joins the host's)`},
		},
		"no owners reported": {
			build: func(a *adjusted) { a.hook("10-hooker", "/x"); a.req.Owners = nil },
			want:  []string{`plugin "<unknown plugin>" adds OCI hooks`},
		},
	} {
		t.Run(name, func(t *testing.T) {
			a := newAdjusted(unconfinedContainer())
			tc.build(a)
			findings, err := ValidateAdjustmentAs(p, a.req, Validator{Node: testNode})
			if tc.want == nil {
				if err != nil || len(findings) > 0 {
					t.Fatalf("refused: %v %v", err, findings)
				}
				return
			}
			var refused *Refusal
			if !errors.As(err, &refused) {
				t.Fatalf("err = %v, want *Refusal", err)
			}
			if !strings.HasPrefix(err.Error(), "specguard refused the NRI adjustments to container app of pod team-a/web-0: ") {
				t.Errorf("err = %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(refused.Findings) != len(findings) || len(findings) != len(tc.want) {
				t.Errorf("findings = %v", findings)
			}
		})
	}
}

func TestValidateAdjustmentModes(t *testing.T) {
	hook := func() *api.ValidateContainerAdjustmentRequest {
		return newAdjusted(unconfinedContainer()).hook("10-hooker", "/x").req
	}
	t.Run("audit reports and allows", func(t *testing.T) {
		p := mustPolicy(t, "  validation: {mode: audit, denyHooks: true}\n")
		findings, err := ValidateAdjustment(p, hook())
		if err != nil || len(findings) != 1 || findings[0].Plugin != "10-hooker" || findings[0].Check != "denyHooks" {
			t.Fatalf("findings %v, err %v", findings, err)
		}
	})
	t.Run("off", func(t *testing.T) {
		p := mustPolicy(t, "  validation: {mode: off, denyHooks: true}\n")
		if findings, err := ValidateAdjustment(p, hook()); err != nil || findings != nil {
			t.Fatalf("findings %v, err %v", findings, err)
		}
	})
	t.Run("the policy's mode is the default", func(t *testing.T) {
		p := mustPolicy(t, "  mode: audit\n  validation: {denyHooks: true}\n")
		if _, err := ValidateAdjustment(p, hook()); err != nil {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("no validation section", func(t *testing.T) {
		p := mustPolicy(t, "  mode: enforce\n")
		if findings, err := ValidateAdjustment(p, hook()); err != nil || findings != nil {
			t.Fatalf("findings %v, err %v", findings, err)
		}
	})
	t.Run("unchecked fields pass", func(t *testing.T) {
		p := mustPolicy(t, "  validation: {denyDevices: true}\n")
		if _, err := ValidateAdjustment(p, hook()); err != nil {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("empty request", func(t *testing.T) {
		p := mustPolicy(t, validationPolicy)
		for _, req := range []*api.ValidateContainerAdjustmentRequest{nil, {}, {Adjust: &api.ContainerAdjustment{Hooks: &api.Hooks{Prestart: []*api.Hook{{Path: "/x"}}}}}} {
			ValidateAdjustment(p, req) // must not panic
		}
	})
	t.Run("specguard's changes are its own only where the policy makes them", func(t *testing.T) {
		p := mustPolicy(t, validationPolicy)
		// A container of another namespace: no rule matches, so the same
		// seccomp profile is another plugin's doing.
		a := newAdjusted(unconfinedContainer()).specguardOwn(t)
		a.req.Pod.Namespace = "team-b"
		findings, err := ValidateAdjustment(p, a.req)
		if err == nil || len(findings) != 2 { // the mask of a file and the profile; a tmpfs is no host mount
			t.Fatalf("findings %v, err %v", findings, err)
		}
	})
}
