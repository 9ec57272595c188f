package server

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/rallyhq/rally/internal/secret"
)

// Idempotent creates: the idempotency key (the Idempotency-Key header or request_id),
// the IDs derived from it (idFromRequestID), and the sealed tokens that let a retried
// RSVP or claim return the first attempt's token (requestKey, sealToken, openToken).

// IdempotencyKeyHeader is the metadata key that carries a create's idempotency key, as
// the request_id field does. Over REST it is the Idempotency-Key header (the name of the
// IETF httpapi draft), which the gateway forwards as this metadata.
//
// The key is a bearer secret (a retry with it returns the RSVP's or claim's token), so it
// belongs in a header rather than in the URL's query, which proxies and access logs keep;
// requestId in the query still works.
const IdempotencyKeyHeader = "idempotency-key"

// requestIDField is the field of the requests that take an idempotency key.
const requestIDField = "request_id"

// applyIdempotencyKey copies the call's idempotency-key metadata into m's request_id
// field, for any request that has one, so that no handler needs to know where the key
// came from. A key that the body (or the query) also gives differently is refused:
// which one the client meant cannot be told. Requests without the field ignore the
// metadata, so that a client may send it with every write.
func applyIdempotencyKey(ctx context.Context, m proto.Message) error {
	keys := metadata.ValueFromIncomingContext(ctx, IdempotencyKeyHeader) // not a copy of all of it
	if len(keys) == 0 {
		return nil
	}
	msg := m.ProtoReflect()
	fd := msg.Descriptor().Fields().ByName(requestIDField)
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated {
		return nil
	}
	if len(keys) > 1 {
		return errInvalid(IdempotencyKeyHeader, "send one idempotency key, not several")
	}
	key := unquote(keys[0])
	switch {
	case !utf8.ValidString(key):
		return errInvalid(IdempotencyKeyHeader, "must be valid UTF-8: letters, digits, - and _")
	case key == "":
		return errInvalid(IdempotencyKeyHeader, "is empty: send a random key, such as a UUID, or no header")
	}
	switch body := msg.Get(fd).String(); body {
	case "":
		msg.Set(fd, protoreflect.ValueOfString(key))
	case key:
	default:
		return errInvalid(requestIDField, "differs from the idempotency key in the "+IdempotencyKeyHeader+" header; send the key once, in the header")
	}
	return nil
}

// unquote takes a key out of the quotes of a Structured Field string (RFC 8941), the
// form the IETF draft gives the header; a bare key is taken as it is. Keys hold no
// quote or backslash, so a string with escapes is left for validation to refuse.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' && !strings.ContainsAny(s[1:len(s)-1], `"\`) {
		return s[1 : len(s)-1]
	}
	return s
}

// idempotencyKeyUnary applies the idempotency key to unary requests. It comes before
// validation, which then checks the key as the request_id field's rules say.
func idempotencyKeyUnary(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if m, ok := req.(proto.Message); ok {
		if err := applyIdempotencyKey(ctx, m); err != nil {
			return nil, err
		}
	}
	return handler(ctx, req)
}

// idFromRequestID derives the ID of a resource created with an idempotency key, so that
// a retry targets the same name and finds the first attempt's resource. The caller is
// part of the input: two callers choosing the same key get different resources.
func idFromRequestID(collection, caller, requestID string) string {
	sum := sha256.Sum256([]byte(collection + "\x00" + caller + "\x00" + requestID))
	return idEncoding.EncodeToString(sum[:16])
}

// Idempotent creates (RSVPs, claims) return a token that the store keeps only as a hash.
// A retry with the same request_id must return the same token, so the store also keeps
// the token sealed: requestKey finds the first create, and sealToken/openToken keep its
// token for the retry.
//
// The seal is AES-256-GCM (crypto/cipher), an AEAD, with a key derived by HKDF-SHA256
// (crypto/hkdf) from the server secret's token-seal key, the scope and the request_id:
//
//   - The server secret never reaches Redis, so a copy of Redis (a dump, a backup, an
//     AOF) opens no token, even for someone who learns a request_id. The request_id,
//     which only the client has, is part of the key too, so the server secret alone
//     opens nothing either: an operator holding both a dump and the secret still needs
//     each client's request_id.
//   - GCM authenticates: a sealed value that was altered, or moved to another request
//     key or scope (the additional data), does not open, where the XOR with a hash of
//     the request_id that Rally used before returned whatever bytes it was given, and
//     let anyone who knew the request_id read the token from a dump.
//   - The standard library's AEAD and HKDF rather than a construction of our own: no
//     hand-rolled crypto.
//
// Each key serves one request_id, so the random 96-bit nonce is never close to
// repeating under a key.

// sealVersion prefixes every sealed value, so that the format can change and a value
// sealed by an older Rally (the XOR seal had no prefix) is told apart rather than
// misread.
const sealVersion = 1

// errSealedUnopenable is what openToken returns when no key of the keyring opens a
// sealed token: it was sealed by an older Rally, under a secret that has since been
// dropped, or altered.
var errSealedUnopenable = errors.New("the sealed token opens under no key")

// requestKey is the key under which the store finds a create made with request_id in
// scope (the parent resource's name). It is a hash: the store never holds the request_id.
func requestKey(scope, requestID string) string {
	sum := sha256.Sum256([]byte("rally request\x00" + scope + "\x00" + requestID))
	return hex.EncodeToString(sum[:])
}

// sealAEAD returns the AEAD that seals the token of request_id in scope under a token-seal
// key of the keyring. Scope (a resource name) never holds a NUL byte, so scope and
// request_id are told apart in the HKDF info.
func sealAEAD(key []byte, scope, requestID string) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, key, []byte(scope), "rally token seal v1\x00"+scope+"\x00"+requestID, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// sealAD is the additional data of a seal: it binds the value to the scope and the
// request key under which the store keeps it.
func sealAD(scope, requestID string) []byte {
	return []byte("rally token seal v1\x00" + scope + "\x00" + requestKey(scope, requestID))
}

// sealToken seals token for the retries of the create made with request_id in scope,
// under the keyring's newest secret.
func sealToken(keys *secret.Keyring, scope, requestID string, token []byte) ([]byte, error) {
	aead, err := sealAEAD(keys.Key(secret.TokenSeal), scope, requestID)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(token)+aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // never fails (crypto/rand panics rather than return an error)
	return aead.Seal(out, out[1:], token, sealAD(scope, requestID)), nil
}

// openToken opens what sealToken sealed, trying every secret of the keyring, newest first,
// so that tokens sealed before a rotation still open. It returns errSealedUnopenable when
// none does.
func openToken(keys *secret.Keyring, scope, requestID string, sealed []byte) ([]byte, error) {
	if len(sealed) == 0 || sealed[0] != sealVersion {
		return nil, errSealedUnopenable
	}
	for _, key := range keys.Keys(secret.TokenSeal) {
		aead, err := sealAEAD(key, scope, requestID)
		if err != nil {
			return nil, err
		}
		if len(sealed) < 1+aead.NonceSize() {
			return nil, errSealedUnopenable
		}
		nonce, box := sealed[1:1+aead.NonceSize()], sealed[1+aead.NonceSize():]
		if token, err := aead.Open(nil, nonce, box, sealAD(scope, requestID)); err == nil {
			return token, nil
		}
	}
	return nil, errSealedUnopenable
}

// errReplayUnopenable is what a retry gets when the first create's token cannot be given
// back (errSealedUnopenable): FAILED_PRECONDITION, since retrying with the same
// request_id can never succeed, naming request_id and what to do. The first create
// stands; its token is lost, as if the client had never received it.
func errReplayUnopenable() error {
	return errPrecondition("request_id", "a request with this request_id was already made, but its token can no longer be returned (it was kept by an older Rally or under a server secret that has been retired); retry with a new request_id")
}
