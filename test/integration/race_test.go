//go:build race

package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// racePolicy uses every concurrent path of the binary: templates, bounds
// and overrides, an audit rule whose findings go to the log and the audit
// trail after the reply, and a validation section (ValidateContainerAdjustment).
const racePolicy = `  rules:
  - name: defaults
    env: [{name: RESTART_COUNT, value: "{{ .RestartCount }}"}, {name: V, value: "VERSION"}]
    resources:
      memory: {limit: {default: 256Mi, max: 1Gi}}
      cpu: {shares: {default: 256, max: 2048}}
    overrides: {allow: [resources.memory.limit]}
  - name: watch
    mode: audit
    resources: {pids: {limit: {max: 64}}}
  validation: {denyHooks: true}
`

// TestBinaryUnderRaceDetector runs specguard built with -race (the other
// integration tests run a plain build, whose memory and timing they
// measure) through concurrent churn from four workers while its policy
// file is rewritten (good and bad) and SIGHUPed, /metrics, /readyz and
// /healthz are scraped, the runtime drops the connection mid-request and
// then restarts. The race detector prints "DATA RACE" and makes the exit
// code 66 on any race: neither may happen. This file builds only under
// -race, which `make integration` uses.
func TestBinaryUnderRaceDetector(t *testing.T) {
	// Not parallel: a race-built plugin churned by four workers must still beat the runtime's 2 s request timeout.
	if testing.Short() {
		t.Skip("race run of the binary")
	}
	bin := filepath.Join(filepath.Dir(specguardBin), "specguard-race")
	build := exec.Command("go", "build", "-race", "-o", bin, "github.com/specguard/specguard/cmd/specguard")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -race: %v\n%s", err, out)
	}
	r := newRuntime(t)
	addr := freeAddr(t)
	path := writePolicy(t, r.dir, strings.Replace(racePolicy, "VERSION", "0", 1))
	p := r.startBinary(bin, "--config", path, "--metrics-addr", addr, "--log-level", "info",
		"--audit-log", filepath.Join(r.dir, "audit.jsonl"))

	// Background pressure on the binary's other goroutines for the whole run.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var reloads, scrapes atomic.Int64
	bg.Add(2)
	go func() { // policy rewrites: a good one, a bad one, a SIGHUP
		defer bg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(150 * time.Millisecond):
			}
			body := "apiVersion: specguard.io/v1alpha1\nkind: Policy\nspec:\n" + strings.Replace(racePolicy, "VERSION", strconv.Itoa(i), 1)
			switch i % 3 {
			case 1:
				body = body[:len(body)/2] // cut mid-write
			case 2:
				p.signal(syscall.SIGHUP)
			}
			os.WriteFile(path+".tmp", []byte(body), 0o644)
			os.Rename(path+".tmp", path)
			reloads.Add(1)
		}
	}()
	go func() { // scrapes
		defer bg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			for _, u := range []string{"/metrics", "/readyz", "/healthz"} {
				if resp, err := http.Get("http://" + addr + u); err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			scrapes.Add(1)
		}
	}()

	var requests countingInt
	phase := func(name string) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				if err := churn(r, name+"-"+strconv.Itoa(w), &requests); err != nil {
					errs <- err
				}
			}(w)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: %v", name, err)
		}
	}
	phase("start")
	pod := r.addPod("dropped", "race", "uid-dropped", nil)
	r.relay.dropReply(1) // the reply to this creation is lost
	if _, _, err := r.create(pod, "app", nil); err != nil {
		t.Fatal(err)
	}
	p.waitRegistered()
	phase("after-drop")
	r.restart()
	p.waitRegistered()
	phase("after-restart")
	close(stop)
	bg.Wait()

	code := p.stop()
	logs := p.Logs()
	if i := strings.Index(logs, "WARNING: DATA RACE"); i >= 0 {
		t.Fatalf("the race detector found a race in specguard:\n%s", logs[i:min(len(logs), i+8000)])
	}
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM (66: the race detector found a race)\n%s", code, grepLines(logs, "level=error"))
	}
	t.Logf("race-built specguard: %d NRI requests from 4 workers, %d policy rewrites (a third cut mid-write), %d scrapes, a mid-request drop, a runtime restart: no race",
		requests.get(), reloads.Load(), scrapes.Load())
}
