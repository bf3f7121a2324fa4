package kubelet

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// BuildPodLogsDirectory is the pod's log directory, CRI
// PodSandboxConfig.LogDirectory: <podLogsDir>/<namespace>_<podName>_<podUID>.
// An empty podLogsDir means DefaultPodLogsDir.
func BuildPodLogsDirectory(podLogsDir, namespace, podName, podUID string) string {
	if podLogsDir == "" {
		podLogsDir = DefaultPodLogsDir
	}
	return filepath.Join(podLogsDir, strings.Join([]string{namespace, podName, podUID}, "_"))
}

// maxFileName is the longest file name Linux takes (NAME_MAX).
const maxFileName = 255

// IsPathComponent reports whether name can be one element of the log
// layout: not empty, "." or "..", no slash or NUL, no longer than a file
// name may be. The kubelet only sends DNS-1123 labels as container names;
// anything else (crictl sends what it is given) would put the log path,
// or what the log-directory fallback reads, outside the pod's log
// directory.
func IsPathComponent(name string) bool {
	return name != "" && name != "." && name != ".." && len(name) <= maxFileName &&
		!strings.ContainsAny(name, "/\x00")
}

// BuildContainerLogsDirectory is the directory holding one container's log
// files: <podLogDir>/<containerName>.
func BuildContainerLogsDirectory(podLogDir, containerName string) string {
	return filepath.Join(podLogDir, containerName)
}

// ContainerLogFile is CRI ContainerConfig.LogPath, relative to the pod log
// directory: <containerName>/<restartCount>.log.
func ContainerLogFile(containerName string, restartCount int) string {
	return filepath.Join(containerName, strconv.Itoa(restartCount)+".log")
}

// BuildContainerLogPath is the absolute log file of one container attempt:
// <podLogDir>/<containerName>/<restartCount>.log.
func BuildContainerLogPath(podLogDir, containerName string, restartCount int) string {
	return filepath.Join(podLogDir, ContainerLogFile(containerName, restartCount))
}

// logFileName matches the kubelet's current and rotated log files:
// N.log, N.log.20060102-150405, N.log.20060102-150405.gz.
var logFileName = regexp.MustCompile(`^(\d+)\.log(\..*)?`)

// RestartCountFromLogDir is the kubelet's fallback when the pod status has no
// record of the container: max(N)+1 over the log files N.log* in
// <podLogDir>/<containerName>, or 0 when there are none or the directory does
// not exist. Subdirectories and other names are ignored, as are numbers too
// large for a restart count (the kubelet would wrap them; a count must fit
// the int32 of ContainerStatus.RestartCount).
func RestartCountFromLogDir(podLogDir, containerName string) (int, error) {
	if !IsPathComponent(containerName) {
		return 0, fmt.Errorf("container name %.64q is not a single path component: its log directory would not be in %s", containerName, podLogDir)
	}
	dir := BuildContainerLogsDirectory(podLogDir, containerName)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	count := 0
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := logFileName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err != nil || n >= math.MaxInt32 {
			continue
		}
		if int(n)+1 > count {
			count = int(n) + 1
		}
	}
	return count, nil
}

// ParseRestartCount reads the io.kubernetes.container.restartCount
// annotation: decimal digits only, non-negative, within int32.
func ParseRestartCount(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, false
	}
	return int(n), true
}
