package podgen

import (
	"strings"

	v1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// DNS limits the kubelet enforces on the final configuration.
const (
	MaxDNSNameservers = 3
	MaxDNSSearchPaths = 32
)

// dnsConfig is the kubelet's GetPodDNS.
func (g *generator) dnsConfig(p *v1.Pod) *runtimeapi.DNSConfig {
	host := func() *runtimeapi.DNSConfig {
		if g.node.HostDNS == nil {
			g.warn("spec.dnsPolicy", "%s: the node's resolv.conf is not known here; its servers, searches and options are left out", p.Spec.DNSPolicy)
			return &runtimeapi.DNSConfig{}
		}
		return &runtimeapi.DNSConfig{
			Servers:  append([]string(nil), g.node.HostDNS.Servers...),
			Searches: append([]string(nil), g.node.HostDNS.Searches...),
			Options:  append([]string(nil), g.node.HostDNS.Options...),
		}
	}
	var cfg *runtimeapi.DNSConfig
	cluster := false
	switch p.Spec.DNSPolicy {
	case v1.DNSNone:
		cfg = &runtimeapi.DNSConfig{}
	case v1.DNSClusterFirstWithHostNet:
		cluster = true
	case v1.DNSDefault:
		cfg = host()
	default: // ClusterFirst
		if p.Spec.HostNetwork {
			cfg = host()
		} else {
			cluster = true
		}
	}
	if cluster {
		if len(g.node.ClusterDNS) == 0 {
			g.warn("spec.dnsPolicy", "no cluster DNS server given: the kubelet falls back to the %q policy", v1.DNSDefault)
			cfg = host()
		} else {
			base := host()
			d := g.node.clusterDomain()
			cfg = &runtimeapi.DNSConfig{
				Servers:  append([]string(nil), g.node.ClusterDNS...),
				Searches: dedupe(append([]string{p.Namespace + ".svc." + d, "svc." + d, d}, base.Searches...)),
				Options:  []string{"ndots:5"},
			}
		}
	}
	if dc := p.Spec.DNSConfig; dc != nil {
		cfg.Servers = dedupe(append(cfg.Servers, dc.Nameservers...))
		cfg.Searches = dedupe(append(cfg.Searches, dc.Searches...))
		cfg.Options = mergeDNSOptions(cfg.Options, dc.Options)
	}
	if len(cfg.Servers) > MaxDNSNameservers {
		g.warn("spec.dnsConfig", "nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: %s", strings.Join(cfg.Servers[:MaxDNSNameservers], " "))
		cfg.Servers = cfg.Servers[:MaxDNSNameservers]
	}
	if len(cfg.Searches) > MaxDNSSearchPaths {
		g.warn("spec.dnsConfig", "search line limits were exceeded, some search paths have been omitted")
		cfg.Searches = cfg.Searches[:MaxDNSSearchPaths]
	}
	return cfg
}

func dedupe(in []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// mergeDNSOptions keeps base's options, replacing those the pod sets again
// by name; a pod option without a value is written as its name alone.
func mergeDNSOptions(base []string, pod []v1.PodDNSConfigOption) []string {
	vals := map[string]string{}
	var order []string
	add := func(name, value string) {
		if _, ok := vals[name]; !ok {
			order = append(order, name)
		}
		vals[name] = value
	}
	for _, o := range base {
		name, value, _ := strings.Cut(o, ":")
		add(name, value)
	}
	for _, o := range pod {
		v := ""
		if o.Value != nil {
			v = *o.Value
		}
		add(o.Name, v)
	}
	out := make([]string, 0, len(order))
	for _, n := range order {
		if vals[n] == "" {
			out = append(out, n)
		} else {
			out = append(out, n+":"+vals[n])
		}
	}
	return out
}
