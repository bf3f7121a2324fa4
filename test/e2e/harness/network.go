package harness

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
)

// CNIPlugins are the CNI plugins a stack with a pod network runs, from
// Tools.Bin/cni (`make tools` builds them at the pin in test/tools/go.mod).
var CNIPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// podNetwork is a stack's pod network: a Linux bridge of its own, named
// and addressed after the stack's directory so that two stacks never
// share one, with host-local addresses kept inside the stack.
type podNetwork struct {
	Bridge string // at most 15 bytes, the kernel's limit
	Subnet string // a /24 in 10.240.0.0/12
}

func newPodNetwork(dir string) podNetwork {
	sum := sha256.Sum256([]byte(dir))
	return podNetwork{
		Bridge: fmt.Sprintf("sgcni%x", sum[:4]),
		Subnet: fmt.Sprintf("10.%d.%d.0/24", 240+sum[4]%16, sum[5]),
	}
}

// checkPodNetwork reports what a pod network needs and this machine
// lacks, the CNI plugins looked for in dir.
func checkPodNetwork(dir string) error {
	var errs []error
	for _, p := range CNIPlugins {
		if !isExecutable(filepath.Join(dir, p)) {
			errs = append(errs, fmt.Errorf("missing CNI plugin %s (run `make tools`)", filepath.Join(dir, p)))
		}
	}
	if _, err := exec.LookPath("iptables"); err != nil {
		errs = append(errs, errors.New("missing iptables, which the CNI portmap plugin runs (run `make tools`, which installs it)"))
	}
	return errors.Join(errs...)
}

// conflist is the CNI network configuration: a bridge that is the pods'
// gateway (so the host reaches pod IPs), no masquerading (nothing leaves
// the node), and port mappings through iptables.
func (n podNetwork) conflist(name, ipamDir string) ([]byte, error) {
	return json.MarshalIndent(map[string]any{
		"cniVersion": "1.0.0",
		"name":       name,
		"plugins": []map[string]any{
			{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": n.Subnet}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": ipamDir,
				},
			},
			{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}, "", "  ")
}

// writeCNIConfig writes the stack's CNI configuration.
func (s *Stack) writeCNIConfig() error {
	confDir := filepath.Join(s.Dir, "cni", "net.d")
	if err := os.MkdirAll(confDir, 0o755); err != nil {
		return err
	}
	b, err := s.network.conflist("specguard-"+filepath.Base(s.Dir), filepath.Join(s.Dir, "cni", "ipam"))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(confDir, "10-specguard.conflist"), b, 0o644)
}

// PodSubnet is the stack's pod network, "" when it has none.
func (s *Stack) PodSubnet() string { return s.network.Subnet }

// removeBridge deletes a stack's bridge, if it is there.
func removeBridge(name string) error {
	if name == "" {
		return nil
	}
	if _, err := net.InterfaceByName(name); err != nil {
		return nil // gone already (or never created: no pod ran)
	}
	if out, err := exec.Command("ip", "link", "del", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip link del %s: %v: %s", name, err, out)
	}
	return nil
}
