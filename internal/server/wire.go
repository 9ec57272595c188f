package server

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// A message reaches thousands of watchers of one topic on a replica, and those who see it
// alike are sent equal Changes: the same parts, shared (deliver, recent). Encoding each
// one again was a fifth of the CPU of a fan-out to organisers' watchers, whose Changes
// carry the whole event. So the watchers' streams send the Change with its encoding,
// made once for all of them: the port's codec writes those bytes (requestCodec.Marshal),
// the gateway keys its JSON on them (gateway.wireMessage), and anything else sees the
// Change.

// encodedChange is a Change with its protobuf encoding. Neither changes once made.
type encodedChange struct {
	*rallyv1.Change
	wire []byte
}

// Wire returns the encoding (gateway.wireMessage).
func (e *encodedChange) Wire() []byte { return e.wire }

// changeSender is send for a watch stream: each Change goes with its shared encoding.
func (s *service) changeSender(stream grpc.ServerStream) func(*rallyv1.Change) error {
	return func(c *rallyv1.Change) error { return stream.SendMsg(s.encodeChange(c)) }
}

// encodeChange returns c with its encoding: the one made for the last Change sent if c
// equals it (sameChange), else a new one, which the next watchers then share. A Change
// given to it must not be modified afterwards, nor the messages it holds.
func (s *service) encodeChange(c *rallyv1.Change) proto.Message {
	if e := s.lastWire.Load(); e != nil && sameChange(e.Change, c) {
		return e
	}
	b, err := proto.Marshal(c)
	if err != nil {
		return c // the codec will fail on it, as it would have
	}
	e := &encodedChange{Change: c, wire: b}
	s.lastWire.Store(e)
	return e
}

// sameChange says whether a and b encode alike because they hold the same values and the
// very same messages: the messages a watcher's Change holds are shared and never
// modified, so equal pointers mean equal contents, and comparing them costs nothing,
// where proto.Equal would walk a whole event for each watcher. A field added to Change
// must be added here: TestSameChange fails until it is.
func sameChange(a, b *rallyv1.Change) bool {
	return a.GetResource() == b.GetResource() && a.GetKind() == b.GetKind() &&
		a.GetCursor() == b.GetCursor() && a.GetReset_() == b.GetReset_() &&
		a.GetEvent() == b.GetEvent() && a.GetCampaign() == b.GetCampaign() &&
		a.GetAnnouncement() == b.GetAnnouncement() && a.GetChangeTime() == b.GetChangeTime() &&
		a.GetTask() == b.GetTask() && a.GetRsvp() == b.GetRsvp() &&
		len(a.ProtoReflect().GetUnknown()) == 0 && len(b.ProtoReflect().GetUnknown()) == 0
}
