package gateway

import (
	"sync"

	"google.golang.org/protobuf/proto"
)

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

// wireMessage is a message that comes with its protobuf encoding: a watch's Change, which
// the server encodes once for all the watchers it reaches (internal/server, wire.go). Its
// key is then made without encoding it again. Equal bytes still mean equal messages,
// whichever encoder made them; an encoding that differs only in order (a map's) costs a
// second entry, never another message's JSON.
type wireMessage interface {
	proto.Message
	Wire() []byte
}

type streamJSONCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	ring [streamJSONCacheLen]string
	next int
}

// keyBufs holds the buffers that keys are built in: a lookup, once per watcher of every
// message, then allocates nothing (Go looks a map up by string(bytes) without a copy);
// only a message's first watcher makes the key a string of its own.
var keyBufs = sync.Pool{New: func() any { return new([]byte) }}

// marshal returns the JSON of {"result": msg} as marshal makes it, from the cache when it
// can.
func (c *streamJSONCache) marshal(msg proto.Message, v any, marshal func(any) ([]byte, error)) ([]byte, error) {
	buf := keyBufs.Get().(*[]byte)
	defer keyBufs.Put(buf)
	// The key: the message's name, a NUL (in no name), its encoding.
	k := append(append((*buf)[:0], proto.MessageName(msg)...), 0)
	var err error
	if w, ok := msg.(wireMessage); ok {
		k = append(k, w.Wire()...)
	} else {
		k, err = proto.MarshalOptions{Deterministic: true}.MarshalAppend(k, msg)
	}
	if cap(k) <= 2*streamJSONMaxKey { // a rare big one is not kept
		*buf = k
	}
	if err != nil || len(k) > streamJSONMaxKey {
		return marshal(v)
	}
	c.mu.Lock()
	out, ok := c.m[string(k)]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	if out, err = marshal(v); err != nil {
		return nil, err
	}
	key := string(k)
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
	if msg, ok := v.(proto.Message); ok {
		// What JSONPb.Marshal returns for a message, without its copy through a
		// bytes.Buffer.
		return m.MarshalOptions.Marshal(msg)
	}
	return m.JSONPb.Marshal(v)
}
