package server

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

// Personal fields (an RSVP's display name and contact, a claim's display name, note and
// proof URL) are stored sealed to the recipient keys of the record's campaign (issue
// 15): either the client sealed them and sends an Envelope, which is checked here for
// form and recipients (the server cannot read it), or the client sent them in plain and
// they are sealed here on receipt, before anything is stored. Only a campaign without
// any key has them stored in clear, and the response says so.

// maxSealedFields bounds an envelope's ciphertext: the largest SealedFields the plain
// fields' limits allow (60 + 200 + 2000 + 2048 bytes and their tags) with room to spare,
// and the AES-GCM tag.
const maxSealedFields = 8192

// sealed is the outcome of sealing a record's personal fields.
type sealed struct {
	// Envelope is what to store instead of the plain fields; nil when the record stores
	// them in clear (or has none).
	Envelope *rallyv1.Envelope
	// InClear is true when plain personal fields are stored as they are, because the
	// campaign has no recipient keys.
	InClear bool
}

// hasPersonal reports whether a request carries personal fields, sealed or plain; only
// then are the recipient keys read, so that an RSVP without any, as in a rush, costs no
// more than before.
func hasPersonal(env *rallyv1.Envelope, plain *rallyv1.SealedFields) bool {
	return env != nil || proto.Size(plain) > 0
}

// seal decides how the personal fields of the record named resource are stored, given
// the recipient keys of its campaign. env is the client's envelope (field names it in
// errors), plain the fields it sent in plain; a client sends one or the other.
func seal(resource, field string, env *rallyv1.Envelope, plain *rallyv1.SealedFields, keys []*rallyv1.RecipientKey) (sealed, error) {
	hasPlain := proto.Size(plain) > 0
	if env == nil && !hasPlain {
		return sealed{}, nil
	}
	if env != nil && hasPlain {
		return sealed{}, errInvalid(field, "give the personal fields either sealed in the envelope or in plain, not both")
	}
	if env != nil {
		if err := checkEnvelope(field, env, resource, keys); err != nil {
			return sealed{}, err
		}
		return sealed{Envelope: env}, nil
	}
	if len(keys) == 0 {
		return sealed{InClear: true}, nil
	}
	out, err := envelope.Seal(plain, envelope.FromRecipientKeys(keys), resource)
	if err != nil {
		return sealed{}, fmt.Errorf("sealing the personal fields of %s: %w", resource, err)
	}
	return sealed{Envelope: out}, nil
}

// checkEnvelope checks what the server can of a client's envelope: its version, the
// record it is for, its sizes, and that every key it is sealed to is a current recipient
// key of the campaign. It need not be sealed to all of them: a client that fetched the
// campaign's keys just before a co-organiser added one is not refused; organisers see
// which keys a record is sealed to.
func checkEnvelope(field string, env *rallyv1.Envelope, resource string, keys []*rallyv1.RecipientKey) error {
	if env.GetVersion() != envelope.Version {
		return errInvalid(field+".version", fmt.Sprintf("must be %d", envelope.Version))
	}
	if env.GetResource() != resource {
		return errInvalid(field+".resource", fmt.Sprintf("must be the record's name, %s: an envelope is sealed for one record (choose the ID with the request's ID field)", resource))
	}
	if len(env.GetNonce()) != envelope.NonceSize {
		return errInvalid(field+".nonce", fmt.Sprintf("must be %d bytes", envelope.NonceSize))
	}
	if n := len(env.GetCiphertext()); n < envelope.TagSize || n > maxSealedFields {
		return errInvalid(field+".ciphertext", fmt.Sprintf("must be %d to %d bytes", envelope.TagSize, maxSealedFields))
	}
	if len(keys) == 0 {
		return errInvalid(field, "the campaign has no recipient keys to seal to; send the fields in plain (they are stored in clear) or wait for its organisers to create a key")
	}
	if len(env.GetRecipients()) == 0 {
		return errInvalid(field+".recipients", "must name at least one of the campaign's recipient keys")
	}
	known := make(map[string]*rallyv1.RecipientKey, len(keys))
	for _, k := range keys {
		known[k.GetKey()] = k
	}
	seen := make(map[string]bool, len(env.GetRecipients()))
	for i, r := range env.GetRecipients() {
		f := fmt.Sprintf("%s.recipients[%d]", field, i)
		k := known[r.GetKey()]
		if k == nil {
			return errInvalid(f+".key", "not a current recipient key of the campaign (see Campaign.recipient_keys)")
		}
		if seen[r.GetKey()] {
			return errInvalid(f+".key", "appears twice")
		}
		seen[r.GetKey()] = true
		if want := envelope.EncSize(k.GetAlgorithm()); len(r.GetEnc()) != want {
			return errInvalid(f+".enc", fmt.Sprintf("must be %d bytes for a %v key", want, k.GetAlgorithm()))
		}
		if len(r.GetSealedKey()) != envelope.SealedKeySize {
			return errInvalid(f+".sealed_key", fmt.Sprintf("must be %d bytes", envelope.SealedKeySize))
		}
	}
	return nil
}
