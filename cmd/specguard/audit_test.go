package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"

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
	log, hook := logtest.NewNullLogger()
	if _, _, err := openAuditLog(fifo, logrus.NewEntry(log)); err == nil || !strings.Contains(err.Error(), "named pipe with no reader") {
		t.Fatalf("err = %v, want a named pipe with no reader", err)
	}

	r, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	write, closeLog, err := openAuditLog(fifo, logrus.NewEntry(log))
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
	if len(hook.AllEntries()) != 0 {
		t.Fatalf("logged %q for a record that was written", hook.LastEntry().Message)
	}

	// The reader goes away: the next record cannot be written, and says so.
	r.Close()
	write(plugin.AuditRecord{Pod: "ns/q", Container: "c", Allowed: true})
	e := hook.LastEntry()
	if e == nil || e.Message != "audit record not written" || e.Data["pod"] != "ns/q" || e.Data[logrus.ErrorKey] == nil {
		t.Fatalf("a record lost to a closed pipe was not logged with its pod and error: %+v", e)
	}
}
