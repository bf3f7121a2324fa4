package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sync/errgroup"

	"github.com/specguard/specguard/pkg/kubelet"
	"github.com/specguard/specguard/pkg/metrics"
	"github.com/specguard/specguard/pkg/policy"
	"github.com/specguard/specguard/pkg/restarts"
	"github.com/specguard/specguard/plugin"
)

type runOptions struct {
	config, socketPath, pluginName, pluginIdx string
	metricsAddr, logFormat, logLevel          string
	nodeName, auditLog                        string
	deadline                                  time.Duration
	exactRestartCounts                        bool
}

func runCmd(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("run", stderr)
	var o runOptions
	fs.StringVar(&o.config, "config", "", "policy file (default: the built-in policy)")
	fs.StringVar(&o.socketPath, "socket-path", "/var/run/nri/nri.sock", "NRI socket to connect to")
	fs.StringVar(&o.pluginName, "plugin-name", "specguard", "plugin name to register")
	fs.StringVar(&o.pluginIdx, "plugin-idx", "90", "plugin index (two digits) to register")
	fs.StringVar(&o.metricsAddr, "metrics-addr", "", "serve /metrics, /healthz and /readyz on HOST:PORT (default: off)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&o.nodeName, "node-name", "", "node name for templates (default: the policy's, else the hostname)")
	fs.StringVar(&o.auditLog, "audit-log", "", "append each decision that changed or refused something, or that audit-mode rules reported on, to this file as JSON lines")
	fs.DurationVar(&o.deadline, "deadline", plugin.DefaultDeadline, "bound on one CreateContainer decision and one validation; keep it well under the runtime's request timeout")
	fs.BoolVar(&o.exactRestartCounts, "exact-restart-counts", false,
		"count a restart only once the runtime confirms the creation (PostCreateContainer: a second NRI request in every container creation); see docs/kubelet-parity.md")
	if code := parseFlags(fs, args, stderr); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "specguard run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	log, err := newLogger(o.logFormat, o.logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "specguard run: %v\n", err)
		return exitUsage
	}
	if len(o.pluginIdx) != 2 || o.pluginIdx[0] < '0' || o.pluginIdx[0] > '9' || o.pluginIdx[1] < '0' || o.pluginIdx[1] > '9' {
		fmt.Fprintf(stderr, "specguard run: --plugin-idx must be two digits, got %q\n", o.pluginIdx)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx, o, log); err != nil {
		// An invalid policy, an unusable socket path or metrics address:
		// all are input the operator gave.
		log.WithError(err).Error("specguard stopped")
		if errors.Is(err, policy.ErrInvalid) {
			fmt.Fprintln(stderr, err)
		}
		return exitInput
	}
	return exitOK
}

func newLogger(format, level string, w io.Writer) (*logrus.Entry, error) {
	l := logrus.New()
	l.SetOutput(w)
	switch format {
	case "text":
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
	case "json":
		l.SetFormatter(&logrus.JSONFormatter{})
	default:
		return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
	}
	lvl, err := logrus.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	l.SetLevel(lvl)
	return logrus.NewEntry(l), nil
}

func run(ctx context.Context, o runOptions, log *logrus.Entry) error {
	start := time.Now()
	m := metrics.New(metrics.BuildInfo{Version: version})
	var ready metrics.Readiness

	var store *policy.Store
	if o.config == "" {
		store = policy.NewStaticStore(policy.Default())
		log.Info("using the built-in default policy")
	} else {
		var err error
		if store, err = policy.NewStore(o.config); err != nil {
			return err
		}
		log.WithField("config", o.config).Info("policy loaded")
		logPolicyWarnings(log, store.Current())
	}
	ready.SetPolicyLoaded(true)
	store.OnReload = func(p *policy.Policy, err error) {
		m.PolicyReload(err == nil)
		if err != nil {
			log.WithError(err).Error("policy reload refused; keeping the last good policy")
			return
		}
		log.WithFields(logrus.Fields{"config": p.Source, "rules": len(p.Rules)}).Info("policy reloaded")
		logPolicyWarnings(log, p)
	}

	nodeName := o.nodeName
	if nodeName == "" {
		nodeName, _ = os.Hostname()
	}
	audit, closeAudit, err := openAuditLog(o.auditLog, log)
	if err != nil {
		return err
	}
	defer closeAudit()

	tracker := restarts.NewTracker(kubelet.RestartCountFromLogDir)
	p, err := plugin.New(plugin.Config{
		Policy: store, Tracker: tracker, Log: log, Recorder: connectedRecorder{m, &ready},
		NodeName: nodeName, Deadline: o.deadline, Audit: audit, ExactRestartCounts: o.exactRestartCounts,
	})
	if err != nil {
		return err
	}

	g, ctx := errgroup.WithContext(ctx)
	var once sync.Once
	g.Go(func() error {
		return p.Run(ctx, plugin.Connection{SocketPath: o.socketPath, Name: o.pluginName, Index: o.pluginIdx,
			OnRegistered: func() {
				once.Do(func() { log.WithField("startup", time.Since(start)).Info("registered with the runtime") })
			}})
	})
	if o.metricsAddr != "" {
		srv := metrics.NewServer(o.metricsAddr, m, ready.Check)
		g.Go(func() error { return srv.Run(ctx) })
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	g.Go(func() error { return store.Watch(ctx, hup) })
	err = g.Wait()
	log.Info("specguard stopped")
	return err
}

// connectedRecorder keeps readiness in step with the NRI connection.
type connectedRecorder struct {
	*metrics.Metrics
	ready *metrics.Readiness
}

func (r connectedRecorder) SetConnected(v bool) {
	r.Metrics.SetConnected(v)
	r.ready.SetConnected(v)
}

// logPolicyWarnings logs what the policy asks for that will not happen.
func logPolicyWarnings(log *logrus.Entry, p *policy.Policy) {
	for _, w := range p.WarningText() {
		log.Warn(w)
	}
}

// openAuditLog opens the --audit-log file (or named pipe) and returns the
// record writer; a record that cannot be written is logged as an error
// with the reason, never dropped silently.
func openAuditLog(path string, log *logrus.Entry) (func(plugin.AuditRecord), func(), error) {
	if path == "" {
		return nil, func() {}, nil
	}
	// Without O_NONBLOCK, opening a named pipe nobody reads would wait
	// for a reader, and specguard would never start; with it that is
	// ENXIO, and writes to a pipe with a reader still wait (in Go's poller).
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NONBLOCK, 0o640)
	if errors.Is(err, syscall.ENXIO) {
		return nil, nil, fmt.Errorf("--audit-log: %s is a named pipe with no reader", path)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("--audit-log: %w", err)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(f)
	write := func(r plugin.AuditRecord) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(struct {
			Time string `json:"time"`
			plugin.AuditRecord
		}{time.Now().UTC().Format(time.RFC3339Nano), r}); err != nil {
			log.WithError(err).WithFields(logrus.Fields{"auditLog": path, "pod": r.Pod, "container": r.Container}).
				Error("audit record not written")
		}
	}
	return write, func() { _ = f.Close() }, nil
}
