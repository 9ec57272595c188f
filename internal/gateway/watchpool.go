package gateway

import (
	"context"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// Watch streams over REST (issue 19). Every REST call goes to the gRPC port over
// loopback, and a watch holds its call open for as long as the client watches. On one
// connection, the gRPC port's --grpc-max-streams (default 1000) would then cap the REST
// watchers of a replica, and once they were that many every other REST call would wait
// for one of them to end. streamPool spreads the streams over as many loopback
// connections as they need, streamsPerConn each; unary calls go where they went before.

// streamsPerConn is how many streams the pool opens on one loopback connection: well
// under the gRPC port's --grpc-max-streams (default 1000), so that a stream never waits
// for the server's quota. Each connection is one of the loopback address's
// --max-conns-per-addr (default 128, trusted proxies aside): 100 × 127 streams before
// that cap.
const streamsPerConn = 100

// streamPool is a grpc.ClientConnInterface whose unary calls go to unary and whose
// streams go to the pooled connections, the first of which is first.
type streamPool struct {
	unary   grpc.ClientConnInterface
	dial    func() (*grpc.ClientConn, error)
	perConn int // streamsPerConn, but for tests

	mu    sync.Mutex
	conns []*pooledConn
	first *grpc.ClientConn // closed by the gateway, not the pool
}

type pooledConn struct {
	cc      *grpc.ClientConn
	streams int // open streams, guarded by streamPool.mu
}

func newStreamPool(unary grpc.ClientConnInterface, first *grpc.ClientConn, dial func() (*grpc.ClientConn, error)) *streamPool {
	return &streamPool{unary: unary, dial: dial, perConn: streamsPerConn, first: first, conns: []*pooledConn{{cc: first}}}
}

// Invoke implements grpc.ClientConnInterface.
func (p *streamPool) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return p.unary.Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface: the stream goes to the first connection
// with room, or to a new one. It counts until ctx ends: grpc-gateway cancels a call's
// context when its HTTP request ends, however the stream ended.
func (p *streamPool) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	c, err := p.take()
	if err != nil {
		return nil, err
	}
	release := func() {
		p.mu.Lock()
		c.streams--
		p.mu.Unlock()
	}
	s, err := c.cc.NewStream(ctx, desc, method, opts...)
	if err != nil {
		release()
		return nil, err
	}
	context.AfterFunc(ctx, release)
	return s, nil
}

func (p *streamPool) take() (*pooledConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.streams < p.perConn {
			c.streams++
			return c, nil
		}
	}
	// grpc.NewClient does not connect (the first stream does), so this holds the lock
	// only briefly.
	cc, err := p.dial()
	if err != nil {
		return nil, err
	}
	c := &pooledConn{cc: cc, streams: 1}
	p.conns = append(p.conns, c)
	return c, nil
}

// Close closes the connections the pool dialled.
func (p *streamPool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		if c.cc != p.first {
			c.cc.Close()
		}
	}
	p.conns = p.conns[:1]
	return nil
}

// The JSON of a watch stream's message. grpc-gateway marshals each message of a stream
// for its watcher, as {"result": message}, with protojson and then encoding/json: about
// half of the CPU of delivering a change over REST. Every REST watcher of a change who
// sees it alike receives the same message, so the JSON is kept for the most recent
// messages, keyed by their deterministic protobuf encoding: equal keys mean equal
// messages and therefore equal JSON, so no watcher can be given what another sees
// unless it is exactly what it would see itself.

// streamJSONCacheLen is how many messages' JSON is kept: the few changes in flight at
// once on a replica.
const streamJSONCacheLen = 64

// streamJSONMaxKey bounds the messages kept: big ones (a campaign's snapshots) are rare
// and would hold memory.
const streamJSONMaxKey = 16 << 10

type streamJSONCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	ring [streamJSONCacheLen]string
	next int
}

// marshal returns the JSON of {"result": msg} as marshal makes it, from the cache when it
// can.
func (c *streamJSONCache) marshal(msg proto.Message, v any, marshal func(any) ([]byte, error)) ([]byte, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(msg)
	if err != nil || len(b) > streamJSONMaxKey {
		return marshal(v)
	}
	key := string(proto.MessageName(msg)) + "\x00" + string(b)
	c.mu.Lock()
	out, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	if out, err = marshal(v); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[string][]byte, streamJSONCacheLen)
	}
	if _, ok := c.m[key]; !ok {
		delete(c.m, c.ring[c.next])
		c.ring[c.next] = key
		c.next = (c.next + 1) % streamJSONCacheLen
		c.m[key] = out
	}
	return out, nil
}

// streamResult returns the message of a stream chunk grpc-gateway marshals: a map whose
// only entry is "result", holding a message of a watch stream.
func streamResult(v any) (proto.Message, bool) {
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return nil, false
	}
	msg, ok := m["result"].(proto.Message)
	if !ok || msg == nil {
		return nil, false
	}
	return msg, true
}

// streamJSON is the cache of every gateway in the process: they all marshal with the one
// fieldMarshaler New builds (EmitUnpopulated), so a message's JSON is the same whichever
// gateway made it.
var streamJSON streamJSONCache

// Marshal implements runtime.Marshaler: JSONPb's, with the JSON of watch streams'
// messages shared (see streamJSONCache).
func (m fieldMarshaler) Marshal(v any) ([]byte, error) {
	if msg, ok := streamResult(v); ok {
		return streamJSON.marshal(msg, v, m.JSONPb.Marshal)
	}
	return m.JSONPb.Marshal(v)
}
