package main

import (
	"context"
	"flag"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/protobuf/types/known/emptypb"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
)

// The participants' safety commands (issue 17): forgetting an RSVP at once, pairing with
// a buddy, and checking out home safe. All act with the RSVP's manage token.

func (c *cli) deleteRsvpCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "delete", usage: "rsvp delete RSVP", minArgs: 1, maxArgs: 1, offline: true,
		short: "forget an RSVP at once: delete it and everything in it on the server, and its token here",
		long: `Deletes the RSVP on the server, at once and for good: its place goes to the waitlist,
and its pseudonym, contact, manage token and buddy link are gone (your buddy sees no
buddy any more). The event's audit log records only that an RSVP was deleted by its
holder, never which. Then rally removes the RSVP's saved manage token from this
computer, as rally rsvp forget does. Unlike rally rsvp cancel, nothing is left to show.

An organiser of the event may delete any of its RSVPs, logged in, the same way.
Deleting an RSVP that is already gone fails with exit 4.`,
		run: func(ctx context.Context, args []string) error {
			name, err := heldName(rsvpHolding, args[0])
			if err != nil {
				return err
			}
			if err := c.connectHeld(rsvpHolding, name); err != nil {
				return err
			}
			if _, err := c.rsvpsClient().DeleteRsvp(ctx, &rallyv1.DeleteRsvpRequest{Name: name}); err != nil {
				return err
			}
			// Only the token for the server that deleted it: one saved for another server
			// is another RSVP of the same name.
			servers, err := rsvpHolding.forget(c.target.server, name)
			if err != nil {
				return fmt.Errorf("%s is deleted, but its manage token could not be removed from this computer: %w; run rally rsvp forget %s", name, err, name)
			}
			if c.json {
				return c.printJSON(&emptypb.Empty{})
			}
			msg := fmt.Sprintf("Deleted %s.", name)
			if len(servers) > 0 {
				msg += " Its manage token is removed from this computer too."
			}
			_, err = fmt.Fprintln(c.stdout, msg)
			return err
		},
	})
}

// nicknameFlag adds --nickname, what a buddy sees of the holder.
func nicknameFlag(fs *flag.FlagSet, nickname *string) {
	fs.StringVar(nickname, "nickname", "", "the `name` your buddy will see you as, 1 to 40 characters: one they recognise, better not your real name")
}

func requireNickname(nickname string) error {
	if nickname == "" {
		return usagef("--nickname is required: the name your buddy will see you as (better not your real name)")
	}
	return nil
}

func (c *cli) pairBuddyCommand() *ffcli.Command {
	var nickname string
	return heldLeaf(c, rsvpHolding, leaf{
		name: "pair-buddy", usage: "rsvp pair-buddy RSVP --nickname NAME",
		short: "get a code that pairs your RSVP with a buddy's, to tell each other when you are home safe",
		long: `A buddy goes and leaves with you. Once paired, each of you sees the other's nickname and
when they checked out (rally rsvp check-out), and nothing else of the other: not their
RSVP, pseudonym or contact.

Prints a buddy code: give it to your buddy in person, not over a channel others read.
Your buddy, with an RSVP of the same event, runs
  rally rsvp join-buddy THEIR-RSVP --code CODE --nickname THEIR-NICKNAME
The code works once and only until it expires, within minutes; asking again replaces
it. An RSVP has at most one buddy (exit 5), and only a going or waitlisted RSVP of an
event that has not ended can pair.`,
		flags: func(fs *flag.FlagSet) { nicknameFlag(fs, &nickname) },
	}, true, func(ctx context.Context, name string) (*rallyv1.PairBuddyResponse, error) {
		if err := requireNickname(nickname); err != nil {
			return nil, err
		}
		return c.rsvpsClient().PairBuddy(ctx, &rallyv1.PairBuddyRequest{Name: name, Nickname: nickname})
	}, func(r *rallyv1.PairBuddyResponse) []field {
		expires := formatTime(r.GetExpireTime(), nil)
		if r.GetExpireTime() != nil {
			expires += " (" + inMinutes(time.Until(r.GetExpireTime().AsTime())) + ")"
		}
		return []field{
			{"Buddy code", groupCode(r.GetBuddyCode())},
			{"Expires", expires},
			{"Your buddy runs", "rally rsvp join-buddy THEIR-RSVP --code CODE --nickname THEIR-NICKNAME"},
		}
	})
}

// inMinutes says how soon d is up, for a person deciding whether to hurry.
func inMinutes(d time.Duration) string {
	switch n := int(d.Round(time.Minute) / time.Minute); {
	case d <= 0:
		return "expired"
	case n < 1:
		return "in less than a minute"
	case n == 1:
		return "in 1 minute"
	default:
		return fmt.Sprintf("in %d minutes", n)
	}
}

// groupCode shows a buddy code in groups of four, to read out and type without losing
// one's place: join-buddy drops the dashes again.
func groupCode(code string) string {
	var groups []string
	for len(code) > 4 {
		groups, code = append(groups, code[:4]), code[4:]
	}
	return strings.Join(append(groups, code), "-")
}

// buddyCode is the form of a buddy code once normalised (rallyv1.JoinBuddyRequest).
var buddyCode = regexp.MustCompile(`^[a-z2-7]{12}$`)

// normaliseBuddyCode takes a code as a person types it from another's screen: any
// case, with the dashes it was shown with, or spaces.
func normaliseBuddyCode(code string) string {
	return strings.NewReplacer("-", "", " ", "").Replace(strings.ToLower(code))
}

func (c *cli) joinBuddyCommand() *ffcli.Command {
	var code, nickname string
	return c.rsvpLeaf(leaf{
		name: "join-buddy", usage: "rsvp join-buddy RSVP --code CODE --nickname NAME",
		short: "pair your RSVP with a buddy's, with the code they got from rally rsvp pair-buddy",
		long: `The code may be typed in any case, with or without its dashes. It works once; an unknown,
expired or used code, or your own, fails with exit 2 and pairs nothing. Both RSVPs must be
of the same event. Then rally rsvp get shows your buddy's nickname, and when they check
out.`,
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&code, "code", "", "the buddy `code` your buddy gave you, such as abcd-efgh-2345")
			nicknameFlag(fs, &nickname)
		},
	}, true, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		normal := normaliseBuddyCode(code)
		switch {
		case code == "":
			return nil, usagef("--code is required: the buddy code your buddy got from rally rsvp pair-buddy")
		case !buddyCode.MatchString(normal):
			// Not echoed: the code is a secret, if a short-lived one.
			return nil, usagef("--code: not a buddy code, which is 12 letters and digits 2 to 7 (dashes and spaces do not count)")
		}
		if err := requireNickname(nickname); err != nil {
			return nil, err
		}
		return c.rsvpsClient().JoinBuddy(ctx, &rallyv1.JoinBuddyRequest{Name: name, BuddyCode: normal, Nickname: nickname})
	})
}

func (c *cli) checkOutRsvpCommand() *ffcli.Command {
	return c.rsvpLeaf(leaf{
		name: "check-out", usage: "rsvp check-out RSVP",
		short: "confirm you are home safe after the event: your buddy is told at once (safe to repeat)",
		long: `Works once the event has started (before, it fails with exit 5). Your buddy, if you
have one, sees when you checked out. After the event, the organisers count those checked
in who have not checked out: silence may mean someone was detained.`,
	}, true, func(ctx context.Context, name string) (*rallyv1.Rsvp, error) {
		return c.rsvpsClient().CheckOutRsvp(ctx, &rallyv1.CheckOutRsvpRequest{Name: name})
	})
}

// buddyLine shows what a holder sees of their buddy: "Sam (home safe: checked out at
// 2030-05-17 21:02 UTC)" or "Sam (not checked out yet)".
func buddyLine(b *rallyv1.RsvpBuddy) string {
	if b == nil {
		return ""
	}
	if t := b.GetCheckOutTime(); t != nil {
		return fmt.Sprintf("%s (home safe: checked out at %s)", b.GetNickname(), formatTime(t, nil))
	}
	return b.GetNickname() + " (not checked out yet)"
}
