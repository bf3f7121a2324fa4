package plugin

import (
	"context"
	"os"
	"time"

	"github.com/containerd/nri/pkg/api"
	"github.com/containerd/nri/pkg/stub"
	"github.com/containerd/ttrpc"
	"github.com/sirupsen/logrus"

	"github.com/specguard/specguard/internal/wire"
)

// Connection says how to reach the runtime.
type Connection struct {
	SocketPath string
	Name       string
	Index      string
	// OnRegistered, if set, is called each time the plugin has registered
	// and synchronized (the first time and after every reconnect).
	OnRegistered func()
}

// LaunchedByRuntime reports whether containerd started this process from
// its plugin directory: it then passes a connected socket, the name and
// the index in the environment, and setting them again fails.
func LaunchedByRuntime() bool {
	return os.Getenv(api.PluginSocketEnvVar) != ""
}

const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// The NRI handlers the runtime calls: stub.New finds them by these
// interfaces, so a changed signature would silently unsubscribe one.
var (
	_ stub.ConfigureInterface                   = (*Plugin)(nil)
	_ stub.SynchronizeInterface                 = (*Plugin)(nil)
	_ stub.CreateContainerInterface             = (*Plugin)(nil)
	_ stub.PostCreateContainerInterface         = (*Plugin)(nil)
	_ stub.RemoveContainerInterface             = (*Plugin)(nil)
	_ stub.RemovePodInterface                   = (*Plugin)(nil)
	_ stub.ValidateContainerAdjustmentInterface = (*Plugin)(nil)
)

// Run connects to the runtime and serves until ctx is done. When the
// runtime goes away (a containerd restart) it re-dials with backoff and
// re-synchronizes. It returns nil when ctx is cancelled.
func (p *Plugin) Run(ctx context.Context, conn Connection) error {
	backoff := minBackoff
	for {
		started := time.Now()
		err := p.runOnce(ctx, conn)
		p.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if LaunchedByRuntime() {
			// A pre-connected socket cannot be re-dialed; containerd
			// restarts such plugins itself.
			return err
		}
		if time.Since(started) > 10*time.Second {
			backoff = minBackoff
		}
		p.cfg.Log.WithError(err).WithField("retryIn", backoff).Warn("disconnected from runtime; reconnecting")
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

func (p *Plugin) runOnce(ctx context.Context, conn Connection) error {
	closed := make(chan struct{})
	opts := []stub.Option{
		stub.WithSocketPath(conn.SocketPath),
		stub.WithOnClose(func() { close(closed) }),
		stub.WithLogger(nriLogger{p.cfg.Log.WithField("component", "nri")}),
		stub.WithTTRPCOptions(nil, []ttrpc.ServerOpt{ttrpc.WithUnaryServerInterceptor(wire.ReadLean)}),
	}
	name, idx := conn.Name, conn.Index
	if os.Getenv(api.PluginIdxEnvVar) == "" {
		opts = append(opts, stub.WithPluginName(name), stub.WithPluginIdx(idx))
	} else {
		name, idx = os.Getenv(api.PluginNameEnvVar), os.Getenv(api.PluginIdxEnvVar)
	}
	self := idx + "-" + name
	p.registeredAs.Store(&self)
	s, err := stub.New(p, opts...)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	p.setConnected(true)
	if conn.OnRegistered != nil {
		conn.OnRegistered()
	}
	select {
	case <-ctx.Done():
	case <-closed:
	}
	s.Stop()
	return errConnectionClosed
}

type connErr string

func (e connErr) Error() string { return string(e) }

const errConnectionClosed = connErr("connection to the runtime closed")

// nriLogger sends the NRI stub's messages to our logger, one level down:
// its info lines are our debug lines.
type nriLogger struct{ e *logrus.Entry }

func (l nriLogger) Debugf(_ context.Context, f string, a ...interface{}) { l.e.Debugf(f, a...) }
func (l nriLogger) Infof(_ context.Context, f string, a ...interface{})  { l.e.Debugf(f, a...) }
func (l nriLogger) Warnf(_ context.Context, f string, a ...interface{})  { l.e.Warnf(f, a...) }
func (l nriLogger) Errorf(_ context.Context, f string, a ...interface{}) { l.e.Errorf(f, a...) }
