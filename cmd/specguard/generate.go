package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"sigs.k8s.io/yaml"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/kubelet/podgen"
)

// generateCmd prints the CRI PodSandboxConfig and ContainerConfig the kubelet
// would send for one container of a Pod manifest. Warnings about what needs
// a cluster or a running node go to stderr.
func generateCmd(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(stderr, "specguard generate: internal error: %v\n", r)
			code = exitInput
		}
	}()
	fs := newFlagSet("generate", stderr)
	var (
		podPath, container, podLogsDir, output string
		restartCount, imageUser                *string // nil: not given
		nodeFlags                              podgen.NodeFlags
		quiet                                  bool
	)
	fs.StringVar(&podPath, "pod", "", "Pod manifest (YAML or JSON), required")
	fs.StringVar(&container, "container", "", "container name (default: the default-container annotation, else the first container)")
	fs.Func("restart-count", "restart count (default: from the pod log directory, as the kubelet)", func(s string) error { restartCount = &s; return nil })
	fs.StringVar(&podLogsDir, "pod-logs-dir", kubelet.DefaultPodLogsDir, "the kubelet's pod logs directory")
	fs.Func("image-user", `the image's USER ("" = none, i.e. root); unset means unknown`, func(s string) error { imageUser = &s; return nil })
	nodeFlags.Register(fs)
	fs.StringVar(&output, "o", "json", "output format: json or yaml")
	fs.BoolVar(&quiet, "quiet", false, "do not print warnings")
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "specguard generate: "+format+"\n", a...)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usage("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if podPath == "" {
		return usage("--pod is required")
	}
	if output != "json" && output != "yaml" {
		return usage("-o: want json or yaml, got %q", output)
	}
	opts := podgen.GenerateOptions{Container: container, PodLogsDir: podLogsDir}
	node, err := nodeFlags.NodeConfig()
	var badFlag *podgen.FlagError
	// The first bad flag is reported: the cgroup flags come before
	// --restart-count, the other node flags after it.
	if errors.As(err, &badFlag) && (badFlag.Flag == "cgroup-driver" || badFlag.Flag == "cgroup-version") {
		return usage("%v", err)
	}
	if restartCount != nil {
		n, err := strconv.ParseInt(*restartCount, 10, 32)
		if err != nil || n < 0 {
			return usage("--restart-count: want a non-negative 32-bit integer, got %q", *restartCount)
		}
		c := int(n)
		opts.RestartCount = &c
	}
	switch {
	case errors.As(err, &badFlag):
		return usage("%v", err)
	case err != nil:
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	opts.Node = node
	if imageUser != nil {
		opts.ImageUser = podgen.ParseImageUser(*imageUser)
	}
	data, err := os.ReadFile(podPath)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	pod, err := podgen.DecodePod(podPath, data)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	out, err := podgen.GenerateConfigs(pod, opts)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %s: %v\n", podPath, err)
		return exitInput
	}
	if !quiet {
		for _, w := range out.Warnings {
			fmt.Fprintf(stderr, "specguard generate: warning: %s\n", w)
		}
		if !flagGiven(fs, "cgroup-version") && opts.Node.CgroupVersion == 2 && hostCgroupV1() {
			fmt.Fprintln(stderr, "specguard generate: warning: this host runs cgroup v1 and these configs are for cgroup v2 "+
				"(the default); to run them here pass --cgroup-version 1, and --cgroup-driver cgroupfs if containerd uses it")
		}
	}
	b, err := encodeConfigs(out, output)
	if err != nil {
		fmt.Fprintf(stderr, "specguard generate: %v\n", err)
		return exitInput
	}
	if _, err := stdout.Write(b); err != nil {
		fmt.Fprintf(stderr, "specguard generate: writing the configs: %v\n", err)
		return exitInput
	}
	return exitOK
}

// generateOutput is the printed document: the two CRI configs in the JSON
// form crictl reads (protobuf field names, enums as numbers).
type generateOutput struct {
	PodSandboxConfig *runtimeapi.PodSandboxConfig `json:"podSandboxConfig"`
	ContainerConfig  *runtimeapi.ContainerConfig  `json:"containerConfig"`
}

func encodeConfigs(g *podgen.GeneratedConfigs, format string) ([]byte, error) {
	doc := generateOutput{PodSandboxConfig: g.PodSandboxConfig, ContainerConfig: g.ContainerConfig}
	if format == "yaml" {
		return yaml.Marshal(doc)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// flagGiven reports whether the command line set the flag.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// hostCgroupV1 reports whether this host mounts cgroup v1 (no unified
// hierarchy at /sys/fs/cgroup), where v2 settings such as memory.oom.group
// make runc refuse the container.
func hostCgroupV1() bool {
	_, err := os.Stat("/sys/fs/cgroup/cgroup.controllers")
	return errors.Is(err, os.ErrNotExist)
}
