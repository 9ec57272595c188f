package memory

import (
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/store"
)

// book holds the RSVPs of one event. It lives and dies with the RSVPs: the sweeper drops
// it whole once the event is over and the retention has passed, while the counts stay in
// the event's attendance.
type book struct {
	rsvps     map[string]*rsvpRecord // by RSVP ID
	byToken   map[string]string      // hex SHA-256 of the manage token → RSVP ID
	byRequest map[string]request     // request key → the create it made
	seq       int64                  // last arrival number handed out
	// codes holds the buddy codes (safety.go) by hex SHA-256; nil until the first.
	codes map[string]buddyCode
}

type rsvpRecord struct {
	rsvp      *rallyv1.Rsvp
	tokenHash []byte
	seq       int64
	// requestKey is the create's request key ("" for none), so that DeleteRSVP finds
	// its byRequest entry.
	requestKey string
	// code is the hex hash of the RSVP's unused buddy code, "" for none; buddy is its
	// buddy link, nil for none (safety.go).
	code  string
	buddy *buddyLink
}

type request struct {
	id     string
	sealed []byte
}

func (r *rsvpRecord) key() string { return store.RSVPKey(r.seq, store.ID(r.rsvp.GetName())) }

func party(r *rallyv1.Rsvp) int32 { return 1 + r.GetGuests() }

// closed reports whether the event takes no more RSVP changes.
func closed(e *rallyv1.Event, now time.Time) bool {
	return e.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED || !now.Before(e.GetEndTime().AsTime())
}

// attendance returns the event's counts, creating them on first use.
func attendance(e *rallyv1.Event) *rallyv1.Attendance {
	if e.Attendance == nil {
		e.Attendance = &rallyv1.Attendance{}
	}
	return e.Attendance
}

// setState moves an RSVP between states, keeping the indexes and the counts in step.
// The caller holds the write lock.
func (s *Store) setState(e *rallyv1.Event, r *rsvpRecord, state rallyv1.RsvpState) {
	a := attendance(e)
	switch r.rsvp.GetState() {
	case rallyv1.RsvpState_RSVP_STATE_GOING:
		a.Going -= party(r.rsvp)
	case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
		a.Waitlisted -= party(r.rsvp)
	}
	if old := r.rsvp.GetState(); old != rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED {
		s.remove(store.RSVPIndex(e.GetName(), old), r.key())
	}
	switch state {
	case rallyv1.RsvpState_RSVP_STATE_GOING:
		a.Going += party(r.rsvp)
	case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
		a.Waitlisted += party(r.rsvp)
	}
	r.rsvp.State = state
	s.add(store.RSVPIndex(e.GetName(), state), r.key())
}

// fits reports whether people more can be GOING.
func fits(e *rallyv1.Event, people int32) bool {
	return e.GetCapacity() == 0 || attendance(e).GetGoing()+people <= e.GetCapacity()
}

// promote moves the head of the waitlist to GOING while it fits: strictly first come,
// first served (see store.RSVPStore). The caller holds the write lock.
func (s *Store) promote(e *rallyv1.Event, b *book, now time.Time) {
	waitlist := store.RSVPIndex(e.GetName(), rallyv1.RsvpState_RSVP_STATE_WAITLISTED)
	for {
		t, ok := s.indexes[waitlist]
		if !ok {
			return
		}
		head, _ := t.Min()
		r := b.rsvps[store.KeyID(head)]
		if !fits(e, party(r.rsvp)) {
			return
		}
		s.setState(e, r, rallyv1.RsvpState_RSVP_STATE_GOING)
		r.rsvp.UpdateTime = timestamppb.New(now)
	}
}

// view returns a copy of an RSVP with its waitlist position. The caller holds a lock.
func (s *Store) view(r *rsvpRecord) *rallyv1.Rsvp {
	out := clone(r.rsvp)
	if out.GetState() == rallyv1.RsvpState_RSVP_STATE_WAITLISTED {
		pos := int32(0)
		s.indexes[store.RSVPIndex(store.EventOfRSVP(out.GetName()), out.GetState())].AscendLessThan(r.key(), func(string) bool {
			pos++
			return true
		})
		out.WaitlistPosition = pos + 1
	}
	return out
}

// lookup returns the event and record of an RSVP. The caller holds a lock.
func (s *Store) lookup(name string) (*rallyv1.Event, *book, *rsvpRecord, error) {
	event := store.EventOfRSVP(name)
	e, ok := s.events.records[store.ID(event)]
	b := s.books[store.ID(event)]
	if !ok || b == nil || b.rsvps[store.ID(name)] == nil {
		return nil, nil, nil, store.NotFoundError(name)
	}
	return e, b, b.rsvps[store.ID(name)], nil
}

// CreateRSVP implements store.RSVPStore.
func (s *Store) CreateRSVP(_ context.Context, event string, n store.NewRSVP, now time.Time) (store.CreatedRSVP, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.events.records[store.ID(event)]
	if !ok {
		return store.CreatedRSVP{}, store.NotFoundError(event)
	}
	b := s.books[store.ID(event)]
	if b == nil {
		b = &book{rsvps: map[string]*rsvpRecord{}, byToken: map[string]string{}, byRequest: map[string]request{}}
		s.books[store.ID(event)] = b
	}
	if req, ok := b.byRequest[n.RequestKey]; ok && n.RequestKey != "" {
		return store.CreatedRSVP{Rsvp: s.view(b.rsvps[req.id]), Replayed: true, SealedToken: req.sealed}, nil
	}
	// A resent call is recognised by its ID and token hash; anything else under that ID
	// (client-chosen since issue 15) must not overwrite another participant's RSVP.
	if r, ok := b.rsvps[store.ID(n.Rsvp.GetName())]; ok {
		if !slices.Equal(r.tokenHash, n.TokenHash) {
			return store.CreatedRSVP{}, store.AlreadyExistsError(n.Rsvp.GetName())
		}
		return store.CreatedRSVP{Rsvp: s.view(r)}, nil
	}
	if closed(e, now) {
		return store.CreatedRSVP{}, store.ErrEventClosed
	}
	if c := e.GetCapacity(); c > 0 && party(n.Rsvp) > c {
		return store.CreatedRSVP{}, store.ErrPartyTooLarge
	}
	b.seq++
	r := &rsvpRecord{rsvp: clone(n.Rsvp), tokenHash: slices.Clone(n.TokenHash), seq: b.seq, requestKey: n.RequestKey}
	// Output-only fields that only the store's own writes set.
	r.rsvp.CheckOutTime, r.rsvp.Buddy = nil, nil
	id := store.ID(r.rsvp.GetName())
	b.rsvps[id] = r
	b.byToken[hex.EncodeToString(n.TokenHash)] = id
	if n.RequestKey != "" {
		b.byRequest[n.RequestKey] = request{id: id, sealed: slices.Clone(n.SealedToken)}
	}
	_, queue := s.indexes[store.RSVPIndex(event, rallyv1.RsvpState_RSVP_STATE_WAITLISTED)]
	state := rallyv1.RsvpState_RSVP_STATE_WAITLISTED
	if !queue && fits(e, party(r.rsvp)) {
		state = rallyv1.RsvpState_RSVP_STATE_GOING
	}
	s.add(store.RSVPIndex(event, rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED), r.key())
	s.setState(e, r, state)
	return store.CreatedRSVP{Rsvp: s.view(r), Unpublished: n.Change}, nil
}

// GetRSVP implements store.RSVPStore.
func (s *Store) GetRSVP(_ context.Context, name string) (*rallyv1.Rsvp, []byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, _, r, err := s.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	return s.view(r), slices.Clone(r.tokenHash), nil
}

// FindRSVPByToken implements store.RSVPStore.
func (s *Store) FindRSVPByToken(_ context.Context, event string, tokenHash []byte) (*rallyv1.Rsvp, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if b := s.books[store.ID(event)]; b != nil {
		if id, ok := b.byToken[hex.EncodeToString(tokenHash)]; ok {
			return s.view(b.rsvps[id]), nil
		}
	}
	return nil, store.NotFoundError(event + "/rsvps/?")
}

// UpdateRSVP implements store.RSVPStore.
func (s *Store) UpdateRSVP(_ context.Context, name string, c store.RSVPChange, now time.Time) (*rallyv1.Rsvp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if closed(e, now) || r.rsvp.GetState() == rallyv1.RsvpState_RSVP_STATE_CANCELLED {
		return nil, store.ErrEventClosed
	}
	if c.Guests != nil && *c.Guests != r.rsvp.GetGuests() {
		grow := *c.Guests - r.rsvp.GetGuests()
		switch r.rsvp.GetState() {
		case rallyv1.RsvpState_RSVP_STATE_GOING:
			if grow > 0 && !fits(e, grow) {
				return nil, store.ErrNoRoom
			}
			attendance(e).Going += grow
		case rallyv1.RsvpState_RSVP_STATE_WAITLISTED:
			attendance(e).Waitlisted += grow
		}
		r.rsvp.Guests = *c.Guests
	}
	if c.DisplayName != nil {
		r.rsvp.DisplayName = *c.DisplayName
	}
	if c.Contact != nil {
		r.rsvp.Contact = *c.Contact
	}
	r.rsvp.Envelope = c.ApplyEnvelope(r.rsvp.GetEnvelope())
	r.rsvp.UpdateTime = timestamppb.New(now)
	s.promote(e, b, now)
	return s.view(r), nil
}

// CancelRSVP implements store.RSVPStore.
func (s *Store) CancelRSVP(_ context.Context, name string, now time.Time) (*rallyv1.Rsvp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, b, r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if r.rsvp.GetState() != rallyv1.RsvpState_RSVP_STATE_CANCELLED {
		s.setState(e, r, rallyv1.RsvpState_RSVP_STATE_CANCELLED)
		r.rsvp.UpdateTime = timestamppb.New(now)
		s.promote(e, b, now)
	}
	return s.view(r), nil
}

// CheckInRSVP implements store.RSVPStore.
func (s *Store) CheckInRSVP(_ context.Context, name string, now time.Time) (*rallyv1.Rsvp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, _, r, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.GetState() == rallyv1.EventState_EVENT_STATE_CANCELLED:
		return nil, store.ErrEventClosed
	case r.rsvp.GetState() != rallyv1.RsvpState_RSVP_STATE_GOING:
		return nil, store.ErrNotGoing
	case !r.rsvp.GetCheckedIn():
		r.rsvp.CheckedIn = true
		r.rsvp.UpdateTime = timestamppb.New(now)
		a := attendance(e)
		a.CheckedIn++
		if r.rsvp.GetCheckOutTime() == nil {
			a.NotCheckedOut++
		}
	}
	return s.view(r), nil
}

// ListRSVPs implements store.RSVPStore.
func (s *Store) ListRSVPs(ctx context.Context, q store.RSVPQuery) (store.Page[*rallyv1.Rsvp], error) {
	r, err := q.Range()
	if err != nil {
		return store.Page[*rallyv1.Rsvp]{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return store.ReadPage(ctx, r, q.PageSize, s.scan, func(_ context.Context, keys []string) ([]*rallyv1.Rsvp, error) {
		b := s.books[store.ID(q.Event)]
		items := make([]*rallyv1.Rsvp, 0, len(keys))
		for _, k := range keys {
			items = append(items, s.view(b.rsvps[store.KeyID(k)]))
		}
		return items, nil
	})
}

// Rebalance implements store.RSVPStore. Deletion needs no scheduling here: the sweeper
// reads each event's end time when it runs.
func (s *Store) Rebalance(_ context.Context, event string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.events.records[store.ID(event)]
	if !ok {
		return store.NotFoundError(event)
	}
	if b := s.books[store.ID(event)]; b != nil {
		s.promote(e, b, s.now())
	}
	return nil
}

// AppendAudit implements store.RSVPStore.
func (s *Store) AppendAudit(_ context.Context, parent string, a *rallyv1.AuditEntry) error {
	name, err := auditLog(parent)
	if err != nil {
		return err
	}
	pushLog(s, name, a, store.MaxAuditEntries)
	return nil
}

// ListAudit implements store.RSVPStore.
func (s *Store) ListAudit(_ context.Context, q store.AuditQuery) (store.Page[*rallyv1.AuditEntry], error) {
	name, err := auditLog(q.Parent)
	if err != nil {
		return store.Page[*rallyv1.AuditEntry]{}, err
	}
	return store.PageNewestFirst(name, readLog[*rallyv1.AuditEntry](s, name), store.AuditKey, nil, q.PageSize, q.PageToken)
}

// auditLog names the audit log of an event or a task: by the whole name, so that an
// event and a task of the same ID keep apart.
func auditLog(parent string) (string, error) {
	kind, id, _ := strings.Cut(parent, "/")
	if (kind != "events" && kind != "tasks") || id == "" || strings.Contains(id, "/") {
		return "", store.NotFoundError(parent)
	}
	return "audit|" + parent, nil
}

// AppendAnnouncement implements store.RSVPStore.
func (s *Store) AppendAnnouncement(_ context.Context, event string, a *rallyv1.Announcement) error {
	pushLog(s, "ann|"+store.ID(event), a, store.MaxAnnouncements)
	return nil
}

// ListAnnouncements implements store.RSVPStore.
func (s *Store) ListAnnouncements(_ context.Context, q store.AnnouncementQuery) (store.Page[*rallyv1.Announcement], error) {
	name := "ann|" + store.ID(q.Event)
	return store.PageNewestFirst(name, readLog[*rallyv1.Announcement](s, name), store.AnnouncementKey, q.Keep, q.PageSize, q.PageToken)
}

// pushLog prepends a copy of msg to the named capped log, newest first.
func pushLog(s *Store, name string, msg proto.Message, max int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := append([]proto.Message{proto.Clone(msg)}, s.logs[name]...)
	s.logs[name] = log[:min(len(log), max)]
}

// readLog returns copies of the named log's entries, newest first.
func readLog[T proto.Message](s *Store, name string) []T {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]T, 0, len(s.logs[name]))
	for _, m := range s.logs[name] {
		out = append(out, proto.Clone(m).(T))
	}
	return out
}

// Sweep deletes the RSVPs of every event that ended more than the retention before now,
// and the claims of every task past store.ClaimsDeleteAt, keeping their counts. It runs
// periodically; tests call it with their clock.
func (s *Store) Sweep(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, b := range s.books {
		e := s.events.records[id]
		if e != nil && now.Before(e.GetEndTime().AsTime().Add(s.retention)) {
			continue
		}
		for _, r := range b.rsvps {
			for _, st := range []rallyv1.RsvpState{rallyv1.RsvpState_RSVP_STATE_UNSPECIFIED, r.rsvp.GetState()} {
				s.remove(store.RSVPIndex("events/"+id, st), r.key())
			}
		}
		delete(s.books, id)
	}
	for id, b := range s.boards {
		if t := s.tasks.records[id]; t != nil && now.Before(store.ClaimsDeleteAt(t, s.retention)) {
			continue
		}
		// The claims go; the counts stay, as the event's attendance does.
		for _, r := range b.claims {
			s.remove(store.ClaimIndex("tasks/"+id), r.key())
		}
		b.claims, b.byRequest, b.open = map[string]*claimRecord{}, map[string]request{}, map[string]int64{}
	}
}
