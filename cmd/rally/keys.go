package main

import (
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/peterbourgon/ff/v3/ffcli"

	rallyv1 "github.com/rallyhq/rally/gen/go/rally/v1"
	"github.com/rallyhq/rally/internal/envelope"
)

func (c *cli) keysCommand() *ffcli.Command {
	return c.group("keys", "create, register, list and revoke organisers' keys for sealed personal fields", "",
		c.createKeysCommand(), c.registerKeysCommand(), c.listKeysCommand(), c.revokeKeyCommand())
}

// keyFile is the file that holds an organiser's key pairs, private halves included: it
// never leaves the organiser's device and is never uploaded. Keys are base64url without
// padding in their raw encodings; the X25519 private key is its 32 raw bytes, so that a
// browser can import it as a JWK's `d`.
type keyFile struct {
	Keys []fileKey `json:"keys"`
}

type fileKey struct {
	// Name is the key's resource name once registered (organisers/{o}/keys/{k}), empty
	// before.
	Name       string `json:"name"`
	Algorithm  string `json:"algorithm"` // a KeyAlgorithm enum name
	PublicKey  string `json:"publicKey"`
	PrivateKey string `json:"privateKey"`
}

var b64 = base64.RawURLEncoding

// newKeyFile makes an X25519 HPKE key pair, to seal to, and an Ed25519 signing key.
func newKeyFile() (*keyFile, error) {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	signPub, signPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return &keyFile{Keys: []fileKey{
		{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_HPKE_X25519.String(), PublicKey: b64.EncodeToString(x.PublicKey().Bytes()), PrivateKey: b64.EncodeToString(x.Bytes())},
		{Algorithm: rallyv1.KeyAlgorithm_KEY_ALGORITHM_ED25519.String(), PublicKey: b64.EncodeToString(signPub), PrivateKey: b64.EncodeToString(signPriv.Seed())},
	}}, nil
}

// writeKeyFile writes f to path with mode 0600. create refuses to replace a file: a
// replaced key file loses private keys that records are sealed to.
func writeKeyFile(path string, f *keyFile, create bool) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	flags := os.O_WRONLY | os.O_TRUNC
	if create {
		flags = os.O_WRONLY | os.O_CREATE | os.O_EXCL
	}
	out, err := os.OpenFile(path, flags, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func readKeyFile(path string) (*keyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var f keyFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is not a key file: %v", path, err)
	}
	return &f, nil
}

// openers returns the HPKE private keys of a key file by key ID, to open envelopes with.
func (f *keyFile) openers() (map[string]hpke.PrivateKey, error) {
	out := map[string]hpke.PrivateKey{}
	for _, k := range f.Keys {
		alg := rallyv1.KeyAlgorithm(rallyv1.KeyAlgorithm_value[k.Algorithm])
		kem, ok := envelope.KEM(alg)
		if !ok || k.Name == "" {
			continue
		}
		raw, err := b64.DecodeString(k.PrivateKey)
		if err != nil {
			return nil, fmt.Errorf("key %s: the private key is not base64url: %v", k.Name, err)
		}
		priv, err := kem.NewPrivateKey(raw)
		if err != nil {
			return nil, fmt.Errorf("key %s: %v", k.Name, err)
		}
		out[k.Name[strings.LastIndex(k.Name, "/")+1:]] = priv
	}
	return out, nil
}

// register registers the public halves of the file's keys that have no name yet, and
// writes their names into the file.
func (c *cli) register(ctx context.Context, path string, f *keyFile) error {
	for i, k := range f.Keys {
		if k.Name != "" {
			continue
		}
		alg, ok := rallyv1.KeyAlgorithm_value[k.Algorithm]
		if !ok {
			return fmt.Errorf("%s: unknown algorithm %q", path, k.Algorithm)
		}
		pub, err := b64.DecodeString(k.PublicKey)
		if err != nil {
			return fmt.Errorf("%s: a public key is not base64url: %v", path, err)
		}
		got, err := c.organisersClient().CreateOrganiserKey(ctx, &rallyv1.CreateOrganiserKeyRequest{
			Parent: "organisers/me", OrganiserKey: &rallyv1.OrganiserKey{Algorithm: rallyv1.KeyAlgorithm(alg), PublicKey: pub},
		})
		if err != nil {
			return err
		}
		f.Keys[i].Name = got.GetName()
		// After each key, so that a failure leaves the file saying what is registered.
		if err := writeKeyFile(path, f, false); err != nil {
			return err
		}
		fmt.Fprintf(c.stderr, "Registered %s (%s), fingerprint %s.\n", got.GetName(), k.Algorithm, got.GetFingerprint())
	}
	return nil
}

func (c *cli) createKeysCommand() *ffcli.Command {
	var out string
	var noRegister bool
	return c.leaf(leaf{
		name: "create", usage: "keys create --out FILE [--no-register]",
		short: "create a key file and register its public keys for the logged-in organiser",
		long: `Creates an X25519 key pair that participants' personal fields are sealed to, and an
Ed25519 signing key, writes them to FILE (mode 0600; never replaced), and registers their
public halves with rallyd. The private keys stay in FILE: keep it safe and backed up
offline, since what is sealed to a lost key cannot be opened.`,
		offline: true, // it connects only to register
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "the key `file` to write")
			fs.BoolVar(&noRegister, "no-register", false, "only write the file; register it later with rally keys register")
		},
		run: func(ctx context.Context, _ []string) error {
			if out == "" {
				return usagef("--out is required")
			}
			f, err := newKeyFile()
			if err != nil {
				return err
			}
			if err := writeKeyFile(out, f, true); err != nil {
				return err
			}
			fmt.Fprintf(c.stderr, "Wrote %s.\n", out)
			if noRegister {
				return nil
			}
			if err := c.connect(); err != nil {
				return err
			}
			return c.register(ctx, out, f)
		},
	})
}

func (c *cli) registerKeysCommand() *ffcli.Command {
	return c.leaf(leaf{
		name: "register", usage: "keys register FILE", minArgs: 1, maxArgs: 1,
		short: "register the public keys of a key file that are not registered yet",
		run: func(ctx context.Context, args []string) error {
			f, err := readKeyFile(args[0])
			if err != nil {
				return err
			}
			return c.register(ctx, args[0], f)
		},
	})
}

func (c *cli) listKeysCommand() *ffcli.Command {
	var organiser string
	return c.leaf(leaf{
		name: "list", usage: "keys list [--organiser ORGANISER]",
		short: "list an organiser's keys, oldest first",
		flags: func(fs *flag.FlagSet) { organiserFlag(fs, &organiser) },
		run: func(ctx context.Context, _ []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			resp := &rallyv1.ListOrganiserKeysResponse{}
			req := &rallyv1.ListOrganiserKeysRequest{Parent: parent, PageSize: 1000}
			for {
				page, err := c.organisersClient().ListOrganiserKeys(ctx, req)
				if err != nil {
					return err
				}
				resp.OrganiserKeys = append(resp.OrganiserKeys, page.GetOrganiserKeys()...)
				if req.PageToken = page.GetNextPageToken(); req.PageToken == "" {
					break
				}
			}
			var rows [][]string
			for _, k := range resp.GetOrganiserKeys() {
				state := "current"
				if k.GetRevokeTime() != nil {
					state = "revoked " + formatTime(k.GetRevokeTime(), nil)
				}
				rows = append(rows, []string{k.GetName(), strings.TrimPrefix(k.GetAlgorithm().String(), "KEY_ALGORITHM_"), k.GetFingerprint(), formatTime(k.GetCreateTime(), nil), state})
			}
			return c.printTable(resp, []string{"NAME", "ALGORITHM", "FINGERPRINT", "CREATED", "STATE"}, rows)
		},
	})
}

func (c *cli) revokeKeyCommand() *ffcli.Command {
	var organiser string
	return c.leaf(leaf{
		name: "revoke", usage: "keys revoke [--organiser ORGANISER] KEY", minArgs: 1, maxArgs: 1,
		short: "revoke a key: nothing new is sealed to it (by ID or name, as keys list shows)",
		flags: func(fs *flag.FlagSet) { organiserFlag(fs, &organiser) },
		run: func(ctx context.Context, args []string) error {
			parent, err := resourceName("organisers", organiser)
			if err != nil {
				return err
			}
			name := args[0]
			if !strings.Contains(name, "/keys/") {
				if name == "" || strings.Contains(name, "/") {
					return usagef("%q is not a key: give its ID or organisers/ID/keys/ID (see rally keys list)", name)
				}
				name = parent + "/keys/" + name
			}
			k, err := c.organisersClient().RevokeOrganiserKey(ctx, &rallyv1.RevokeOrganiserKeyRequest{Name: name})
			if err != nil {
				return err
			}
			return c.printFields(k, []field{
				{"Name", k.GetName()},
				{"Fingerprint", k.GetFingerprint()},
				{"Revoked", formatTime(k.GetRevokeTime(), nil)},
			})
		},
	})
}
