package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// holding is a kind of resource that a person without an account holds by a token of its
// own, which the server shows once: an RSVP (its manage token) or a task's claim (its
// claim token). The command that makes one saves the token to a file next to the login,
// and the holder's commands on it send that token.
type holding struct {
	noun       string // "RSVP"
	one        string // the noun with its article: "an RSVP"
	parent     string // the collection of its parent: "events"
	parentNoun string // "event"
	key        string // the collection under its parent, and the key of the file's list: "rsvps"
	file       string // in the config directory: "rsvps.json"
	token      string // what the token is called: "manage token"
	field      string // the token's field in the create response's JSON: "manageToken"
	purpose    string // what only the token does: "manage this RSVP (to see, change or cancel it)"
	organisers string // who manages it without the token: "its event"
	create     string // the command that makes one and prints its name: "rally rsvp create"
	use        string // a command that uses the saved token: "rally rsvp get"
	forgets    string // the command that deletes a saved token: "rally rsvp forget"
}

var rsvpHolding = &holding{
	noun: "RSVP", one: "an RSVP", parent: "events", parentNoun: "event", key: "rsvps", file: "rsvps.json",
	token: "manage token", field: "manageToken", purpose: "manage this RSVP (to see, change or cancel it)",
	organisers: "its event", create: "rally rsvp create", use: "rally rsvp get", forgets: "rally rsvp forget",
}

var claimHolding = &holding{
	noun: "claim", one: "a claim", parent: "tasks", parentNoun: "task", key: "claims", file: "claims.json",
	token: "claim token", field: "claimToken", purpose: "complete or release this claim",
	organisers: "its task's campaign", create: "rally tasks claim", use: "rally tasks complete", forgets: "rally tasks forget",
}

// heldName accepts the full name of an RSVP or claim, such as events/{event}/rsvps/{rsvp}:
// its ID alone does not say which event or task it belongs to.
func heldName(h *holding, arg string) (string, error) {
	parts := strings.Split(arg, "/")
	if len(parts) != 4 || parts[0] != h.parent || parts[1] == "" || parts[2] != h.key || parts[3] == "" {
		return "", usagef("%q is not %s: give its full name, %s/%s/%s/ID, as %s printed it (the ID alone does not say which %s)",
			arg, h.one, h.parent, strings.ToUpper(h.parentNoun), h.key, h.create, h.parentNoun)
	}
	return arg, nil
}

// connectHeld opens the connection for a holder's command on an RSVP or claim. Without
// --server it goes to the server its token is saved for, when that is one. The token is
// --token or RALLY_TOKEN when given, else the one saved for it, else the saved login (its
// organisers may act on it too).
func (c *cli) connectHeld(h *holding, name string) error {
	saved, _, err := h.load()
	if err != nil {
		return err
	}
	if c.server == "" {
		c.server = saved.onlyServer(name)
	}
	t, err := c.resolveTarget()
	if err != nil {
		return err
	}
	if s := saved.find(t.server, name); s != nil && c.token == "" {
		t.use(s.savedLogin, fromSaved)
	}
	t.held, t.holding = name, h
	return c.dial(t)
}

// heldLeaf is a command on one RSVP or claim, named in full. A holder's command connects
// with the token saved for it (see connectHeld), an organiser's with the login.
func heldLeaf[T proto.Message](c *cli, h *holding, l leaf, holder bool, call func(ctx context.Context, name string) (T, error), fields func(T) []field) *ffcli.Command {
	l.minArgs, l.maxArgs, l.offline = 1, 1, holder
	l.run = func(ctx context.Context, args []string) error {
		name, err := heldName(h, args[0])
		if err != nil {
			return err
		}
		if holder {
			if err := c.connectHeld(h, name); err != nil {
				return err
			}
		}
		r, err := call(ctx, name)
		if err != nil {
			return err
		}
		return c.printFields(r, fields(r))
	}
	return c.leaf(l)
}

// requestIDFlag adds --request-id to a command that makes an RSVP or claim.
func requestIDFlag(fs *flag.FlagSet, h *holding, requestID *string) {
	fs.StringVar(requestID, "request-id", "", fmt.Sprintf("idempotency `key`, 16 to 64 letters, digits, - or _: running the command again with it returns the first %s instead of a second; random when empty", h.noun))
}

// issued is what the call that makes an RSVP or claim returned.
type issued struct {
	response proto.Message // all of it, for --json
	resource proto.Message // the RSVP or claim
	fields   []field       // how to show the resource
	name     string
	token    string
}

// retryDelay is how long a create waits before trying again after a network error.
const retryDelay = time.Second

// issue makes an RSVP or claim: it sends no token, whatever is saved or given, since the
// result belongs to no account. A network error is retried once with the same request
// ID, random when requestID is empty, with which the server returns the first result
// instead of making a second. issue prints the result and its token, and saves the token.
// prepare, when not nil, runs once after connecting and before the first call (to read the
// keys to seal to, say): a retry repeats only call, which must send the same request.
func (c *cli) issue(ctx context.Context, h *holding, requestID string, prepare func(ctx context.Context) error, call func(ctx context.Context, requestID string) (issued, error)) error {
	if requestID == "" {
		requestID = newRequestID()
	}
	if err := c.connectAnonymous(); err != nil {
		return err
	}
	if prepare != nil {
		if err := prepare(ctx); err != nil {
			return err
		}
	}
	r, err := call(ctx, requestID)
	if unanswered(err) {
		c.note("rally: %s; trying once more", status.Convert(err).Message())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryDelay):
		}
		if r, err = call(ctx, requestID); unanswered(err) {
			// Even with --json: this is the only way to retry safely.
			fmt.Fprintf(c.stderr, "rally: the %s may have been made: run the command again with --request-id %s to get it, or make it, but never twice\n", h.noun, requestID)
		}
	}
	if err != nil {
		return err
	}
	return c.keep(h, r)
}

// idempotencyKeyMetadata is the metadata the server takes a create's idempotency key from
// (server.IdempotencyKeyHeader), filling the request's request_id with it.
const idempotencyKeyMetadata = "idempotency-key"

// withIdempotencyKey sends key, when set, as the idempotency-key metadata rather than in
// the request's request_id: the key is a secret, and metadata is where Rally's clients
// keep it (over REST, the Idempotency-Key header keeps it out of the URLs that proxies log).
func withIdempotencyKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, idempotencyKeyMetadata, key)
}

// newRequestID returns 128 random bits in hex. It must be unguessable: with the event or
// task, it gives back the token.
func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: it crashes the program instead
	return hex.EncodeToString(b)
}

// unanswered reports whether err leaves unknown whether the server acted on the call.
func unanswered(err error) bool {
	code := status.Code(err)
	return code == codes.Unavailable || code == codes.DeadlineExceeded
}

// keep prints a new RSVP or claim and its token, then saves the token for the next
// commands. The token is printed first, so that it is not lost when saving fails.
func (c *cli) keep(h *holding, r issued) error {
	if c.json {
		if err := c.printJSON(r.response); err != nil {
			return err
		}
		// Even with --json: whoever runs this must learn what the token is for.
		fmt.Fprintf(c.stderr, "Keep the %s: it is the only way to %s.\n", h.field, h.purpose)
	} else {
		if err := c.printFields(r.resource, r.fields); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "\n%s: %s\nKeep it: it is the only way to %s.\n", upperFirst(h.token), r.token, h.purpose)
	}
	login, err := c.target.saved(r.token)
	path := ""
	if err == nil {
		path, err = h.save(savedToken{Name: r.name, savedLogin: login})
	}
	if err != nil {
		return fmt.Errorf("saving the %s: %w; store it yourself", h.token, err)
	}
	fmt.Fprintf(c.stderr, "Saved to %s, readable only by you: %s %s uses it.\n", path, h.use, r.name)
	return nil
}

// forgetCommand deletes the saved token of an RSVP or claim.
func (c *cli) forgetCommand(h *holding, usage, long string) *ffcli.Command {
	return c.leaf(leaf{
		name: "forget", usage: usage, minArgs: 1, maxArgs: 1, offline: true,
		short: fmt.Sprintf("delete %s's saved %s from this computer", h.one, h.token),
		long:  long + "\nWithout --server, forgets the token for every server it is saved for.",
		run: func(_ context.Context, args []string) error {
			name, err := heldName(h, args[0])
			if err != nil {
				return err
			}
			servers, err := h.forget(c.server, name)
			if err != nil {
				return err
			}
			if len(servers) == 0 {
				_, err = fmt.Fprintf(c.stdout, "No %s is saved for %s.\n", h.token, name)
				return err
			}
			_, err = fmt.Fprintf(c.stdout, "Forgot the %s of %s (on %s).\n", h.token, name, strings.Join(servers, ", "))
			return err
		},
	})
}
