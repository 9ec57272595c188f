package app_test

import (
	"bytes"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/rallyhq/rally/internal/app/apptest"
)

// TestGRPCStaticWindows speaks HTTP/2 to the gRPC port as a client would and checks the
// flow control that limits.go sets: windows that hold one whole request of
// --max-request-bytes, stream and connection alike, and no BDP PING from the server when a
// request arrives (grpc-go's dynamic windows send one on the first DATA frame of a
// connection, and on later ones).
func TestGRPCStaticWindows(t *testing.T) {
	const maxRequest = 300_000
	a := apptest.Start(t, "rly_admin_srDucs1aLvHAaAUJABuUdRilySVhX3Q_cuvZ8N4LFwQ", "--max-request-bytes=300000")
	conn, err := net.Dial("tcp", a.GRPCAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte(http2.ClientPreface)); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	// A health Check: HEADERS, then the empty request in one DATA frame (its 5-byte
	// prefix), which ends the stream.
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/grpc.health.v1.Health/Check"},
		{":authority", "rally.test"}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	if err := fr.WriteData(1, true, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}

	const want = maxRequest + 5 // the message and its length prefix
	var streamWindow, connIncrement uint32
	var answered bool
	for !answered {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading the server's frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				streamWindow = v
			}
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connIncrement += f.Increment
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				t.Errorf("the server sent a PING (%x) with a request in flight: dynamic flow-control windows (BDP estimation)", f.Data)
				fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				if got := f.PseudoValue("status"); got != "" && got != "200" {
					t.Errorf(":status %s", got)
				}
				for _, h := range f.RegularFields() {
					if h.Name == "grpc-status" && h.Value != "0" {
						t.Errorf("grpc-status %s", h.Value)
					}
				}
				answered = true
			}
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY: %v %s", f.ErrCode, f.DebugData())
		}
	}
	if streamWindow != want {
		t.Errorf("stream window %d, want %d (SETTINGS_INITIAL_WINDOW_SIZE)", streamWindow, want)
	}
	// The connection's window starts at HTTP/2's 65,535 and is raised by WINDOW_UPDATE.
	if got := 65535 + connIncrement; got < want {
		t.Errorf("connection window %d, want at least %d", got, want)
	}
}
