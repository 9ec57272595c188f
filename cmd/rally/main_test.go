package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rallyhq/rally/internal/app/apptest"
)

// The tests run the real rally binary, as a person at a shell would, against a real
// rallyd started in-process on the memory store.

const adminToken = "rly_admin_srDucs1aLvHAaAUJABuUdRilySVhX3Q_cuvZ8N4LFwQ"

var rallyBin string // built once by TestMain

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rally-cli-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rallyBin = filepath.Join(dir, "rally")
	if out, err := exec.Command("go", "build", "-o", rallyBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building rally: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startRallyd runs rallyd on a free loopback port and returns its gRPC address. flags
// are added to its configuration (TLS, say).
func startRallyd(t *testing.T, flags ...string) string {
	t.Helper()
	return apptest.Start(t, adminToken, flags...).GRPCAddr()
}

// user is one person at a shell, with a home and config directory of their own.
type user struct {
	t      *testing.T
	home   string
	env    []string
	output strings.Builder // everything rally printed to this user
}

func newUser(t *testing.T, server string) *user {
	home := t.TempDir()
	return &user{t: t, home: home, env: []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, "config"),
		"RALLY_SERVER=" + server,
		"TZ=UTC",
	}}
}

type result struct {
	stdout, stderr string
	code           int
}

// run runs rally with stdin and args and returns what it printed and its exit code.
func (u *user) run(stdin string, args ...string) result {
	u.t.Helper()
	cmd := exec.Command(rallyBin, args...)
	cmd.Env = u.env
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		u.t.Fatalf("rally %s: %v", strings.Join(args, " "), err)
	}
	r := result{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
	u.output.WriteString(r.stdout + r.stderr)
	return r
}

// ok runs rally and fails the test unless it succeeds.
func (u *user) ok(args ...string) result {
	u.t.Helper()
	r := u.run("", args...)
	if r.code != 0 {
		u.t.Fatalf("rally %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// fails runs rally and fails the test unless it exits with code and prints every one of
// want on stderr.
func (u *user) fails(code int, want []string, args ...string) result {
	u.t.Helper()
	r := u.run("", args...)
	if r.code != code {
		u.t.Errorf("rally %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			u.t.Errorf("rally %s: stderr lacks %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
	return r
}

// json runs rally with --json and decodes its output.
func (u *user) json(args ...string) map[string]any {
	u.t.Helper()
	r := u.ok(append(args, "--json")...)
	var out map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		u.t.Fatalf("rally %s --json: not JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
	return out
}

// loginPath is where rally saves this user's login.
func (u *user) loginPath() string { return filepath.Join(u.home, "config", "rally", "config.json") }

// rsvpsPath is where rally saves this user's RSVPs' manage tokens.
func (u *user) rsvpsPath() string { return filepath.Join(u.home, "config", "rally", "rsvps.json") }

// claimsPath is where rally saves this user's claims' tokens.
func (u *user) claimsPath() string { return filepath.Join(u.home, "config", "rally", "claims.json") }

// checkSaved checks that the file at path, readable by its owner only, holds the token of
// name (an RSVP or claim).
func checkSaved(t *testing.T, path, name, token string) {
	t.Helper()
	checkPrivate(t, path)
	if data, _ := os.ReadFile(path); !strings.Contains(string(data), token) || !strings.Contains(string(data), name) {
		t.Errorf("%s lacks %s:\n%s", path, name, data)
	}
}

// checkForget has u run `rally GROUP forget NAME`, and checks that the token of name is
// gone from the file at path.
func checkForget(u *user, group, name, token, path string) {
	u.t.Helper()
	if r := u.ok(group, "forget", name); !strings.Contains(r.stdout, "Forgot the ") || !strings.Contains(r.stdout, " of "+name) {
		u.t.Errorf("rally %s forget:\n%s", group, r.stdout)
	}
	if data, _ := os.ReadFile(path); strings.Contains(string(data), token) {
		u.t.Errorf("rally %s forget left the token:\n%s", group, data)
	}
}

// checkPrintedOnce checks that each token appears once in its holder's output, when it
// was made, and never in the organiser's.
func checkPrintedOnce(t *testing.T, holders map[string]*user, org *user) {
	t.Helper()
	for token, u := range holders {
		if n := strings.Count(u.output.String(), token); n != 1 {
			t.Errorf("a token appears %d times in its holder's output", n)
		}
		if strings.Contains(org.output.String(), token) {
			t.Errorf("a token appears in the organiser's output")
		}
	}
}
