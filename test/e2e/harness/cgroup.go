package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

const cgroupRoot = "/sys/fs/cgroup"

// CgroupVersion returns 2 when /sys/fs/cgroup is a cgroup v2 hierarchy, 1
// when the v1 cpu, memory and pids controllers are mounted under it, and 0
// when neither is.
func CgroupVersion() int {
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroupRoot, &st); err != nil {
		return 0
	}
	const cgroup2Magic = 0x63677270
	if st.Type == cgroup2Magic {
		return 2
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if _, err := os.Stat(filepath.Join(cgroupRoot, c, "cgroup.procs")); err != nil {
			return 0
		}
	}
	return 1
}

// CgroupLimits are the values the kernel enforces on a container's cgroup.
type CgroupLimits struct {
	Version   int
	CPUShares uint64 // v1 cpu.shares; on v2 the shares that map to cpu.weight
	CPUWeight uint64 // v2 cpu.weight (0 on v1)
	CPUQuota  int64  // microseconds per period, -1 for none
	CPUPeriod uint64
	Memory    int64 // bytes, -1 for no limit
	Pids      int64 // -1 for no limit
}

// ReadCgroupLimits reads the limits of the cgroup at cgroupsPath (the OCI
// spec's linux.cgroupsPath, cgroupfs driver) from cgroup v1 or v2 files.
func ReadCgroupLimits(cgroupsPath string) (CgroupLimits, error) {
	if strings.Contains(cgroupsPath, ":") {
		return CgroupLimits{}, fmt.Errorf("cgroupsPath %q is a systemd slice; the stack uses cgroupfs", cgroupsPath)
	}
	l := CgroupLimits{Version: CgroupVersion()}
	var errs []error
	read := func(file string) string {
		b, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, err)
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	num := func(s string) int64 {
		if s == "max" || s == "" {
			return -1
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	switch l.Version {
	case 1:
		dir := func(c string) string { return filepath.Join(cgroupRoot, c, cgroupsPath) }
		l.CPUShares = uint64(num(read(filepath.Join(dir("cpu"), "cpu.shares"))))
		l.CPUQuota = num(read(filepath.Join(dir("cpu"), "cpu.cfs_quota_us")))
		l.CPUPeriod = uint64(num(read(filepath.Join(dir("cpu"), "cpu.cfs_period_us"))))
		l.Memory = num(read(filepath.Join(dir("memory"), "memory.limit_in_bytes")))
		// v1 reports "no limit" as the largest page-aligned int64.
		if l.Memory >= 1<<62 {
			l.Memory = -1
		}
		l.Pids = num(read(filepath.Join(dir("pids"), "pids.max")))
	case 2:
		dir := filepath.Join(cgroupRoot, cgroupsPath)
		l.CPUWeight = uint64(num(read(filepath.Join(dir, "cpu.weight"))))
		l.CPUShares = weightToShares(l.CPUWeight)
		if f := strings.Fields(read(filepath.Join(dir, "cpu.max"))); len(f) == 2 {
			l.CPUQuota = num(f[0])
			l.CPUPeriod = uint64(num(f[1]))
		}
		l.Memory = num(read(filepath.Join(dir, "memory.max")))
		l.Pids = num(read(filepath.Join(dir, "pids.max")))
	default:
		return l, errors.New("no cgroup hierarchy found")
	}
	return l, errors.Join(errs...)
}

// SharesToWeight is runc's conversion of cgroup v1 cpu.shares to v2
// cpu.weight.
func SharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return 1 + ((shares-2)*9999)/262142
}

// weightToShares inverts SharesToWeight as closely as integers allow; use
// SharesToWeight on the expected value for an exact comparison.
func weightToShares(weight uint64) uint64 {
	if weight == 0 {
		return 0
	}
	return 2 + ((weight-1)*262142+9998)/9999
}

// SharesMatch reports whether the cgroup carries the given cpu shares, exactly
// on v1 and through runc's weight conversion on v2.
func (l CgroupLimits) SharesMatch(shares uint64) bool {
	if l.Version == 2 {
		return l.CPUWeight == SharesToWeight(shares)
	}
	return l.CPUShares == shares
}

// cgroupDirs returns every directory of the cgroup named parent (e.g.
// "/specguard-e2e-123") in all mounted hierarchies, deepest first.
func cgroupDirs(parent string) []string {
	parent = strings.Trim(parent, "/")
	if parent == "" || strings.Contains(parent, "..") {
		return nil
	}
	var tops []string
	if CgroupVersion() == 2 {
		tops = []string{filepath.Join(cgroupRoot, parent)}
	} else {
		entries, _ := os.ReadDir(cgroupRoot)
		for _, e := range entries {
			tops = append(tops, filepath.Join(cgroupRoot, e.Name(), parent))
		}
	}
	var dirs []string
	for _, top := range tops {
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool { return depth(dirs[i]) > depth(dirs[j]) })
	return dirs
}

// cgroupPids returns the processes in the cgroup named parent and below.
func cgroupPids(parent string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, dir := range cgroupDirs(parent) {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// removeCgroup removes every directory of the cgroup named parent, deepest
// first. Directories that still hold processes cannot go and are reported.
func removeCgroup(parent string) error {
	var errs []error
	for _, dir := range cgroupDirs(parent) {
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}

func depth(path string) int { return strings.Count(filepath.Clean(path), "/") }
