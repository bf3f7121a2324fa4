package integration

import (
	"encoding/binary"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
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
	// dropAt, when positive, counts down the messages plugins send; the
	// one that takes it to zero is not forwarded and its connection is
	// closed (see dropReply). dropped counts those drops.
	dropAt, dropped atomic.Int32
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
			go func() { r.pipeUp(up, c); up.Close() }()
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

// dropReply makes the relay drop the connection of the plugin that starts
// the n-th message from now, instead of forwarding it. After registration a
// plugin only answers, so n = 1 is the reply to the next request the
// runtime sends: the runtime loses the connection in the middle of that
// request, after the plugin has handled it.
func (r *relay) dropReply(n int) { r.dropAt.Store(int32(n)) }

// pipeUp forwards what a plugin sends to the runtime frame by frame,
// counting messages. NRI multiplexes ttrpc over the socket: each frame is
// a 4-byte connection ID and a 4-byte length, then that much of a ttrpc
// message (a 10-byte header whose first 4 bytes are the message's length,
// then the message); a long message spans several frames.
func (r *relay) pipeUp(up, c net.Conn) {
	const muxHeader, ttrpcHeader = 8, 10
	var buf []byte
	rest := map[uint32]int{} // bytes of each mux connection's current message still to come
	for {
		buf = slices.Grow(buf[:0], muxHeader)[:muxHeader]
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		id, size := binary.BigEndian.Uint32(buf[0:4]), int(binary.BigEndian.Uint32(buf[4:8]))
		if size > 8<<20 {
			return // not NRI's framing
		}
		buf = slices.Grow(buf, size)[:muxHeader+size]
		if _, err := io.ReadFull(c, buf[muxHeader:]); err != nil {
			return
		}
		if rest[id] <= 0 && size >= ttrpcHeader { // a new message
			rest[id] = ttrpcHeader + int(binary.BigEndian.Uint32(buf[muxHeader:muxHeader+4]))
			if r.dropAt.Load() > 0 && r.dropAt.Add(-1) == 0 {
				r.dropped.Add(1)
				c.Close()
				return
			}
		}
		rest[id] -= size
		if _, err := up.Write(buf); err != nil {
			return
		}
	}
}
