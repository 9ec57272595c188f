package e2e_test

import (
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
	"github.com/rallyhq/rally/internal/redistest"
)

// TestSeizure plays the raid of issue 15 on Redis and on a three-master Cluster: a
// campaign whose organiser has a key runs a realistic day (RSVPs over gRPC and REST, one
// sealed by its client, retried creates, changes to a contact, a cancellation, check-ins,
// claims completed with a note and a proof URL, the organiser reading the lists), then
// the server's Redis (every key, every value) and its append-only file are read. No
// pseudonym, contact, note, proof URL, buddy nickname or buddy code is found there, in
// clear, hex or base64. The
// organiser's key opens every record to what its participant sent; another key opens
// none.
func TestSeizure(t *testing.T) {
	for name, start := range map[string]func(t *testing.T) string{
		"redis":   func(t *testing.T) string { return redistest.Start(t).URL() },
		"cluster": func(t *testing.T) string { return redistest.StartCluster(t).URL() },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := start(t)
			rdb := openRaidRedis(t, url)
			rdb.appendOnly(t)
			var logs syncBuffer
			a := startLogged(t, &logs, slog.LevelDebug, "--redis-url="+url, safetyLimits)
			conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			s := playSeizure(t, conn, "http://"+a.HTTPAddr()+"/v1/")
			shutdownApp(t, a)

			data, aof, keys := rdb.dump(t)
			if keys == 0 || !strings.Contains(data, "rsvp") || !strings.Contains(aof, "HSET") {
				t.Fatalf("the dump holds %d keys, without the RSVPs:\n%.3000s", keys, data)
			}
			for what, v := range s.personal {
				for form, needle := range map[string]string{
					"in clear": v, "hex": hex.EncodeToString([]byte(v)),
					"base64": base64.StdEncoding.EncodeToString([]byte(v))[:len(v)*4/3/4*4],
				} {
					if strings.Contains(data, needle) {
						t.Errorf("Redis holds %s %s (%q)", what, form, v)
					}
					if strings.Contains(aof, needle) {
						t.Errorf("the append-only file holds %s %s (%q)", what, form, v)
					}
				}
			}
			for _, line := range strings.Split(logs.String(), "\n") {
				for what, v := range s.personal {
					if strings.Contains(line, v) {
						t.Errorf("a log line holds %s: %s", what, line)
					}
				}
			}
		})
	}
}

// seizure is what the scenario sent: the personal fields by what they are, and the
// organiser's check that its key opens them.
type seizure struct {
	personal map[string]string
}

func playSeizure(t *testing.T, conn *grpc.ClientConn, base string) *seizure {
	ctx := t.Context()
	s := &seizure{personal: map[string]string{}}
	asOrg := withToken(ctx, newOrganiser(t, conn, "kat"))
	orgs := rallyv1.NewOrganiserServiceClient(conn)
	rsvps := rallyv1.NewRsvpServiceClient(conn)
	tasks := rallyv1.NewTaskServiceClient(conn)

	// The organiser's key: the private half stays here, in the test (her device).
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := orgs.CreateOrganiserKey(asOrg, &rallyv1.CreateOrganiserKeyRequest{Parent: "organisers/me",
		OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519, PublicKey: x.PublicKey().Bytes()}})
	if err != nil {
		t.Fatal(err)
	}
	keyID := k.GetName()[strings.LastIndex(k.GetName(), "/")+1:]
	priv, err := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(x.Bytes())
	if err != nil {
		t.Fatal(err)
	}

	c, err := rallyv1.NewCampaignServiceClient(conn).CreateCampaign(asOrg, &rallyv1.CreateCampaignRequest{Campaign: &rallyv1.Campaign{Title: "Solidarity"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := rallyv1.NewEventServiceClient(conn).CreateEvent(asOrg, &rallyv1.CreateEventRequest{Event: eventIn(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	task, err := tasks.CreateTask(asOrg, &rallyv1.CreateTaskRequest{Task: taskIn(c.GetName())})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := rallyv1.NewEventServiceClient(conn).GetEvent(ctx, &rallyv1.GetEventRequest{Name: e.GetName()})
	if err != nil || len(pub.GetRecipientKeys()) != 1 {
		t.Fatalf("the event's recipient keys: %v, %v", pub.GetRecipientKeys(), err)
	}

	want := map[string]*rallyv1.SealedFields{} // by record name: what it must open to
	holders := map[string]string{}             // manage tokens, by RSVP
	for i := range 6 {
		f := &rallyv1.SealedFields{DisplayName: fmt.Sprintf("Aigerim-Pseudonym-%d", i), Contact: fmt.Sprintf("signal:aigerim.%d.5512", i)}
		s.personal[fmt.Sprintf("pseudonym %d", i)], s.personal[fmt.Sprintf("contact %d", i)] = f.GetDisplayName(), f.GetContact()
		var name, tok string
		switch i % 3 {
		case 0: // gRPC, plain fields, retried with the same request ID
			req := &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RequestId: fmt.Sprintf("seizure-request-%08d", i),
				Rsvp: &rallyv1.Rsvp{DisplayName: f.GetDisplayName(), Contact: f.GetContact()}}
			for range 2 {
				r, err := rsvps.CreateRsvp(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				name, tok = r.GetRsvp().GetName(), r.GetManageToken()
			}
		case 1: // REST, plain fields
			resp, err := http.Post(base+e.GetName()+"/rsvps", "application/json",
				strings.NewReader(fmt.Sprintf(`{"displayName":%q,"contact":%q}`, f.GetDisplayName(), f.GetContact())))
			if err != nil {
				t.Fatal(err)
			}
			var r struct {
				Rsvp        struct{ Name string } `json:"rsvp"`
				ManageToken string                `json:"manageToken"`
			}
			err = json.NewDecoder(resp.Body).Decode(&r)
			resp.Body.Close()
			if resp.StatusCode != 200 || err != nil {
				t.Fatalf("REST CreateRsvp: %d, %v", resp.StatusCode, err)
			}
			name, tok = r.Rsvp.Name, r.ManageToken
		default: // sealed by the client
			id := fmt.Sprintf("seizure%019d", i)
			env, err := envelope.Seal(f, envelope.FromRecipientKeys(pub.GetRecipientKeys()), e.GetName()+"/rsvps/"+id)
			if err != nil {
				t.Fatal(err)
			}
			r, err := rsvps.CreateRsvp(ctx, &rallyv1.CreateRsvpRequest{Parent: e.GetName(), RsvpId: id, Rsvp: &rallyv1.Rsvp{Envelope: env}})
			if err != nil {
				t.Fatal(err)
			}
			name, tok = r.GetRsvp().GetName(), r.GetManageToken()
		}
		want[name], holders[name] = f, tok
	}
	// A participant changes their contact (giving both fields, as a sealed RSVP needs);
	// another cancels; the organiser checks two in.
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	changed := want[names[0]]
	changed.Contact = "signal:aigerim.moved.7781"
	s.personal["changed contact"] = changed.GetContact()
	if _, err := rsvps.UpdateRsvp(withToken(ctx, holders[names[0]]), &rallyv1.UpdateRsvpRequest{
		Rsvp:       &rallyv1.Rsvp{Name: names[0], DisplayName: changed.GetDisplayName(), Contact: changed.GetContact()},
		UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name", "contact"}},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := rsvps.CancelRsvp(withToken(ctx, holders[names[1]]), &rallyv1.CancelRsvpRequest{Name: names[1]}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names[2:4] {
		if _, err := rsvps.CheckInRsvp(asOrg, &rallyv1.CheckInRsvpRequest{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	// Two pair up as buddies (issue 17), one over gRPC and one over REST: their nicknames
	// and the code are not to be found either. A second code is left unused.
	s.personal["buddy nickname 1"], s.personal["buddy nickname 2"] = "Heron-of-the-choir", "Wren-from-the-bakery"
	pair, err := rsvps.PairBuddy(withToken(ctx, holders[names[2]]), &rallyv1.PairBuddyRequest{Name: names[2], Nickname: s.personal["buddy nickname 1"]})
	if err != nil {
		t.Fatal(err)
	}
	s.personal["buddy code"] = pair.GetBuddyCode()
	req, _ := http.NewRequest("POST", base+names[3]+":joinBuddy", strings.NewReader(fmt.Sprintf(`{"buddyCode":%q,"nickname":%q}`, pair.GetBuddyCode(), s.personal["buddy nickname 2"])))
	req.Header.Set("Authorization", "Bearer "+holders[names[3]])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("REST JoinBuddy: %d", resp.StatusCode)
	}
	unused, err := rsvps.PairBuddy(withToken(ctx, holders[names[4]]), &rallyv1.PairBuddyRequest{Name: names[4], Nickname: "Finch-of-the-square"})
	if err != nil {
		t.Fatal(err)
	}
	s.personal["unused buddy code"], s.personal["unused nickname"] = unused.GetBuddyCode(), "Finch-of-the-square"
	if b, err := rsvps.GetRsvp(withToken(ctx, holders[names[2]]), &rallyv1.GetRsvpRequest{Name: names[2]}); err != nil || b.GetBuddy().GetNickname() != s.personal["buddy nickname 2"] {
		t.Fatalf("the pair: %v, %v", b, err)
	}

	// Claims: made in plain, completed with a note and a proof URL.
	for i := range 3 {
		f := &rallyv1.SealedFields{DisplayName: fmt.Sprintf("Volunteer-Pseudonym-%d", i)}
		s.personal[fmt.Sprintf("claim pseudonym %d", i)] = f.GetDisplayName()
		cl, err := tasks.ClaimTask(ctx, &rallyv1.ClaimTaskRequest{Name: task.GetName(), DisplayName: f.GetDisplayName()})
		if err != nil {
			t.Fatal(err)
		}
		note, proof := fmt.Sprintf("posted from my cousin's account %d", i), fmt.Sprintf("https://example.org/posts/secret-proof-%d", i)
		s.personal[fmt.Sprintf("note %d", i)], s.personal[fmt.Sprintf("proof %d", i)] = note, proof
		if _, err := tasks.CompleteClaim(withToken(ctx, cl.GetClaimToken()), &rallyv1.CompleteClaimRequest{Name: cl.GetClaim().GetName(), Note: note, ProofUrl: proof}); err != nil {
			t.Fatal(err)
		}
		want[cl.GetClaim().GetName()] = &rallyv1.SealedFields{DisplayName: f.GetDisplayName(), Note: note, ProofUrl: proof}
	}

	// The organiser opens everything with her key; another key opens nothing.
	other, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, _ := hpke.DHKEM(ecdh.X25519()).NewPrivateKey(other.Bytes())
	opened := func(name string, envs ...*rallyv1.Envelope) {
		t.Helper()
		got := &rallyv1.SealedFields{}
		for _, env := range envs {
			f, err := envelope.Open(env, keyID, priv, name)
			if err != nil {
				t.Errorf("%s does not open with the organiser's key: %v", name, err)
				return
			}
			if _, err := envelope.Open(env, keyID, otherPriv, name); err == nil {
				t.Errorf("%s opens with another key", name)
			}
			got.DisplayName += f.GetDisplayName()
			got.Contact += f.GetContact()
			got.Note += f.GetNote()
			got.ProofUrl += f.GetProofUrl()
		}
		if w := want[name]; got.String() != w.String() {
			t.Errorf("%s opens to %v, want %v", name, got, w)
		}
		delete(want, name)
	}
	list, err := rsvps.ListRsvps(asOrg, &rallyv1.ListRsvpsRequest{Parent: e.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.GetRsvps() {
		if r.GetDisplayName() != "" || r.GetContact() != "" {
			t.Errorf("%s has plain fields: %v", r.GetName(), r)
		}
		opened(r.GetName(), r.GetEnvelope())
	}
	claims, err := tasks.ListClaims(asOrg, &rallyv1.ListClaimsRequest{Parent: task.GetName()})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range claims.GetClaims() {
		opened(c.GetName(), c.GetEnvelope(), c.GetCompletionEnvelope())
	}
	if len(want) != 0 {
		t.Errorf("records never listed: %v", want)
	}
	return s
}
