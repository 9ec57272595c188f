package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// leanWatcher is a gRPC watcher that speaks HTTP/2 itself, with x/net's framer and HPACK,
// on one goroutine: the client the fan-out's gRPC watchers are unless -conn-grpc-client
// names grpc-go.
//
// Why by hand: the watchers are the harness's apparatus, on the same two cores as the
// rallyd they measure, and grpc-go's client spends about twice what a REST watcher does
// on each message (a reader goroutine that hands each frame to the caller's, two
// wake-ups), CPU that rallyd then lacks. What the server sees is what a phone's stack
// sends: the same frames as grpc-go with fixed windows (see grpcWatcher), the request
// in HEADERS and one DATA frame, SETTINGS and PINGs acknowledged, WINDOW_UPDATEs as the
// messages are read, and each message decoded into a Change.
func leanWatcher(ctx context.Context, addr, event string, i int, ready func(), seen func(k, i int, at int64)) error {
	defer ready()
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	w := bufio.NewWriterSize(conn, 4<<10)
	fr := http2.NewFramer(w, bufio.NewReaderSize(conn, 4<<10))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	req, err := watchRequest(addr, event)
	if err != nil {
		return err
	}
	if _, err := w.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := errors.Join(
		fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}),
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: req.headers, EndHeaders: true}),
		fr.WriteData(1, true, req.body),
		w.Flush(),
	); err != nil {
		return err
	}

	var (
		buf      []byte // what DATA frames carried that is not yet a whole message
		unacked  uint32 // bytes received and not yet returned with a WINDOW_UPDATE
		snapshot = true
	)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				err = errors.Join(fr.WriteSettingsAck(), w.Flush())
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				err = errors.Join(fr.WritePing(true, f.Data), w.Flush())
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() { // trailers, or a trailers-only answer: the watch ended
				return fmt.Errorf("WatchEvent ended: grpc-status %q, %q", field(f, "grpc-status"), field(f, "grpc-message"))
			}
			if s := f.PseudoValue("status"); s != "200" {
				return fmt.Errorf("WatchEvent: HTTP status %s", s)
			}
		case *http2.DataFrame:
			at := time.Now().UnixNano()
			buf = append(buf, f.Data()...)
			off := 0
			for len(buf)-off >= 5 {
				m := buf[off:]
				n := int(binary.BigEndian.Uint32(m[1:5]))
				if len(m) < 5+n {
					break
				}
				if m[0] != 0 {
					return errors.New("WatchEvent: a compressed message, which the request did not accept")
				}
				if snapshot {
					snapshot = false
					ready()
				} else if err := leanSeen(m[5:5+n], i, at, seen); err != nil {
					return err
				}
				off += 5 + n
			}
			buf = buf[:copy(buf, buf[off:])]
			// The window is returned once half of it is used, as grpc-go's client does.
			if unacked += f.Length; unacked >= http2DefaultWindow/2 {
				err = errors.Join(fr.WriteWindowUpdate(0, unacked), fr.WriteWindowUpdate(1, unacked), w.Flush())
				unacked = 0
			}
			if f.StreamEnded() {
				return errors.New("WatchEvent ended without trailers")
			}
		case *http2.RSTStreamFrame:
			return fmt.Errorf("WatchEvent reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return fmt.Errorf("the server went away: %v", f.ErrCode)
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// field is the value of the header field name in f, or "".
func field(f *http2.MetaHeadersFrame, name string) string {
	for _, hf := range f.Fields {
		if hf.Name == name {
			return hf.Value
		}
	}
	return ""
}

// leanSeen decodes one message of the watch, as a client would, and records an
// announcement's round.
func leanSeen(msg []byte, i int, at int64, seen func(k, i int, at int64)) error {
	var ch rallyv1.Change
	if err := proto.Unmarshal(msg, &ch); err != nil {
		return fmt.Errorf("WatchEvent: a message that is not a Change: %w", err)
	}
	if ch.GetKind() == rallyv1.ChangeKind_CHANGE_KIND_ANNOUNCEMENT {
		seen(roundOf([]byte(ch.GetAnnouncement().GetText())), i, at)
	}
	return nil
}

// h2Request is a WatchEvent call's HEADERS block and its DATA: the request message with
// gRPC's 5-byte prefix.
type h2Request struct {
	headers, body []byte
}

func watchRequest(authority, event string) (h2Request, error) {
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"},
		{Name: ":scheme", Value: "http"},
		{Name: ":path", Value: "/" + rallyv1.EventService_ServiceDesc.ServiceName + "/WatchEvent"},
		{Name: ":authority", Value: authority},
		{Name: "content-type", Value: "application/grpc"},
		{Name: "te", Value: "trailers"},
		{Name: "user-agent", Value: "rallybench-lean"},
	} {
		if err := enc.WriteField(f); err != nil {
			return h2Request{}, err
		}
	}
	m, err := proto.Marshal(&rallyv1.WatchEventRequest{Name: event})
	if err != nil {
		return h2Request{}, err
	}
	body := binary.BigEndian.AppendUint32([]byte{0}, uint32(len(m)))
	return h2Request{headers: hb.Bytes(), body: append(body, m...)}, nil
}
