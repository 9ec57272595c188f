package e2e_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/app"
	"github.com/rallyhq/rally/internal/config"
	"github.com/rallyhq/rally/internal/tlsutil/tlstest"
)

// trusting returns TLS client settings that trust the certificate in certFile.
func trusting(t *testing.T, certFile string) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in", certFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// TestTLS serves both ports over TLS: clients that trust the certificate get through,
// REST included (so the gateway dials the gRPC port over TLS), and plaintext clients do not.
func TestTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := tlstest.SelfSigned(t)
	a := startApp(t, "", "--tls-cert="+certFile, "--tls-key="+keyFile)

	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(credentials.NewTLS(trusting(t, certFile))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+token)
	if _, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(ctx, &rallyv1.CreateCampaignRequest{
		CampaignId: "over-tls", Campaign: &rallyv1.Campaign{Title: "Over TLS"}}); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}

	https := &http.Client{Transport: &http.Transport{TLSClientConfig: trusting(t, certFile)}, Timeout: 10 * time.Second}
	resp, err := https.Get("https://" + a.HTTPAddr() + "/v1/campaigns/over-tls")
	if err != nil {
		t.Fatalf("HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "Over TLS") {
		t.Fatalf("REST over HTTPS: HTTP %d %s", resp.StatusCode, body)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security %q over HTTPS", hsts)
	}

	plain, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := rallyv1.NewCampaignServiceClient(plain).ListCampaigns(pctx, &rallyv1.ListCampaignsRequest{}); err == nil {
		t.Error("a plaintext gRPC client got an answer from the TLS port")
	} else {
		t.Logf("plaintext gRPC: %v", status.Code(err))
	}
	if resp, err := (&http.Client{Timeout: 5 * time.Second}).Get("http://" + a.HTTPAddr() + "/v1/campaigns"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("a plaintext HTTP client got an answer from the HTTPS port")
		}
	}
	// A client that does not trust the certificate is refused.
	if _, err := http.Get("https://" + a.HTTPAddr() + "/v1/campaigns"); err == nil {
		t.Error("the system's roots accepted the self-signed certificate")
	}
}

// TestRunWithTLS runs rallyd as `rallyd --demo --tls-cert ... --tls-key ...` would: the
// demo data is seeded over TLS, and the banner shows https:// URLs and a grpcurl command
// that trusts the certificate.
func TestRunWithTLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile := tlstest.SelfSigned(t)
	cfg, err := config.Parse([]string{"--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0", "--demo",
		"--tls-cert=" + certFile, "--tls-key=" + keyFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out, banner := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), banner) }()

	var text strings.Builder
	restURL := ""
	sc := bufio.NewScanner(out)
	for sc.Scan() && !strings.Contains(text.String(), "gRPC:") {
		text.WriteString(sc.Text() + "\n")
		if m := regexp.MustCompile(`REST:\s+(\S+)/v1/campaigns`).FindStringSubmatch(sc.Text()); m != nil {
			restURL = m[1]
		}
	}
	go io.Copy(io.Discard, out)
	if !strings.HasPrefix(restURL, "https://localhost:") || !strings.Contains(text.String(), "grpcurl -cacert "+certFile+" localhost:") ||
		strings.Contains(text.String(), "-plaintext") {
		t.Errorf("banner:\n%s", text.String())
	}
	https := &http.Client{Transport: &http.Transport{TLSClientConfig: trusting(t, certFile)}, Timeout: 10 * time.Second}
	resp, err := https.Get(restURL + "/v1/events/demo-berlin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("demo event over HTTPS: HTTP %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}
