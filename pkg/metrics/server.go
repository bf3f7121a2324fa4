package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// ReadyFunc reports whether specguard can do its job: nil while it is
// connected to NRI with a valid policy loaded, else an error saying why not.
type ReadyFunc func() error

// Server serves /metrics, /healthz and /readyz on one address. It is meant to
// run in an errgroup next to the NRI connection, so that both live and stop
// together: Run returns at once if it cannot bind, and returns nil when its
// context ends.
type Server struct {
	addr    string
	handler http.Handler
	// ShutdownTimeout bounds how long Run waits for in-flight scrapes once
	// its context is done. New servers get 5s.
	ShutdownTimeout time.Duration
}

// NewServer returns a server for addr (host:port, as net.Listen takes it;
// an empty addr disables serving). m may be nil: /metrics is then empty.
// ready may be nil: /readyz then reports ready whenever the process is up.
func NewServer(addr string, m *Metrics, ready ReadyFunc) *Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		// Alive means the process answers; a lost NRI connection is for
		// /readyz, so a containerd restart does not get specguard killed.
		writeText(w, http.StatusOK, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if ready != nil {
			if err := ready(); err != nil {
				writeText(w, http.StatusServiceUnavailable, "not ready: "+strings.ReplaceAll(err.Error(), "\n", "; "))
				return
			}
		}
		writeText(w, http.StatusOK, "ok")
	})
	return &Server{addr: addr, handler: mux, ShutdownTimeout: 5 * time.Second}
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body+"\n")
}

// Handler returns the server's routes, for tests or to mount elsewhere.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on the server's address and serves until ctx is done, then
// shuts down gracefully and returns nil. It returns an error at once if the
// address cannot be bound, and later if serving fails. With an empty address
// it serves nothing and just waits for ctx.
func (s *Server) Run(ctx context.Context) error {
	if s.addr == "" {
		<-ctx.Done()
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("metrics server: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is Run on a listener the caller bound. It closes ln.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("metrics server on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(shutdownCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if serveErr := <-served; serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	if err != nil {
		return fmt.Errorf("metrics server on %s: shutdown: %w", ln.Addr(), err)
	}
	return nil
}

// Readiness holds the two conditions /readyz reports, for a plugin that
// would rather set them than compute them: pass its Check as the ReadyFunc.
// The zero value is not ready. Safe for concurrent use.
type Readiness struct {
	connected    atomic.Bool
	policyLoaded atomic.Bool
}

// Errors Readiness.Check returns, joined when both hold.
var (
	ErrNotConnected = errors.New("not connected to NRI")
	ErrNoPolicy     = errors.New("no valid policy loaded")
)

// SetConnected records whether specguard is registered with the runtime.
func (r *Readiness) SetConnected(connected bool) { r.connected.Store(connected) }

// SetPolicyLoaded records whether a valid policy is in force. A failed
// reload that keeps the last good policy leaves this true.
func (r *Readiness) SetPolicyLoaded(loaded bool) { r.policyLoaded.Store(loaded) }

// Check is a ReadyFunc: nil when connected with a policy loaded.
func (r *Readiness) Check() error {
	var errs []error
	if !r.connected.Load() {
		errs = append(errs, ErrNotConnected)
	}
	if !r.policyLoaded.Load() {
		errs = append(errs, ErrNoPolicy)
	}
	return errors.Join(errs...)
}
