package server

import (
	"context"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/auth"
)

// audit records that the caller, an organiser, is about to read personal data under
// parent (an event's RSVPs, a task's claims) with action (the method). It is called
// before the read, so that no read goes unrecorded: if the entry cannot be written, the
// read does not happen. The entry names the event or task, never the RSVP or claim: it
// outlives them, and must not tie an organiser's read to one participant.
func (s *service) audit(ctx context.Context, parent, action string) error {
	return s.auditAs(ctx, parent, action, auth.FromContext(ctx).ID())
}

// auditActorHolder is the actor of an entry written for an act of an RSVP's own holder
// (DeleteRsvp): it says that the participant did it, never which one.
const auditActorHolder = "holder"

// auditAs is audit with the actor given.
func (s *service) auditAs(ctx context.Context, parent, action, actor string) error {
	e := &rallyv1.AuditEntry{Actor: actor, Action: action, CreateTime: timestamppb.New(s.now())}
	if strings.HasPrefix(parent, "tasks/") {
		e.Task = parent
	} else {
		e.Event = parent
	}
	return s.store.AppendAudit(ctx, parent, e)
}
