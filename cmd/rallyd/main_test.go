package main

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestBinary runs the real rallyd: it starts, prints where it listens and the generated
// admin token (on stdout, never in the logs), serves the demo data, and shuts down
// cleanly on SIGTERM and SIGINT.
func TestBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rallyd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(bin, "--demo", "--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--log-format=json")
			cmd.Env = append(os.Environ(), "RALLY_ADMIN_TOKEN=")
			var logs bytes.Buffer
			cmd.Stderr = &logs
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()

			var banner strings.Builder
			restURL, tok := "", ""
			sc := bufio.NewScanner(stdout)
			deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
			for sc.Scan() && tok == "" {
				line := sc.Text()
				banner.WriteString(line + "\n")
				if m := regexp.MustCompile(`REST:\s+(http://\S+)/v1/campaigns`).FindStringSubmatch(line); m != nil {
					restURL = m[1]
				}
				if m := regexp.MustCompile(`export RALLY_TOKEN=(rly_admin_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(line); m != nil {
					tok = m[1]
				}
			}
			deadline.Stop()
			go io.Copy(io.Discard, stdout)
			if restURL == "" || tok == "" {
				t.Fatalf("banner lacks the REST URL or the token:\n%s\nlogs:\n%s", banner.String(), logs.String())
			}

			resp, err := http.Get(restURL + "/v1/events/demo-berlin")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("demo event: HTTP %d", resp.StatusCode)
			}

			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("rallyd exited with %v after %v; logs:\n%s", err, sig, logs.String())
				}
			case <-time.After(15 * time.Second):
				t.Fatalf("rallyd did not exit after %v", sig)
			}
			if strings.Contains(logs.String(), tok) {
				t.Errorf("the admin token appears in the logs")
			}
			if !strings.Contains(logs.String(), "shutting down") {
				t.Errorf("no shutdown log line:\n%s", logs.String())
			}
		})
	}
}
