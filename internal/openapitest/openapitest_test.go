// Package openapitest checks that the OpenAPI document serves clients that no one here
// wrote: it generates a TypeScript client from the document a running rallyd serves, with
// the pinned npm tools of tools/package.json, type-checks a small program against it and
// runs that program against the server.
package openapitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rallyhq/rally/internal/app/apptest"
)

const adminToken = "rly_admin_caa21219b97e5370e344a412f38f46212c72ddde6d300b45"

// tools is where `make tools` installs the pinned npm tools, from this package's directory.
const tools = "../../tools/node_modules"

// The event the client reads.
const (
	eventID    = "vigil-berlin"
	eventTitle = "Vigil at the Embassy of Kazakhstan"
)

// TestGeneratedTypeScriptClient generates TypeScript types from /openapi.json (OpenAPI 2,
// converted to 3 by swagger2openapi, since openapi-typescript reads 3.x only), compiles
// testdata/client.mts against them with tsc --strict, and runs it with node: it calls
// GET /v1/events/{event} by that path, a missing event, and the event's .ics feed. The
// tools are real dependencies of the test: missing, it fails (run `make tools`).
func TestGeneratedTypeScriptClient(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH: this test needs Node.js 20.19 or later (the Debian package nodejs), and `make tools`")
	}
	modules, err := filepath.Abs(tools)
	if err != nil {
		t.Fatal(err)
	}
	bin := map[string]string{}
	for _, name := range []string{"swagger2openapi", "openapi-typescript", "tsc"} {
		script, err := filepath.EvalSymlinks(filepath.Join(modules, ".bin", name))
		if err != nil {
			t.Fatalf("%s is not installed in tools/node_modules: run `make tools` (%v)", name, err)
		}
		bin[name] = script
	}
	if _, err := os.Stat(filepath.Join(modules, "openapi-fetch", "package.json")); err != nil {
		t.Fatalf("openapi-fetch is not installed in tools/node_modules: run `make tools` (%v)", err)
	}

	a := apptest.Start(t, adminToken)
	base := "http://" + a.HTTPAddr()
	call(t, "POST", base+"/v1/campaigns?campaignId=kz-solidarity", `{"title":"Solidarity with LGBTI people in Kazakhstan"}`)
	call(t, "POST", base+"/v1/events?eventId="+eventID, `{
	  "campaign": "campaigns/kz-solidarity",
	  "title": "`+eventTitle+`",
	  "venue": {"kind": "VENUE_KIND_EMBASSY", "representedCountry": "KZ", "locality": "Berlin", "country": "DE"},
	  "startTime": "2030-05-17T12:00:00Z",
	  "endTime": "2030-05-17T14:00:00Z",
	  "timeZone": "Europe/Berlin",
	  "capacity": 100
	}`)

	// The document as the server serves it: resource paths expanded, none collapsed into
	// /v1/{name}.
	dir := t.TempDir()
	doc := call(t, "GET", base+"/openapi.json", "")
	var parsed struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &parsed); err != nil {
		t.Fatalf("/openapi.json: %v", err)
	}
	for _, want := range []string{"/v1/events/{event}", "/v1/events/{event}.ics", "/v1/campaigns/{campaign}.ics"} {
		if parsed.Paths[want]["get"] == nil {
			t.Errorf("the document has no GET %s", want)
		}
	}
	for p := range parsed.Paths {
		if strings.Contains(p, "{name") || strings.Contains(p, "{parent") || strings.Contains(p, ".name}") {
			t.Errorf("the document has a collapsed resource path %s", p)
		}
	}
	write(t, filepath.Join(dir, "rally.swagger.json"), string(doc))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, node, args...)
		cmd.Dir = dir
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			t.Fatalf("node %s: %v\n%s", strings.Join(args, " "), err, out.String())
		}
		return out.String()
	}
	run(bin["swagger2openapi"], "rally.swagger.json", "--outfile", "rally.openapi.json")
	run(bin["openapi-typescript"], "rally.openapi.json", "--output", "rally.d.ts")

	src, err := os.ReadFile("testdata/client.mts")
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "client.mts"), string(src))
	write(t, filepath.Join(dir, "config.mts"), fmt.Sprintf("export const baseUrl = %q;\nexport const eventId = %q;\nexport const eventTitle = %q;\n", base, eventID, eventTitle))
	if err := os.Symlink(modules, filepath.Join(dir, "node_modules")); err != nil {
		t.Fatal(err)
	}
	run(bin["tsc"], "--strict", "--noEmitOnError", "--target", "es2022", "--module", "nodenext", "--moduleResolution", "nodenext",
		"--outDir", "out", "client.mts", "config.mts")
	out := run(filepath.Join("out", "client.mjs"))

	var result struct {
		Name, Title   string
		Missing       int
		CalendarBytes int
	}
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &result); err != nil {
		t.Fatalf("client output %q: %v", out, err)
	}
	if result.Name != "events/"+eventID || result.Title != eventTitle || result.Missing != 404 || result.CalendarBytes == 0 {
		t.Errorf("client saw %+v", result)
	}
}

// call sends a request with the admin token and returns the body of a 200.
func call(t *testing.T, method, url, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, raw)
	}
	return raw
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
