package main

import (
	"crypto/hpke"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

// Participants' personal fields (an RSVP's pseudonym and contact, a claim's pseudonym,
// note and proof URL) are sealed here, on the participant's computer, to the organisers'
// public keys that the event or campaign publishes (issue 15): rallyd only ever sees the
// envelope. Organisers open the envelopes here too, with their key file (--key).

// idEncoding is the server's: lowercase base32 without padding.
var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecordID returns a random ID for a new RSVP or claim, as the server would choose it
// (128 bits, 26 characters): an envelope is sealed for the record's name, so the client
// chooses it.
func newRecordID() string {
	b := make([]byte, 16)
	rand.Read(b) // never fails: it crashes the program instead
	return idEncoding.EncodeToString(b)
}

// sealTo is what a participant's personal fields are sealed to.
type sealTo struct {
	recipients   []envelope.Recipient
	fingerprints []string // computed here from the public keys, not taken from the server
	none         bool     // the server published no key at all: plain fields are stored in clear
}

// sealTarget checks the recipient keys that the server published and returns those to
// seal to: the HPKE keys, each with its fingerprint computed here. It refuses a key whose
// published fingerprint is not that of its public key, or whose public key is not usable:
// the fingerprints are what participants compare with what the organisers publish. An
// empty result means there is nothing to seal to (the caller sends plain fields, which
// the server stores in clear when there are no keys at all).
func sealTarget(keys []*rallyv1.RecipientKey) (sealTo, error) {
	out := sealTo{none: len(keys) == 0}
	for _, k := range keys {
		alg := k.GetAlgorithm()
		if !envelope.IsHPKE(alg) {
			continue // an algorithm this rally does not know: the others serve
		}
		if err := envelope.CheckPublicKey(alg, k.GetPublicKey()); err != nil {
			return sealTo{}, fmt.Errorf("the organisers' key %s is not usable (%v): refusing to seal to it; nothing was sent", k.GetKey(), err)
		}
		fp := envelope.Fingerprint(alg, k.GetPublicKey())
		if got := k.GetFingerprint(); got != "" && got != fp {
			return sealTo{}, fmt.Errorf("the server shows the fingerprint %s for the organisers' key %s, but the key's fingerprint is %s: refusing to seal to it, since the server may have changed the key; nothing was sent", got, k.GetKey(), fp)
		}
		out.recipients = append(out.recipients, envelope.Recipient{Key: k.GetKey(), Algorithm: alg, PublicKey: k.GetPublicKey()})
		out.fingerprints = append(out.fingerprints, fp)
	}
	return out, nil
}

// seal seals fields for the record named resource.
func (s sealTo) seal(fields *rallyv1.SealedFields, resource string) (*rallyv1.Envelope, error) {
	env, err := envelope.Seal(fields, s.recipients, resource)
	if err != nil {
		return nil, fmt.Errorf("sealing your personal fields: %w", err)
	}
	return env, nil
}

// sealedNote says on stderr what fields were sealed to which keys, so that the
// participant can compare the fingerprints with those the organisers publish.
func (c *cli) sealedNote(what string, s sealTo) {
	fmt.Fprintf(c.stderr, "Your %s %s sealed to the organisers' keys: %s (compare with the fingerprints they publish); the server cannot read %s.\n",
		what, verb(what), strings.Join(s.fingerprints, ", "), pronoun(what))
}

// inClearWarning warns on stderr that what was given is stored in clear on the server.
func (c *cli) inClearWarning(what, whose string) {
	fmt.Fprintf(c.stderr, "rally: warning: %s organisers have no key yet, so your %s %s stored in clear on the server: anyone who obtains a copy of its data can read %s.\n",
		whose, what, verb(what), pronoun(what))
}

// verb and pronoun agree with what: "pseudonym" or "pseudonym and contact".
func verb(what string) string {
	if strings.Contains(what, " and ") {
		return "are"
	}
	return "is"
}

func pronoun(what string) string {
	if strings.Contains(what, " and ") {
		return "them"
	}
	return "it"
}

// checkLocally validates a request as rallyd would, before its personal fields are
// sealed: the server cannot check what it cannot read, so the limits on them (lengths,
// an https proof URL) are the client's to keep. A violation fails as the server's would,
// naming the flag.
func checkLocally(req proto.Message) error {
	err := protovalidate.Validate(req)
	var verr *protovalidate.ValidationError
	if err == nil || !errors.As(err, &verr) {
		return err
	}
	br := &errdetails.BadRequest{}
	for _, v := range verr.Violations {
		field := protovalidate.FieldPathString(v.Proto.GetField())
		if field == "" {
			field = "request"
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: field, Description: v.Proto.GetMessage()})
	}
	st, derr := status.New(codes.InvalidArgument, "invalid request").WithDetails(br)
	if derr != nil {
		return status.Error(codes.InvalidArgument, verr.Error())
	}
	return st.Err()
}

// parentOf returns the parent of an RSVP's or claim's name: events/E of events/E/rsvps/R.
func parentOf(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 {
		return name
	}
	return parts[0] + "/" + parts[1]
}

// Markers shown in place of the personal fields of a record that holds an envelope.
const (
	markSealed = "(sealed)" // no --key given
)

// reasons name, for the table and the warning, why an envelope did not open.
var reasons = []struct {
	err    error
	marker string
}{
	{envelope.ErrNotRecipient, "(sealed to another key)"},
	{envelope.ErrWrongKey, "(does not open with this key: wrong key or tampered with)"},
	{envelope.ErrTampered, "(tampered with)"},
	{envelope.ErrOtherRecord, "(sealed for another record)"},
	{envelope.ErrVersion, "(unknown envelope version)"},
}

func marker(err error) string {
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.marker
		}
	}
	return "(does not open)"
}

// opener opens the envelopes of a list with the private keys of a key file, and counts
// what did not open, by reason. A nil opener (no --key) opens nothing.
type opener struct {
	path   string
	keys   map[string]hpke.PrivateKey // by key ID
	sealed int                        // records with at least one envelope
	failed map[string]int             // records that did not open, by marker
	noun   string                     // "RSVPs"
}

// newOpener reads the key file given with --key; "" gives nil.
func newOpener(path, noun string) (*opener, error) {
	if path == "" {
		return nil, nil
	}
	f, err := readKeyFile(path)
	if err != nil {
		return nil, usagef("--key: %v", err)
	}
	keys, err := f.openers()
	if err != nil {
		return nil, usagef("--key %s: %v", path, err)
	}
	if len(keys) == 0 {
		return nil, usagef("--key %s holds no registered HPKE key to open envelopes with (rally keys register %s registers its keys)", path, path)
	}
	return &opener{path: path, keys: keys, failed: map[string]int{}, noun: noun}, nil
}

// open opens env, read from the record named resource, with whichever of the file's keys
// it is sealed to.
func (o *opener) open(env *rallyv1.Envelope, resource string) (*rallyv1.SealedFields, error) {
	var last error
	for _, r := range env.GetRecipients() {
		priv, ok := o.keys[r.GetKey()]
		if !ok {
			continue
		}
		fields, err := envelope.Open(env, r.GetKey(), priv, resource)
		if err == nil {
			return fields, nil
		}
		last = err
	}
	if last != nil {
		return nil, last
	}
	// None of the file's keys is a recipient; say first what Open would have.
	switch {
	case env.GetVersion() != envelope.Version:
		return nil, fmt.Errorf("%w %d", envelope.ErrVersion, env.GetVersion())
	case env.GetResource() != resource:
		return nil, envelope.ErrOtherRecord
	}
	return nil, envelope.ErrNotRecipient
}

// record opens the envelopes of one record, read from the record named resource. For
// each envelope it returns the fields opened, or nil and the marker to show in the
// fields' cells instead: markSealed without a key file, or why it did not open. A nil
// envelope gives nil and "": the record holds its fields as stored. A record counts once,
// as not opened when any of its envelopes did not open.
func (o *opener) record(resource string, envs ...*rallyv1.Envelope) ([]*rallyv1.SealedFields, []string) {
	fields, marks := make([]*rallyv1.SealedFields, len(envs)), make([]string, len(envs))
	sealed, failed := false, ""
	for i, env := range envs {
		switch {
		case env == nil:
			continue
		case o == nil:
			marks[i] = markSealed
			continue
		}
		sealed = true
		f, err := o.open(env, resource)
		if err != nil {
			marks[i] = marker(err)
			if failed == "" {
				failed = marks[i]
			}
			continue
		}
		fields[i] = f
	}
	if sealed {
		o.sealed++
		if failed != "" {
			o.failed[failed]++
		}
	}
	return fields, marks
}

// done reports what did not open: one warning line on stderr when some records did not
// open, and an error (exit 1, after the list is printed) when none of the sealed ones did.
func (o *opener) done(c *cli) error {
	if o == nil {
		return nil
	}
	n := 0
	var why []string
	for m, k := range o.failed {
		n += k
		why = append(why, fmt.Sprintf("%d %s", k, strings.Trim(m, "()")))
	}
	if n == 0 {
		return nil
	}
	sort.Strings(why)
	if n == o.sealed {
		hint := ""
		if o.failed[marker(envelope.ErrNotRecipient)] == n {
			hint = ": is it the key file of an organiser they are sealed to?"
		}
		return fmt.Errorf("none of the %d sealed %s opened with %s (%s)%s", n, o.noun, o.path, strings.Join(why, ", "), hint)
	}
	fmt.Fprintf(c.stderr, "rally: warning: %d of %d sealed %s did not open with %s: %s\n", n, o.sealed, o.noun, o.path, strings.Join(why, ", "))
	return nil
}

// cell makes a participant's text safe for one cell of a table: control characters
// (newlines, tabs, terminal escapes) become spaces, so that no participant can break the
// table or send escape sequences to the organiser's terminal.
func cell(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
