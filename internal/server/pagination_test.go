package server_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// listAll pages through a list with the given page size and returns each page's IDs
// joined by commas, failing on an error or an empty page with a next page token.
func listAll(t *testing.T, list func(token string) ([]string, string, error)) []string {
	t.Helper()
	var pages []string
	for token := ""; ; {
		ids, next, err := list(token)
		if err != nil {
			t.Fatalf("page %d: %v", len(pages)+1, err)
		}
		pages = append(pages, strings.Join(ids, ","))
		if token = next; token == "" {
			return pages
		}
		if len(pages) > 100 {
			t.Fatalf("more than 100 pages: %v", pages[:5])
		}
	}
}

// TestListAnnouncementsPages: announcements page newest first (AIP-158), every page of
// readable ones only; 0 means every announcement an event keeps; bad tokens and sizes
// are INVALID_ARGUMENT naming the field.
func TestListAnnouncementsPages(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		for i, text := range []string{"a", "b", "c", "d", "e"} {
			aud := rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_PUBLIC
			if i == 1 || i == 3 {
				aud = rallyv1.AnnouncementAudience_ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS
			}
			if _, err := h.events.PostAnnouncement(asAlice, &rallyv1.PostAnnouncementRequest{Parent: e.GetName(),
				Announcement: &rallyv1.Announcement{Text: text, Audience: aud}}); err != nil {
				t.Fatal(err)
			}
			h.clock.Add(time.Second)
		}
		list := func(as context.Context, size int32) func(string) ([]string, string, error) {
			return func(token string) ([]string, string, error) {
				resp, err := h.events.ListAnnouncements(as, &rallyv1.ListAnnouncementsRequest{Parent: e.GetName(), PageSize: size, PageToken: token})
				var texts []string
				for _, a := range resp.GetAnnouncements() {
					texts = append(texts, a.GetText())
				}
				return texts, resp.GetNextPageToken(), err
			}
		}
		if got := strings.Join(listAll(t, list(h.ctx, 2)), "|"); got != "e,c|a" {
			t.Errorf("public announcements in pages of 2: %s, want e,c|a (the holders' left out before paging)", got)
		}
		if got := strings.Join(listAll(t, list(asAlice, 2)), "|"); got != "e,d|c,b|a" {
			t.Errorf("the organiser's announcements in pages of 2: %s, want e,d|c,b|a", got)
		}
		if got := strings.Join(listAll(t, list(asAlice, 0)), "|"); got != "e,d,c,b,a" {
			t.Errorf("the organiser's announcements with the default page size: %s, want all in one page", got)
		}

		first, err := h.events.ListAnnouncements(h.ctx, &rallyv1.ListAnnouncementsRequest{Parent: e.GetName(), PageSize: 1})
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatalf("first page of one: %v, %v", first, err)
		}
		other := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		_, err = h.events.ListAnnouncements(h.ctx, &rallyv1.ListAnnouncementsRequest{Parent: other.GetName(), PageToken: first.GetNextPageToken()})
		wantCode(t, err, codes.InvalidArgument, "page_token")
		_, err = h.events.ListAnnouncements(h.ctx, &rallyv1.ListAnnouncementsRequest{Parent: e.GetName(), PageToken: "not-a-token"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
		_, err = h.events.ListAnnouncements(h.ctx, &rallyv1.ListAnnouncementsRequest{Parent: e.GetName(), PageSize: 1001})
		wantCode(t, err, codes.InvalidArgument, "page_size")
	})
}

// TestListApiTokensPages: an organiser's tokens page newest first; a token of one
// organiser's list is refused on another's.
func TestListApiTokensPages(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		orgs := rallyv1.NewOrganiserServiceClient(h.conn)
		alice, asAlice := h.organiser(t, "Alice")
		bob, _ := h.organiser(t, "Bob")
		for _, label := range []string{"t1", "t2", "t3", "t4", "t5"} {
			h.clock.Add(time.Second)
			if _, err := orgs.CreateApiToken(asAlice, &rallyv1.CreateApiTokenRequest{Parent: "organisers/me", ApiToken: &rallyv1.ApiToken{DisplayName: label}}); err != nil {
				t.Fatal(err)
			}
		}
		// h.organiser made one token first, "test".
		pages := listAll(t, func(token string) ([]string, string, error) {
			resp, err := orgs.ListApiTokens(asAlice, &rallyv1.ListApiTokensRequest{Parent: "organisers/me", PageSize: 2, PageToken: token})
			var labels []string
			for _, tk := range resp.GetApiTokens() {
				labels = append(labels, tk.GetDisplayName())
			}
			return labels, resp.GetNextPageToken(), err
		})
		if got := strings.Join(pages, "|"); got != "t5,t4|t3,t2|t1,test" {
			t.Errorf("tokens in pages of 2: %s, want t5,t4|t3,t2|t1,test (newest first; h.organiser's token, \"test\", last)", got)
		}

		first, err := orgs.ListApiTokens(h.admin, &rallyv1.ListApiTokensRequest{Parent: alice, PageSize: 1})
		if err != nil || first.GetNextPageToken() == "" {
			t.Fatalf("first page of one: %v, %v", first, err)
		}
		_, err = orgs.ListApiTokens(h.admin, &rallyv1.ListApiTokensRequest{Parent: bob, PageToken: first.GetNextPageToken()})
		wantCode(t, err, codes.InvalidArgument, "page_token")
		_, err = orgs.ListApiTokens(h.admin, &rallyv1.ListApiTokensRequest{Parent: alice, PageToken: "e30"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	})
}

// TestListAuditEntriesPages: an event's audit log pages newest first, and entries made
// between pages (reads by organisers while another pages) shift nothing.
func TestListAuditEntriesPages(t *testing.T) {
	onStores(t, func(t *testing.T, h *harness) {
		_, asAlice := h.organiser(t, "Alice")
		e := h.rsvpEvent(t, asAlice, 10, rallyv1.AttendanceVisibility_ATTENDANCE_VISIBILITY_EXACT)
		name := h.rsvp(t, e.GetName(), 0).GetRsvp().GetName()
		read := func() {
			t.Helper()
			if _, err := h.rsvps().GetRsvp(asAlice, &rallyv1.GetRsvpRequest{Name: name}); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 {
			read()
			h.clock.Add(time.Second)
		}
		var times []string
		pages := listAll(t, func(token string) ([]string, string, error) {
			resp, err := h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName(), PageSize: 2, PageToken: token})
			var ids []string
			for _, a := range resp.GetAuditEntries() {
				ids = append(ids, a.GetAction())
				times = append(times, a.GetCreateTime().AsTime().Format(time.TimeOnly))
			}
			if resp.GetNextPageToken() != "" {
				read() // a newer entry, which the pages that follow do not show
				h.clock.Add(time.Second)
			}
			return ids, resp.GetNextPageToken(), err
		})
		if got := strings.Join(pages, "|"); got != "GetRsvp,GetRsvp|GetRsvp,GetRsvp|GetRsvp" {
			t.Errorf("audit in pages of 2: %s, want the 5 entries of before the first page in pages of 2, 2, 1", got)
		}
		for i := 1; i < len(times); i++ {
			if times[i] >= times[i-1] {
				t.Errorf("audit entries not newest first: %v", times)
				break
			}
		}
		all, err := h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName()})
		if err != nil || len(all.GetAuditEntries()) != 7 || all.GetNextPageToken() != "" {
			t.Errorf("audit with the default page size: %d entries, token %q, %v; want 7 and no token", len(all.GetAuditEntries()), all.GetNextPageToken(), err)
		}
		_, err = h.rsvps().ListAuditEntries(asAlice, &rallyv1.ListAuditEntriesRequest{Parent: e.GetName(), PageToken: "x"})
		wantCode(t, err, codes.InvalidArgument, "page_token")
	})
}
