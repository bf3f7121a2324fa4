package integration

import (
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// relay forwards plugin connections from the socket plugins dial to the
// adaptation's socket. Closing it drops every connection and removes the
// socket, as the end of a containerd process does.
type relay struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  bool
}

func newRelay(t *testing.T, outer, inner string) *relay {
	os.Remove(outer)
	l, err := net.Listen("unix", outer)
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", inner)
			if err != nil {
				c.Close()
				continue
			}
			if !r.track(c, up) {
				return
			}
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return r
}

func (r *relay) track(c ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		for _, x := range c {
			x.Close()
		}
		return false
	}
	r.conns = append(r.conns, c...)
	return true
}

func (r *relay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.done {
		return
	}
	r.done = true
	r.l.Close()
	for _, c := range r.conns {
		c.Close()
	}
}
