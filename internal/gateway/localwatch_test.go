package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"google.golang.org/genproto/googleapis/api/annotations"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/clientip"
	"github.com/rallyhq/rally/internal/gateway"
	"github.com/rallyhq/rally/internal/pubsub/memory"
	"github.com/rallyhq/rally/internal/server"
	memstore "github.com/rallyhq/rally/internal/store/memory"
)

// watchPair is one gRPC server behind two gateways: local serves REST watches in process
// (server.Server.Local, as rallyd does), port forwards everything over the gRPC port, as
// the gateway did before, the reference local must match byte for byte.
type watchPair struct {
	local, port string
	closeLocal  func() error    // the in-process gateway's Close
	ctx         context.Context // the admin's, for gRPC calls
	events      rallyv1.EventServiceClient
	rsvps       rallyv1.RsvpServiceClient
	open        atomic.Int64 // watch streams the handler is in
	inHTTP      atomic.Int64 // of which in net/http's goroutine serving the connection
}

// noStreams is the connection the in-process gateway is given for what Local does not
// serve: a stream there would mean a watch went over the loopback connection.
type noStreams struct {
	grpc.ClientConnInterface
	t *testing.T
}

func (n noStreams) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	n.t.Error("a REST watch went over the gRPC connection")
	return nil, status.Error(codes.Unavailable, "no streams here")
}

func newWatchPair(t *testing.T) *watchPair {
	t.Helper()
	p := &watchPair{}
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC) // a fixed clock: the snapshots' change_time alike
	count := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		p.open.Add(1)
		defer p.open.Add(-1)
		buf := make([]byte, 64<<10)
		if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "net/http.(*conn).serve") {
			p.inHTTP.Add(1)
			defer p.inHTTP.Add(-1)
		}
		return h(srv, ss)
	}
	broker := memory.New()
	srv, err := server.New(server.Options{Store: memstore.New(), AdminToken: adminToken, Now: func() time.Time { return now },
		Broker: broker, MaxWatches: 1000, AttendanceWindow: time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), BeforeAuthStream: []grpc.StreamServerInterceptor{count}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.GRPC.Serve(lis) }()
	t.Cleanup(srv.GRPC.Stop)
	target := lis.Addr().String()
	for _, local := range []bool{true, false} {
		opts := gateway.Options{GRPCTarget: target, GatewayKey: "gateway-key", Resolver: clientip.NewResolver(nil)}
		if local {
			opts.Local = func(remote *grpc.ClientConn) grpc.ClientConnInterface {
				return srv.Local(server.LocalOptions{Remote: noStreams{remote, t}, Authority: target,
					Peer: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}})
			}
		}
		gw, err := gateway.New(t.Context(), opts)
		if err != nil {
			t.Fatal(err)
		}
		hs := httptest.NewServer(gw)
		t.Cleanup(func() { hs.CloseClientConnections(); hs.Close(); gw.Close() })
		if local {
			p.local, p.closeLocal = hs.URL, gw.Close
		} else {
			p.port = hs.URL
		}
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	p.ctx = metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+adminToken)
	p.events, p.rsvps = rallyv1.NewEventServiceClient(conn), rallyv1.NewRsvpServiceClient(conn)
	return p
}

// createEvent creates an event, as the admin, on the one server behind both gateways.
func (p *watchPair) createEvent(t *testing.T, id, title string) *rallyv1.Event {
	t.Helper()
	e, err := p.events.CreateEvent(p.ctx, &rallyv1.CreateEventRequest{EventId: id,
		Event: event("", title, time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// restWatch is a REST watch being read line by line.
type restWatch struct {
	resp   *http.Response
	lines  chan string
	end    error // how the body ended (io.EOF: the last chunk came), once lines is closed
	cancel context.CancelFunc
}

func (p *watchPair) watch(t *testing.T, base, path string, header ...string) *restWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	req, err := http.NewRequestWithContext(ctx, "GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A connection of its own, as a browser's fetch of a stream has.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	w := &restWatch{resp: resp, lines: make(chan string, 16), cancel: cancel}
	go func() {
		defer close(w.lines)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				w.lines <- line
			}
			if err != nil {
				w.end = err
				return
			}
		}
	}()
	t.Cleanup(cancel)
	return w
}

// next is the stream's next line, or "EOF".
func (w *restWatch) next(t *testing.T) string {
	t.Helper()
	select {
	case line, ok := <-w.lines:
		if !ok {
			return "EOF"
		}
		return line
	case <-time.After(10 * time.Second):
		t.Fatal("no line in 10 s")
		return ""
	}
}

// rest is every line until the stream ends.
func (w *restWatch) rest(t *testing.T) []string {
	t.Helper()
	var lines []string
	for {
		line := w.next(t)
		if line == "EOF" {
			return lines
		}
		lines = append(lines, line)
	}
}

// head is what the client sees of a response before its body: status, headers (Date and
// the request ID's value aside), transfer encoding.
func head(r *http.Response) string {
	h := r.Header.Clone()
	h.Del("Date")
	if h.Get("X-Request-Id") != "" {
		h.Set("X-Request-Id", "(set)")
	}
	var b strings.Builder
	b.WriteString(r.Status + " " + strings.Join(r.TransferEncoding, ",") + "\n")
	_ = h.Write(&b)
	return b.String()
}

// both opens the same watch on both gateways and checks that they answer alike.
func (p *watchPair) both(t *testing.T, path string, header ...string) (port, local *restWatch) {
	t.Helper()
	port, local = p.watch(t, p.port, path, header...), p.watch(t, p.local, path, header...)
	if a, b := head(port.resp), head(local.resp); a != b {
		t.Errorf("%s: over the port:\n%s\nin process:\n%s", path, a, b)
	}
	return port, local
}

// sameLine reads the next line of both and compares them.
func sameLine(t *testing.T, what string, port, local *restWatch) string {
	t.Helper()
	a, b := port.next(t), local.next(t)
	if a != b {
		t.Errorf("%s: over the port %q, in process %q", what, a, b)
	}
	return a
}

func sameRest(t *testing.T, what string, port, local *restWatch) []string {
	t.Helper()
	a, b := port.rest(t), local.rest(t)
	if !slices.Equal(a, b) {
		t.Errorf("%s: over the port %q, in process %q", what, a, b)
	}
	if port.end != io.EOF || local.end != io.EOF {
		t.Errorf("%s: the body ended with %v over the port, %v in process; want the last chunk", what, port.end, local.end)
	}
	return a
}

func (p *watchPair) announce(t *testing.T, eventName, text string) {
	t.Helper()
	if _, err := p.events.PostAnnouncement(p.ctx, &rallyv1.PostAnnouncementRequest{Parent: eventName,
		Announcement: &rallyv1.Announcement{Text: text}}); err != nil {
		t.Fatal(err)
	}
}

// TestLocalWatchAsThePort: a REST watch served in process answers what the same watch
// over the gRPC port answers, byte for byte: messages, resumption from a cursor, errors
// before and after the first message with their HTTP status, the RSVP holder's and the
// organiser's bearer tokens; the client's disconnection ends the handler.
func TestLocalWatchAsThePort(t *testing.T) {
	p := newWatchPair(t)
	e := p.createEvent(t, "watched", "Watched")
	path := "/v1/" + e.GetName() + ":watch"

	t.Run("anonymous", func(t *testing.T) {
		port, local := p.both(t, path)
		snapshot := sameLine(t, "snapshot", port, local)
		if !strings.Contains(snapshot, `"CHANGE_KIND_SNAPSHOT"`) || strings.Contains(snapshot, "secret corner") {
			t.Errorf("snapshot %s", snapshot)
		}
		p.announce(t, e.GetName(), "first")
		if line := sameLine(t, "announcement", port, local); !strings.Contains(line, `"first"`) {
			t.Errorf("announcement %s", line)
		}
		port.cancel()
		local.cancel()
	})

	t.Run("resume", func(t *testing.T) {
		port, local := p.both(t, path)
		var snap struct {
			Result struct{ Cursor string } `json:"result"`
		}
		line := sameLine(t, "snapshot", port, local)
		if err := json.Unmarshal([]byte(line), &snap); err != nil || snap.Result.Cursor == "" {
			t.Fatalf("snapshot %s: %v", line, err)
		}
		port.cancel()
		local.cancel()
		p.announce(t, e.GetName(), "while away")
		port, local = p.both(t, path+"?cursor="+snap.Result.Cursor)
		if line := sameLine(t, "missed announcement", port, local); !strings.Contains(line, `"while away"`) {
			t.Errorf("after resuming: %s", line)
		}
		port.cancel()
		local.cancel()
	})

	t.Run("odd cursor", func(t *testing.T) {
		port, local := p.both(t, path+"?cursor=not-a-cursor")
		sameLine(t, "odd cursor", port, local)
		port.cancel()
		local.cancel()
	})

	for _, c := range []struct {
		name, path string
		header     []string
		code       int
	}{
		{"not found", "/v1/events/nowhere:watch", nil, http.StatusNotFound},
		{"invalid name", "/v1/events/NOT_A_NAME:watch", nil, http.StatusBadRequest},
		{"query not UTF-8", path + "?cursor=%ff", nil, http.StatusBadRequest},
		{"bad bearer token", path, []string{"Authorization", "Bearer rly_rsvp_nonsense"}, http.StatusUnauthorized},
		{"no such organiser token", path, []string{"Authorization", "Bearer rly_org_nonsense"}, http.StatusUnauthorized},
	} {
		t.Run(c.name, func(t *testing.T) {
			port, local := p.both(t, c.path, c.header...)
			lines := sameRest(t, c.name, port, local)
			if c.code != 0 && port.resp.StatusCode != c.code {
				t.Errorf("status %d, want %d: %q", port.resp.StatusCode, c.code, lines)
			}
		})
	}

	t.Run("organiser", func(t *testing.T) {
		port, local := p.both(t, path, "Authorization", "Bearer "+adminToken)
		if line := sameLine(t, "snapshot", port, local); !strings.Contains(line, "secret corner") {
			t.Errorf("the organiser's snapshot has no meeting point: %s", line)
		}
		port.cancel()
		local.cancel()
	})

	t.Run("rsvp holder", func(t *testing.T) {
		// One RSVP per gateway, so that cancelling ends both streams alike.
		var watches [2]*restWatch
		var names [2]string
		var tokens [2]string
		for i := range 2 {
			r, err := p.rsvps.CreateRsvp(t.Context(), &rallyv1.CreateRsvpRequest{Parent: e.GetName(),
				Rsvp: &rallyv1.Rsvp{State: rallyv1.RsvpState_RSVP_STATE_GOING}})
			if err != nil {
				t.Fatal(err)
			}
			names[i], tokens[i] = r.GetRsvp().GetName(), r.GetManageToken()
		}
		// The RSVPs' coalesced attendance change (a 1 ms window) may reach the holders'
		// history between the two snapshots, whose cursors then differ by one: open both
		// again until they were taken at the same position.
		var snapshots [2]string
		for attempt := 0; ; attempt++ {
			watches[0] = p.watch(t, p.port, path, "Authorization", "Bearer "+tokens[0])
			watches[1] = p.watch(t, p.local, path, "Authorization", "Bearer "+tokens[1])
			snapshots[0], snapshots[1] = watches[0].next(t), watches[1].next(t)
			if snapshots[0] == snapshots[1] || attempt == 20 {
				break
			}
			watches[0].cancel()
			watches[1].cancel()
			time.Sleep(10 * time.Millisecond)
		}
		if a, b := head(watches[0].resp), head(watches[1].resp); a != b {
			t.Errorf("over the port:\n%s\nin process:\n%s", a, b)
		}
		if snapshots[0] != snapshots[1] {
			t.Errorf("holder's snapshot: over the port %q, in process %q", snapshots[0], snapshots[1])
		}
		for i := range 2 {
			ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+tokens[i])
			if _, err := p.rsvps.CancelRsvp(ctx, &rallyv1.CancelRsvpRequest{Name: names[i]}); err != nil {
				t.Fatal(err)
			}
		}
		p.announce(t, e.GetName(), "to everyone")
		lines := sameRest(t, "after the RSVP was cancelled", watches[0], watches[1])
		if len(lines) == 0 || !strings.Contains(lines[len(lines)-1], `"code":7`) {
			t.Errorf("the stream of a cancelled RSVP ends with %q, want PERMISSION_DENIED", lines)
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		waitOpen(t, p, 0)
		w := p.watch(t, p.local, path)
		w.next(t)
		waitOpen(t, p, 1)
		if p.inHTTP.Load() != 0 {
			t.Error("the watch's handler runs in net/http's goroutine of the connection")
		}
		waitReleased(t)
		if !w.resp.Close {
			t.Error("a watch that owns its connection does not say Connection: close")
		}
		w.cancel()
		waitOpen(t, p, 0)
	})
}

// waitReleased waits until no goroutine of net/http's serving a connection is in a watch
// route's handler: a REST watch over HTTP/1.1 owns its connection once its first message
// is written (watchconn.go), and the request's goroutine returns.
func waitReleased(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		buf := make([]byte, 1<<20)
		held := 0
		for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
			if strings.Contains(g, "net/http.(*conn).serve") && strings.Contains(g, "serveWatchesLocally") {
				held++
			}
		}
		if held == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of net/http's connection goroutines still held by watches", held)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitOpen waits until the server's handlers hold n watch streams.
func waitOpen(t *testing.T, p *watchPair, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for p.open.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d watch streams open, want %d", p.open.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWatchRoutes: the gateway serves in process the route of every server-streaming
// method with an HTTP binding, and knows each request's path parameters.
func TestWatchRoutes(t *testing.T) {
	var want []string
	protoregistry.GlobalFiles.RangeFilesByPackage("rally.v1", func(f protoreflect.FileDescriptor) bool {
		for i := range f.Services().Len() {
			s := f.Services().Get(i)
			for j := range s.Methods().Len() {
				m := s.Methods().Get(j)
				if !m.IsStreamingServer() {
					continue
				}
				rule, _ := proto.GetExtension(m.Options(), annotations.E_Http).(*annotations.HttpRule)
				if rule.GetGet() == "" {
					t.Errorf("%s: a stream without a GET binding", m.FullName())
					continue
				}
				if !strings.HasSuffix(rule.GetGet(), gateway.WatchVerb) {
					t.Errorf("%s: GET %s does not end in %s, which the middlewares tell a stream by", m.FullName(), rule.GetGet(), gateway.WatchVerb)
				}
				want = append(want, "/"+string(s.FullName())+"/"+string(m.Name())+" "+rule.GetGet())
			}
		}
		return true
	})
	slices.Sort(want)
	if got := gateway.WatchRoutes(); !slices.Equal(got, want) {
		t.Errorf("routes served in process %q, want %q", got, want)
	}
}

// TestCloseEndsOwnedWatches: a REST watch that owns its connection is beyond
// http.Server's Shutdown and Close; the gateway's Close ends it and waits for its handler.
func TestCloseEndsOwnedWatches(t *testing.T) {
	p := newWatchPair(t)
	e := p.createEvent(t, "closing", "Closing")
	w := p.watch(t, p.local, "/v1/"+e.GetName()+":watch")
	w.next(t)
	waitReleased(t)
	waitOpen(t, p, 1)
	closed := make(chan error, 1)
	go func() { closed <- p.closeLocal() }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close still waiting after 10 s")
	}
	if p.open.Load() != 0 {
		t.Error("Close returned before the watch's handler did")
	}
	if line := w.next(t); line != "EOF" {
		t.Errorf("after Close the watch got %q, want its end", line)
	}
}

// TestWatchOverHTTP10: HTTP/1.0 has no chunked encoding, so a watch asked for over it
// keeps net/http's goroutine, which delimits the body by closing the connection, and
// still streams each message as it comes.
func TestWatchOverHTTP10(t *testing.T) {
	p := newWatchPair(t)
	e := p.createEvent(t, "old-client", "Old client")
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.local, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "GET /v1/"+e.GetName()+":watch HTTP/1.0\r\nHost: rally\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) != 0 {
		t.Fatalf("HTTP/1.0 watch: %s, transfer encoding %q", resp.Status, resp.TransferEncoding)
	}
	lines := bufio.NewReader(resp.Body)
	if line, err := lines.ReadString('\n'); err != nil || !strings.Contains(line, "CHANGE_KIND_SNAPSHOT") {
		t.Fatalf("first line %q, %v", line, err)
	}
	p.announce(t, e.GetName(), "still here")
	if line, err := lines.ReadString('\n'); err != nil || !strings.Contains(line, `"still here"`) {
		t.Fatalf("announcement line %q, %v", line, err)
	}
	if p.inHTTP.Load() != 1 {
		t.Errorf("%d watches in net/http's goroutine, want the HTTP/1.0 one", p.inHTTP.Load())
	}
}
