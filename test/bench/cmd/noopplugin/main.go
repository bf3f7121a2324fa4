// Command noopplugin is an NRI plugin that subscribes to CreateContainer
// alone and changes nothing: the baseline specguard's process is held to in
// BenchmarkCreateProcess (test/bench), run as its own process the way a
// runtime's plugins run.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/sirupsen/logrus"
)

type noop struct{ readyFile string }

// Synchronize writes the ready file, if one was asked for: the plugin is
// registered and the runtime will send it the next creation.
func (p noop) Synchronize(context.Context, []*api.PodSandbox, []*api.Container) ([]*api.ContainerUpdate, error) {
	if p.readyFile == "" {
		return nil, nil
	}
	return nil, os.WriteFile(p.readyFile, nil, 0o644)
}

func (noop) CreateContainer(context.Context, *api.PodSandbox, *api.Container) (*api.ContainerAdjustment, []*api.ContainerUpdate, error) {
	return nil, nil, nil
}

func main() {
	socket := flag.String("socket-path", "", "the runtime's NRI socket")
	readyFile := flag.String("ready-file", "", "a file to create once registered")
	flag.Parse()
	logrus.SetLevel(logrus.WarnLevel) // the stub's lifecycle lines would mix into the benchmark's output
	s, err := stub.New(noop{readyFile: *readyFile}, stub.WithSocketPath(*socket), stub.WithPluginName("noop"), stub.WithPluginIdx("10"),
		stub.WithOnClose(func() { os.Exit(0) }))
	if err == nil {
		err = s.Run(context.Background())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "noopplugin:", err)
		os.Exit(1)
	}
}
