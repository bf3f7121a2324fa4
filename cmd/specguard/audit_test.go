package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/specguard/specguard/plugin"
)

// A named pipe nobody reads is refused at once (opening it for writing
// used to wait for a reader: specguard never started); one with a reader
// receives the records.
func TestAuditLogNamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "audit")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := openAuditLog(fifo); err == nil || !strings.Contains(err.Error(), "named pipe with no reader") {
		t.Fatalf("err = %v, want a named pipe with no reader", err)
	}

	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	write, closeLog, err := openAuditLog(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	write(plugin.AuditRecord{Pod: "ns/p", Container: "c", Allowed: true})
	if err := syscall.SetNonblock(int(r.Fd()), false); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil || !strings.Contains(line, `"pod":"ns/p"`) {
		t.Fatalf("read %q, %v", line, err)
	}
}
