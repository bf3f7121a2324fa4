package podgen

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// ParseResolvConf reads a resolv.conf the way the kubelet does for
// --resolv-conf: every nameserver, the last search line (without trailing
// dots, "." dropped), and options merged by name, later ones winning.
func ParseResolvConf(r io.Reader) (*runtimeapi.DNSConfig, error) {
	cfg := &runtimeapi.DNSConfig{}
	var opts []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				cfg.Servers = append(cfg.Servers, f[1])
			}
		case "search":
			cfg.Searches = []string{}
			for _, s := range f[1:] {
				if s != "." {
					cfg.Searches = append(cfg.Searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			opts = append(opts, f[1:]...)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	cfg.Options = mergeDNSOptions(opts, nil)
	if len(cfg.Options) == 0 {
		cfg.Options = nil
	}
	return cfg, nil
}

// readResolvConf is ParseResolvConf of the file at path.
func readResolvConf(path string) (*runtimeapi.DNSConfig, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseResolvConf(f)
	_ = f.Close() // read only
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}
