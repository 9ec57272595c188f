package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/peterbourgon/ff/v3/ffcli"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// rsvpCommand holds the participants' commands: no account, only each RSVP's manage token.
func (c *cli) rsvpCommand() *ffcli.Command {
	return c.group("rsvp", "say you will come to an event; show, change, cancel or delete your RSVP; pair with a buddy and check out home safe (no account needed)",
		`An RSVP is named in full, events/EVENT/rsvps/ID, as rally rsvp create prints it.
Its manage token, which rally rsvp create saves next to the login, is the only way
to see, change, cancel or delete it. --token or RALLY_TOKEN give another (an organiser's
works too, except for pair-buddy, join-buddy and check-out, which are the holder's
alone); without either, or a saved manage token, rally uses the saved login.

Staying safe: rally rsvp pair-buddy gives a code for a buddy, who joins with rally rsvp
join-buddy; after the event each runs rally rsvp check-out once home safe, and rally rsvp
get shows whether the other has. rally rsvp delete forgets the RSVP at once, on the
server and here.`,
		c.createRsvpCommand(), c.getRsvpCommand(), c.updateRsvpCommand(), c.cancelRsvpCommand(),
		c.deleteRsvpCommand(), c.pairBuddyCommand(), c.joinBuddyCommand(), c.checkOutRsvpCommand(),
		c.forgetRsvpCommand())
}

// rsvpsCommand holds the organisers' commands on their events' RSVPs.
func (c *cli) rsvpsCommand() *ffcli.Command {
	return c.group("rsvps", "list an event's RSVPs, check people in, and see who read the list (organisers)", "",
		c.listRsvpsCommand(), c.checkInRsvpCommand(), c.auditRsvpsCommand())
}

// rsvpMask ties each RSVP flag to the field it sets.
var rsvpMask = []maskField{{"name", "display_name"}, {"contact", "contact"}, {"guests", "guests"}}

var rsvpStates = map[string]rallyv1.RsvpState{
	"going":      rallyv1.RsvpState_RSVP_STATE_GOING,
	"waitlisted": rallyv1.RsvpState_RSVP_STATE_WAITLISTED,
	"cancelled":  rallyv1.RsvpState_RSVP_STATE_CANCELLED,
}

// rsvpFlags are the flags that describe an RSVP, for create and update alike.
type rsvpFlags struct {
	name, contact string
	guests        int
}

func (f *rsvpFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "`pseudonym` shown to the organisers: any name will do, and none is needed")
	fs.StringVar(&f.contact, "contact", "", "`contact` for the organisers, such as a Signal handle: only they see it, and it is deleted after the event")
	fs.IntVar(&f.guests, "guests", 0, "`N` people coming with you, counted against the capacity")
}

func (f *rsvpFlags) rsvp() (*rallyv1.Rsvp, error) {
	guests, err := int32Flag("guests", f.guests)
	if err != nil {
		return nil, err
	}
	return &rallyv1.Rsvp{DisplayName: f.name, Contact: f.contact, Guests: guests}, nil
}

func (c *cli) createRsvpCommand() *ffcli.Command {
	var f rsvpFlags
	var requestID string
	return c.leaf(leaf{
		name: "create", usage: "rsvp create EVENT [--name PSEUDONYM] [--contact C] [--guests N] [--request-id ID]",
		minArgs: 1, maxArgs: 1, offline: true,
		short: "say you will come to an event: a place, or one on the waitlist when it is full",
		long: `Sends no token, whatever is saved: the RSVP belongs to no account, and everything
about you in it is optional. Prints the RSVP, and its manage token on standard error
(with --json, in the API's response on standard output). The token is the only way to
see, change or cancel the RSVP: rally saves it to rally/rsvps.json in your config
directory, readable only by you, for rally rsvp get, update and cancel. On a computer
others may search, keep the token elsewhere and run rally rsvp forget.

The pseudonym and contact are sealed here, before they are sent, to the public keys of
the event's organisers (as the event shows them), so that the server stores only what
they alone can open; rally prints the keys' fingerprints on standard error, for you to
compare with those the organisers publish. It refuses to seal to a key whose fingerprint
the server misstates. When the organisers have no key yet, the fields are stored in
clear, and rally warns you.

A network error is retried once with the same request ID, so that it never makes two
RSVPs. Example: rally rsvp create vigil-berlin --name Robin --guests 1`,
		flags: func(fs *flag.FlagSet) {
			f.register(fs)
			requestIDFlag(fs, rsvpHolding, &requestID)
		},
		run: func(ctx context.Context, args []string) error {
			event, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			rsvp, err := f.rsvp()
			if err != nil {
				return err
			}
			req := &rallyv1.CreateRsvpRequest{Parent: event, Rsvp: rsvp}
			what := rsvpPersonal(f.name != "", f.contact != "")
			var to sealTo
			// Sealed once, before the first try: a retry sends the same RSVP ID and envelope.
			prepare := func(ctx context.Context) error {
				if what == "" {
					return nil
				}
				if err := checkLocally(req); err != nil {
					return err
				}
				e, err := c.eventsClient().GetEvent(ctx, &rallyv1.GetEventRequest{Name: event})
				if err != nil {
					return err
				}
				if to, err = sealTarget(e.GetRecipientKeys()); err != nil || len(to.recipients) == 0 {
					return err
				}
				req.RsvpId = newRecordID()
				env, err := to.seal(&rallyv1.SealedFields{DisplayName: rsvp.GetDisplayName(), Contact: rsvp.GetContact()}, event+"/rsvps/"+req.RsvpId)
				if err != nil {
					return err
				}
				req.Rsvp = &rallyv1.Rsvp{Guests: rsvp.GetGuests(), Envelope: env}
				return nil
			}
			inClear := false
			err = c.issue(ctx, rsvpHolding, requestID, prepare, func(ctx context.Context, requestID string) (issued, error) {
				resp, err := c.rsvpsClient().CreateRsvp(withIdempotencyKey(ctx, requestID), req)
				r := resp.GetRsvp()
				inClear = resp.GetStoredInClear()
				return issued{response: resp, resource: r, fields: rsvpFields(r), name: r.GetName(), token: resp.GetManageToken()}, err
			})
			if err != nil {
				return err
			}
			switch {
			case len(to.recipients) > 0:
				c.sealedNote(what, to)
			case inClear:
				c.inClearWarning(what, "the event's")
			}
			return nil
		},
	})
}

// rsvpPersonal names the personal fields given, for the notes on sealing: "" for none.
func rsvpPersonal(name, contact bool) string {
	switch {
	case name && contact:
		return "pseudonym and contact"
	case name:
		return "pseudonym"
	case contact:
		return "contact"
	}
	return ""
}

// rsvpLeaf is a command on one RSVP, named in full: a participant's with the RSVP's
// manage token, an organiser's with the login (see heldLeaf).
func (c *cli) rsvpLeaf(l leaf, participant bool, call func(ctx context.Context, name string) (*rallyv1.Rsvp, error)) *ffcli.Command {
	return heldLeaf(c, rsvpHolding, l, participant, call, rsvpFields)
}

func (c *cli) getRsvpCommand() *ffcli.Command {
	return c.rsvpLeaf(leaf{
		name: "get", usage: "rsvp get RSVP", short: "show an RSVP: whether it holds a place, or where it is on the waitlist",
		long: `To its holder, it also shows when you checked out (rally rsvp check-out) and your buddy:
their nickname, and whether and when they checked out home safe.`,
	}, true, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		return c.rsvpsClient().GetRsvp(ctx, &rallyv1.GetRsvpRequest{Name: name})
	})
}

func (c *cli) updateRsvpCommand() *ffcli.Command {
	var f rsvpFlags
	return c.rsvpLeaf(leaf{
		name: "update", usage: "rsvp update RSVP [--name PSEUDONYM] [--contact C] [--guests N]",
		short: "change an RSVP: only the fields whose flags are given",
		long: `More guests than there are free places fails (exit 5); fewer free places for the waitlist.

When the event's organisers have keys, the pseudonym and contact are sealed to them
together, here, as by rally rsvp create, and nobody but the organisers can read the old
ones, rally included: give --name and --contact together (an empty one, such as
--contact "", leaves it out; both empty remove them).`,
		flags: f.register,
	}, true, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		set := given(c.flags)
		mask, err := updateMask(rsvpMask, set)
		if err != nil {
			return nil, err
		}
		r, err := f.rsvp()
		if err != nil {
			return nil, err
		}
		r.Name = name
		req := &rallyv1.UpdateRsvpRequest{Rsvp: r, UpdateMask: mask}
		what := rsvpPersonal(f.name != "", f.contact != "")
		if !set["name"] && !set["contact"] {
			return c.rsvpsClient().UpdateRsvp(ctx, req)
		}
		if err := checkLocally(req); err != nil {
			return nil, err
		}
		e, err := c.eventsClient().GetEvent(ctx, &rallyv1.GetEventRequest{Name: parentOf(name)})
		if err != nil {
			return nil, err
		}
		to, err := sealTarget(e.GetRecipientKeys())
		if err != nil {
			return nil, err
		}
		if len(to.recipients) == 0 {
			got, err := c.rsvpsClient().UpdateRsvp(ctx, req)
			if err == nil && what != "" && to.none {
				c.inClearWarning(what, "the event's")
			}
			return got, err
		}
		if !set["name"] || !set["contact"] {
			have, lack, other := "pseudonym", "contact", "contact"
			if set["contact"] {
				have, lack, other = "contact", "pseudonym", "name"
			}
			return nil, usagef("the event's organisers have keys, so the pseudonym and contact are sealed to them together, and rally cannot read the old %s to seal it again with the new %s: give --name and --contact together (--%s \"\" for none)", lack, have, other)
		}
		paths := []string{"envelope"}
		if set["guests"] {
			paths = append(paths, "guests")
		}
		req.UpdateMask.Paths = paths
		sealed := &rallyv1.Rsvp{Name: name, Guests: r.GetGuests()}
		if what != "" { // both empty: an empty envelope removes them
			if sealed.Envelope, err = to.seal(&rallyv1.SealedFields{DisplayName: f.name, Contact: f.contact}, name); err != nil {
				return nil, err
			}
		}
		req.Rsvp = sealed
		got, err := c.rsvpsClient().UpdateRsvp(ctx, req)
		if err == nil && what != "" {
			c.sealedNote(what, to)
		}
		return got, err
	})
}

func (c *cli) cancelRsvpCommand() *ffcli.Command {
	return c.rsvpLeaf(leaf{
		name: "cancel", usage: "rsvp cancel RSVP", short: "give your place up; the waitlist moves up (safe to repeat)",
		long: "The manage token stays saved, to show the RSVP; rally rsvp forget deletes it, and\nrally rsvp delete deletes the RSVP itself, on the server too.",
	}, true, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		return c.rsvpsClient().CancelRsvp(ctx, &rallyv1.CancelRsvpRequest{Name: name})
	})
}

func (c *cli) forgetRsvpCommand() *ffcli.Command {
	return c.forgetCommand(rsvpHolding, "rsvp forget RSVP", "The RSVP itself stays as it is: cancel it first if you will not come.")
}

func (c *cli) listRsvpsCommand() *ffcli.Command {
	var list listFlags
	var state, keyPath string
	return c.leaf(leaf{
		name: "list", usage: "rsvps list EVENT [--key FILE] [--state going|waitlisted|cancelled] [--limit N] [--page-size N]", minArgs: 1, maxArgs: 1,
		short: "list an event's RSVPs in arrival order, contacts included (its organisers only)",
		long: `Every call is recorded in the event's audit log: see rally rsvps audit.

Pseudonyms and contacts sealed to the organisers' keys show as "(sealed)" unless --key
names your key file (rally keys create): they are then opened here, on this computer,
with its private keys. With --json, the RSVPs are the API's, with displayName and contact
filled in from each envelope opened (the envelope is kept); a record stored in clear has
them as stored. A record that does not open shows why in its cells ("(sealed to another
key)": to a co-organiser's key or one not in FILE; "(tampered with)": changed since it was
sealed; "(sealed for another record)": moved from another RSVP), keeps empty fields in
the JSON, and is counted in one warning on standard error. The exit code is 0 when at
least one sealed RSVP opened (or none is sealed), and 1 when none did (the list is still
printed): most likely FILE is not the right key file.`,
		flags: func(fs *flag.FlagSet) {
			list.register(fs)
			fs.StringVar(&state, "state", "", "only RSVPs in this `state`: going, waitlisted or cancelled")
			keyFlag(fs, &keyPath)
		},
		run: func(ctx context.Context, args []string) error {
			parent, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			req := &rallyv1.ListRsvpsRequest{Parent: parent}
			if state != "" {
				if req.State, err = parseEnum("state", state, rsvpStates); err != nil {
					return err
				}
			}
			keys, err := newOpener(keyPath, "RSVPs")
			if err != nil {
				return err
			}
			rsvps, err := collect(list, func(size int32, token string) ([]*rallyv1.Rsvp, string, error) {
				req.PageSize, req.PageToken = size, token
				resp, err := c.rsvpsClient().ListRsvps(ctx, req)
				return resp.GetRsvps(), resp.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			var rows [][]string
			unopened := 0
			for _, r := range rsvps {
				position := ""
				if p := r.GetWaitlistPosition(); p > 0 {
					position = fmt.Sprint(p)
				}
				pseudonym, contact := cell(r.GetDisplayName()), cell(r.GetContact())
				fields, marks := keys.record(r.GetName(), r.GetEnvelope())
				switch {
				case marks[0] != "":
					pseudonym, contact = marks[0], marks[0]
					unopened++
				case fields[0] != nil:
					r.DisplayName, r.Contact = fields[0].GetDisplayName(), fields[0].GetContact()
					pseudonym, contact = cell(r.DisplayName), cell(r.Contact)
				}
				rows = append(rows, []string{r.GetName(), rsvpState(r), position, fmt.Sprint(r.GetGuests()), pseudonym, contact, checkedIn(r)})
			}
			if err := c.printTable(&rallyv1.ListRsvpsResponse{Rsvps: rsvps}, []string{"NAME", "STATE", "POSITION", "GUESTS", "PSEUDONYM", "CONTACT", "CHECKED IN"}, rows); err != nil {
				return err
			}
			if keys == nil && unopened > 0 {
				c.note("Sealed to the organisers' keys: %d of %d RSVPs; --key FILE, your key file, opens them here.", unopened, len(rsvps))
			}
			return keys.done(c)
		},
	})
}

// keyFlag adds --key, the key file that opens sealed personal fields.
func keyFlag(fs *flag.FlagSet, path *string) {
	fs.StringVar(path, "key", "", "your key `file` (rally keys create): open the sealed pseudonyms, contacts, notes and proofs with its private keys, here")
}

func (c *cli) checkInRsvpCommand() *ffcli.Command {
	return c.rsvpLeaf(leaf{
		name: "check-in", usage: "rsvps check-in RSVP", short: "mark a participant who holds a place as arrived (the event's organisers only)",
	}, false, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		return c.rsvpsClient().CheckInRsvp(ctx, &rallyv1.CheckInRsvpRequest{Name: name})
	})
}

func (c *cli) auditRsvpsCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "audit", usage: "rsvps audit EVENT", minArgs: 1, maxArgs: 1,
		short: "show who read an event's list of RSVPs, and when, newest first (its organisers only)",
		run: func(ctx context.Context, args []string) error {
			parent, err := resourceName("events", args[0])
			if err != nil {
				return err
			}
			resp, err := c.rsvpsClient().ListAuditEntries(ctx, &rallyv1.ListAuditEntriesRequest{Parent: parent})
			if err != nil {
				return err
			}
			var rows [][]string
			for _, e := range resp.GetAuditEntries() {
				rows = append(rows, []string{formatTime(e.GetCreateTime(), nil), e.GetActor(), e.GetAction()})
			}
			return c.printTable(resp, []string{"WHEN", "WHO", "ACTION"}, rows)
		},
	})
}

// rsvpState shows an RSVP's state as a word, such as going.
func rsvpState(r *rallyv1.Rsvp) string {
	return enumName(r.GetState(), "RSVP_STATE_")
}

func checkedIn(r *rallyv1.Rsvp) string {
	if r.GetCheckedIn() {
		return "yes"
	}
	return ""
}

func rsvpFields(r *rallyv1.Rsvp) []field {
	state := rsvpState(r)
	if p := r.GetWaitlistPosition(); p > 0 {
		state += fmt.Sprintf(", position %d", p)
	}
	pseudonym, contact := r.GetDisplayName(), r.GetContact()
	if r.GetEnvelope() != nil && pseudonym == "" && contact == "" {
		pseudonym, contact = "(sealed: rally rsvps list --key FILE opens it)", markSealed
	}
	return []field{
		{"Name", r.GetName()},
		{"State", state},
		{"Guests", fmt.Sprint(r.GetGuests())},
		{"Pseudonym", pseudonym},
		{"Contact", contact},
		{"Checked in", checkedIn(r)},
		{"Checked out", formatTime(r.GetCheckOutTime(), nil)},
		{"Buddy", buddyLine(r.GetBuddy())},
		{"Created", formatTime(r.GetCreateTime(), nil)},
		{"Updated", formatTime(r.GetUpdateTime(), nil)},
	}
}
