// Package envelope seals the personal fields of a record (an RSVP's pseudonym and contact,
// a claim's pseudonym, note and proof URL) to the public keys of a campaign's organisers,
// so that a copy of the server's data holds only ciphertext, and opens them with an
// organiser's private key. The format is Envelope in proto/rally/v1/envelope.proto,
// whose comments describe it exactly for other implementations (the browser's WebCrypto).
package envelope
