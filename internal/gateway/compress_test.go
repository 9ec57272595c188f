package gateway_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// gunzip decodes a gzip body with the standard library's reader, not the compressor's.
func gunzip(t *testing.T, body string) string {
	t.Helper()
	zr, err := gzip.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not gzip: %v", err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad gzip: %v", err)
	}
	return string(b)
}

func unzstd(t *testing.T, body string) string {
	t.Helper()
	zr, err := zstd.NewReader(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("bad zstd: %v", err)
	}
	return string(b)
}

// Public JSON, feeds, the OpenAPI document and the web client's files are compressed
// when the client asks, in the coding it asks for, and only then; every such response
// says Vary: Accept-Encoding; the compressed body decodes to the plain one.
func TestCompression(t *testing.T) {
	r := startRally(t, noLimits)
	if _, err := r.campaigns.CreateCampaign(r.ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "vigils", Campaign: &rallyv1.Campaign{Title: "Vigils"},
	}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c", "d", "e", "f"} {
		e := event("campaigns/vigils", "Vigil "+id, time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC))
		e.Description = strings.Repeat("Candles, flags and a calm voice. ", 10)
		r.createEvent(t, "vigil-"+id, e)
	}
	for _, path := range []string{
		"/v1/events?pageSize=100", "/v1/events/vigil-a", "/v1/campaigns/vigils.ics", "/v1/events/vigil-a.ics",
		"/openapi.json", "/", "/e/vigil-a", "/assets/event.js", "/assets/style.css",
	} {
		t.Run(path, func(t *testing.T) {
			plain, want := r.raw(t, "GET", path, "")
			if plain.StatusCode != 200 || plain.Header.Get("Content-Encoding") != "" {
				t.Fatalf("not asked: %d, Content-Encoding %q", plain.StatusCode, plain.Header.Get("Content-Encoding"))
			}
			// The coding expected for each Accept-Encoding: the API's compressor prefers zstd
			// at equal q; the web client's files have a gzip copy, which a client that
			// takes gzip gets (and one that takes zstd alone gets them compressed by the
			// API's compressor).
			web := !strings.HasPrefix(path, "/v1/") && path != "/openapi.json"
			for ae, wantCE := range map[string]string{
				"gzip": "gzip", "gzip, deflate, br, zstd": "zstd", "zstd": "zstd", "br;q=1, gzip;q=0.5": "gzip",
				"identity": "", "gzip;q=0": "", "br": "",
			} {
				if web && strings.Contains(ae, "gzip") && ae != "gzip;q=0" {
					wantCE = "gzip"
				}
				resp, body := r.raw(t, "GET", path, "", "Accept-Encoding", ae)
				if !strings.Contains(resp.Header.Get("Vary"), "Accept-Encoding") {
					t.Errorf("Accept-Encoding %q: Vary %q", ae, resp.Header.Get("Vary"))
				}
				ce := resp.Header.Get("Content-Encoding")
				switch ce {
				case "gzip":
					body = gunzip(t, body)
				case "zstd":
					body = unzstd(t, body)
				}
				if body != want && !strings.HasSuffix(path, ".ics") { // a feed's DTSTAMP moves
					t.Errorf("Accept-Encoding %q (%s): body differs from the plain one", ae, ce)
				}
				if ce != wantCE {
					t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", ae, ce, wantCE)
				}
				if ce != "" && resp.ContentLength >= int64(len(want)) && resp.ContentLength != -1 {
					t.Errorf("Accept-Encoding %q: %d bytes compressed, %d plain", ae, resp.ContentLength, len(want))
				}
			}
		})
	}
}

// The web client's files are compressed once, not on every request: the gzip copy has
// an ETag of its own, and answers If-None-Match with 304.
func TestCompressedAssetETag(t *testing.T) {
	r := startRally(t, noLimits)
	plain, _ := r.raw(t, "GET", "/assets/event.js", "")
	gz, _ := r.raw(t, "GET", "/assets/event.js", "", "Accept-Encoding", "gzip")
	if gz.Header.Get("Content-Encoding") != "gzip" || gz.Header.Get("ETag") == "" || gz.Header.Get("ETag") == plain.Header.Get("ETag") {
		t.Fatalf("gzip copy: Content-Encoding %q, ETag %q (plain %q)", gz.Header.Get("Content-Encoding"), gz.Header.Get("ETag"), plain.Header.Get("ETag"))
	}
	if resp, body := r.raw(t, "GET", "/assets/event.js", "", "Accept-Encoding", "gzip", "If-None-Match", gz.Header.Get("ETag")); resp.StatusCode != 304 || body != "" {
		t.Errorf("If-None-Match of the gzip copy: %d", resp.StatusCode)
	}
	if resp, _ := r.raw(t, "GET", "/assets/event.js", "", "If-None-Match", gz.Header.Get("ETag")); resp.StatusCode != 200 {
		t.Errorf("the gzip copy's ETag, asked without gzip: %d, want 200 (the plain file)", resp.StatusCode)
	}
}

// What carries a secret is never compressed (BREACH): the manage token of a new RSVP,
// the secret of a new API token, and any response to a caller with a credential (an RSVP
// holder's read, an organiser's read with the meeting point), however the client asks.
func TestNoCompressionOfSecrets(t *testing.T) {
	r := startRally(t, noLimits)
	r.createEvent(t, "vigil", event("", "Vigil", time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)))
	const ae = "gzip, deflate, br, zstd"
	check := func(what string, resp *http.Response, body string, secret string) {
		t.Helper()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" || !strings.Contains(body, secret) {
			t.Errorf("%s: %d, Content-Encoding %q, secret in clear: %v", what, resp.StatusCode, resp.Header.Get("Content-Encoding"), strings.Contains(body, secret))
		}
	}

	// These bodies are below the compressor's minimum size (1 KiB) whatever the fields
	// hold: TestCompressible shows that the policy refuses them all the same.
	resp, body := r.post(t, "/v1/events/vigil/rsvps", `{"displayName":"Ana `+strings.Repeat("𐰀", 50)+`"}`)
	var rsvp struct {
		Rsvp        struct{ Name string }
		ManageToken string
	}
	if err := json.Unmarshal([]byte(body), &rsvp); err != nil || rsvp.ManageToken == "" {
		t.Fatalf("CreateRsvp: %d %q", resp.StatusCode, body)
	}
	check("CreateRsvp", resp, body, rsvp.ManageToken)
	resp, body = r.raw(t, "GET", "/v1/"+rsvp.Rsvp.Name, "", "Accept-Encoding", ae, "Authorization", "Bearer "+rsvp.ManageToken)
	check("GetRsvp by its holder", resp, body, "Ana 𐰀")
	resp, body = r.raw(t, "GET", "/v1/"+rsvp.Rsvp.Name, "", "Accept-Encoding", ae, "Grpc-Metadata-Authorization", "Bearer "+rsvp.ManageToken)
	check("GetRsvp by its holder, token in metadata", resp, body, "Ana 𐰀")
	resp, body = r.raw(t, "GET", "/v1/events/vigil", "", "Accept-Encoding", ae, "Authorization", "Bearer "+adminToken)
	check("GetEvent by the admin", resp, body, "secret corner")

	resp, body = r.post(t, "/v1/organisers?organiserId=ana", `{"displayName":"Ana"}`, "Authorization", "Bearer "+adminToken)
	if resp.StatusCode != 200 {
		t.Fatalf("CreateOrganiser: %d %s", resp.StatusCode, body)
	}
	resp, body = r.post(t, "/v1/organisers/ana/apiTokens", `{"displayName":"`+strings.Repeat("𐰀", 100)+`"}`, "Authorization", "Bearer "+adminToken)
	var tok struct{ Secret string }
	if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Secret == "" {
		t.Fatalf("CreateApiToken: %d %q", resp.StatusCode, body)
	}
	check("CreateApiToken", resp, body, tok.Secret)
}

// A watch over REST is never compressed, whatever the client accepts (a compressor's
// state for the life of each stream: compress.go), and streams each message as it is
// written, long before the stream ends.
func TestWatchStreamsUncompressed(t *testing.T) {
	r := startRally(t, noLimits)
	r.createEvent(t, "vigil", event("", "Vigil", time.Date(2030, 5, 17, 12, 0, 0, 0, time.UTC)))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", r.base+"/v1/events/vigil:watch", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "gzip, deflate, br, zstd") // what browsers send
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("watch: %d, Content-Encoding %q; want a plain stream", resp.StatusCode, resp.Header.Get("Content-Encoding"))
	}
	lines := bufio.NewReader(resp.Body)
	next := func(want string) {
		t.Helper()
		line, err := lines.ReadBytes('\n')
		if err != nil {
			t.Fatalf("waiting for %s: %v", want, err)
		}
		if !bytes.Contains(line, []byte(want)) {
			t.Fatalf("got %s, want a message with %s", line, want)
		}
	}
	next("CHANGE_KIND_SNAPSHOT")
	if _, err := r.events.UpdateEvent(r.ctx, &rallyv1.UpdateEventRequest{
		Event:      &rallyv1.Event{Name: "events/vigil", Title: "Vigil, moved"},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title"}},
	}); err != nil {
		t.Fatal(err)
	}
	next("CHANGE_KIND_UPDATED")
}
