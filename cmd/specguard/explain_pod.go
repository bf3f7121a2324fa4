package main

import (
	"fmt"
	"os"

	"github.com/containerd/nri/pkg/api"

	"github.com/specguard/specguard/pkg/criview"
	"github.com/specguard/specguard/pkg/kubelet/podgen"
)

// requestFromPod turns a Pod manifest into the NRI view containerd gives a
// plugin, through the CRI configs the kubelet would send.
func requestFromPod(path, container string, restartCount int, podLogsDir string) (*api.PodSandbox, *api.Container, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	pod, err := podgen.DecodePod(path, data)
	if err != nil {
		return nil, nil, err
	}
	opts := podgen.GenerateOptions{Container: container, PodLogsDir: podLogsDir}
	if restartCount >= 0 {
		opts.RestartCount = &restartCount
	}
	g, err := podgen.GenerateConfigs(pod, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	handler := ""
	if pod.Spec.RuntimeClassName != nil {
		handler = *pod.Spec.RuntimeClassName
	}
	return criview.Pod(g.PodSandboxConfig, handler), criview.Container(g.PodSandboxConfig, g.ContainerConfig), nil
}
