package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding/gzip"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// TestBinaryConventions runs the real rallyd, in a process of its own, so that only what
// the binary itself registers counts (in process, the test's own gzip client would
// register gzip for the server too): a client compressing with gzip is served; the
// health service answers for rally.v1.EventService as grpc-health-probe
// -service=rally.v1.EventService asks; REST responses carry no Grpc-Metadata- header; and
// /metrics has every method's series from the start. internal/e2e's ecosystem tests
// check each in depth.
func TestBinaryConventions(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "rallyd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--demo", "--grpc-addr=127.0.0.1:0", "--http-addr=127.0.0.1:0", "--metrics-addr=127.0.0.1:0")
	cmd.Env = append(os.Environ(), "RALLY_ADMIN_TOKEN=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	var restURL, grpcAddr, metricsURL string
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(20*time.Second, func() { cmd.Process.Kill() })
	for sc.Scan() && (restURL == "" || grpcAddr == "" || metricsURL == "") {
		line := sc.Text()
		if m := regexp.MustCompile(`REST:\s+(http://\S+)/v1/campaigns`).FindStringSubmatch(line); m != nil {
			restURL = m[1]
		}
		if m := regexp.MustCompile(`gRPC:\s+(\S+)`).FindStringSubmatch(line); m != nil {
			grpcAddr = m[1]
		}
		if m := regexp.MustCompile(`Metrics:\s+(http://\S+/metrics)`).FindStringSubmatch(line); m != nil {
			metricsURL = m[1]
		}
	}
	deadline.Stop()
	go io.Copy(io.Discard, stdout)
	if restURL == "" || grpcAddr == "" || metricsURL == "" {
		t.Fatalf("the banner lacks an address: REST %q, gRPC %q, metrics %q", restURL, grpcAddr, metricsURL)
	}

	conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.UseCompressor(gzip.Name)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()

	ev, err := rallyv1.NewEventServiceClient(conn).GetEvent(ctx, &rallyv1.GetEventRequest{Name: "events/demo-berlin"})
	if err != nil {
		t.Errorf("GetEvent compressed with gzip: %v", err)
	} else if ev.GetName() != "events/demo-berlin" {
		t.Errorf("GetEvent compressed with gzip: %v", ev)
	}

	plain, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	resp, err := healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{Service: "rally.v1.EventService"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health of rally.v1.EventService: %v, %v; want SERVING", resp.GetStatus(), err)
	}

	rest, err := http.Get(restURL + "/v1/events/demo-berlin")
	if err != nil {
		t.Fatal(err)
	}
	rest.Body.Close()
	for k, v := range rest.Header {
		if strings.HasPrefix(strings.ToLower(k), "grpc-") {
			t.Errorf("REST response header %s: %q", k, v)
		}
	}

	metrics, err := http.Get(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	// Never called, yet there, at zero.
	for _, series := range []string{
		`grpc_server_handled_total{grpc_code="Unavailable",grpc_method="CreateRsvp",grpc_service="rally.v1.RsvpService",grpc_type="unary"} 0`,
		`grpc_server_handling_seconds_count{grpc_method="CheckInRsvp",grpc_service="rally.v1.RsvpService",grpc_type="unary"} 0`,
		`grpc_server_started_total{grpc_method="WatchCampaign",grpc_service="rally.v1.EventService",grpc_type="server_stream"} 0`,
	} {
		if !strings.Contains(string(body), series+"\n") {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	if strings.Contains(string(body), `grpc_server_handling_seconds_count{grpc_method="WatchCampaign"`) {
		t.Error("/metrics times the stream WatchCampaign")
	}
}
