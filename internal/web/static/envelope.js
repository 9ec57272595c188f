// Envelopes (format v1, proto/rally/v1/envelope.proto): a participant's personal fields
// sealed on their own device to the campaign's organisers' keys, and opened on the
// organiser's device. WebCrypto only: no third-party code, nothing fetched.
//
// HPKE (RFC 9180) single-shot base mode, with DHKEM(X25519, HKDF-SHA256) (KEM 0x0020),
// HKDF-SHA256 (KDF 0x0001) and AES-128-GCM (AEAD 0x0001), seals the envelope's random
// AES-256-GCM content key to each recipient key. Only HPKE_X25519 keys are sealed to:
// ML-KEM (the hybrid post-quantum keys of native clients) is not in WebCrypto.

const utf8 = new TextEncoder();
const LABEL = "rally-envelope-v1\x00";

export const X25519 = "KEY_ALGORITHM_HPKE_X25519";
export const ED25519 = "KEY_ALGORITHM_ED25519";

// --- Bytes -------------------------------------------------------------------------

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

const str = (s) => utf8.encode(s);

function equal(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export { equal as bytesEqual };

// fromBase64 reads standard or URL-safe base64, with or without padding (protojson
// writes standard with padding; key files URL-safe without). It throws on anything else.
export function fromBase64(s) {
  if (typeof s !== "string" || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(s)) throw new Error("not base64");
  const t = s.replace(/=+$/, "").replace(/-/g, "+").replace(/_/g, "/");
  if (t.length % 4 === 1) throw new Error("not base64");
  const bin = atob(t + "===".slice((t.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// toBase64 writes standard base64 with padding, as protojson does.
export function toBase64(bytes) {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

// toBase64URL writes base64url without padding: JWK and the key file's encoding.
export const toBase64URL = (bytes) => toBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

// base32 is RFC 4648 base32 without padding.
function base32(bytes) {
  let out = "", bits = 0, acc = 0;
  for (const b of bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(acc << (5 - bits)) & 31];
  return out;
}

// randomId is a record ID chosen by the client, so that it can seal an envelope for the
// record's name before the record exists: 128 random bits in lowercase base32 (26
// characters of [a-z2-7]).
export function randomId() {
  return base32(crypto.getRandomValues(new Uint8Array(16))).toLowerCase();
}

// fingerprint computes a key's fingerprint (internal/envelope.Fingerprint): the first 80
// bits of SHA-256(algorithm's enum name || 0x00 || public key), in base32, as four groups
// of four characters joined by dashes.
export async function fingerprint(algorithm, publicKey) {
  const sum = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(str(algorithm), [0], publicKey)));
  return base32(sum.slice(0, 10)).match(/.{4}/g).join("-");
}

// --- SealedFields, the protobuf message inside an envelope ------------------------

const FIELDS = ["displayName", "contact", "note", "proofUrl"]; // field numbers 1 to 4

function varint(n) {
  const out = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

// encodeFields writes the non-empty fields in field-number order, as the format asks.
export function encodeFields(fields) {
  const parts = [];
  FIELDS.forEach((k, i) => {
    const v = fields[k];
    if (!v) return;
    const b = str(String(v));
    parts.push(new Uint8Array([((i + 1) << 3) | 2, ...varint(b.length)]), b);
  });
  return concat(...parts);
}

// decodeFields reads any valid protobuf encoding of SealedFields: fields in any order,
// repeated (the last one wins), unknown fields skipped. It throws on malformed input.
export function decodeFields(bytes) {
  const out = { displayName: "", contact: "", note: "", proofUrl: "" };
  const text = new TextDecoder("utf-8", { fatal: true });
  let i = 0;
  const readVarint = () => {
    let n = 0n, shift = 0n;
    for (;;) {
      if (i >= bytes.length || shift > 63n) throw new Error("truncated varint");
      const b = bytes[i++];
      n |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return n;
      shift += 7n;
    }
  };
  const skip = (n) => {
    if (n > bytes.length - i) throw new Error("truncated field");
    i += n;
  };
  while (i < bytes.length) {
    const tag = readVarint();
    const num = tag >> 3n, wire = Number(tag & 7n);
    if (num === 0n) throw new Error("field number 0");
    if (wire === 0) readVarint();
    else if (wire === 1) skip(8);
    else if (wire === 5) skip(4);
    else if (wire === 2) {
      const len = readVarint();
      if (len > BigInt(bytes.length - i)) throw new Error("truncated field");
      const start = i;
      skip(Number(len));
      if (num >= 1n && num <= 4n) out[FIELDS[Number(num) - 1]] = text.decode(bytes.subarray(start, i));
    } else throw new Error(`wire type ${wire}`);
  }
  return out;
}

// --- HPKE, RFC 9180 ----------------------------------------------------------------
//
// WebCrypto's HKDF does Extract and Expand in one call, with no way to give the pseudo-
// random key of one to the other, and HPKE's LabeledExtract and LabeledExpand need them
// apart (the secret extracted from the shared secret is expanded twice, with different
// labels). So both are written here with HMAC-SHA-256, as RFC 5869 defines them.

const KEM_SUITE = concat(str("KEM"), [0x00, 0x20]);
const HPKE_SUITE = concat(str("HPKE"), [0x00, 0x20, 0x00, 0x01, 0x00, 0x01]);
const HPKE_V1 = str("HPKE-v1");
const EMPTY = new Uint8Array(0);

async function hmac(key, data) {
  // HMAC pads its key with zeros to the block size, so the empty salt of Extract is the
  // same key as 32 zero bytes, which WebCrypto accepts (it refuses an empty HMAC key).
  const k = await crypto.subtle.importKey("raw", key.length ? key : new Uint8Array(32),
    { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

const labeledExtract = (suite, salt, label, ikm) => hmac(salt, concat(HPKE_V1, suite, str(label), ikm));

async function labeledExpand(suite, prk, label, info, length) {
  const labeled = concat([length >> 8, length & 0xff], HPKE_V1, suite, str(label), info);
  let t = EMPTY, out = EMPTY;
  for (let i = 1; out.length < length; i++) {
    t = await hmac(prk, concat(t, labeled, [i]));
    out = concat(out, t);
  }
  return out.slice(0, length);
}

async function x25519(privateKey, publicRaw) {
  const pub = await crypto.subtle.importKey("raw", publicRaw, { name: "X25519" }, false, []);
  const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: pub }, privateKey, 256));
  // A low-order public key gives all zeros (browsers refuse it already; RFC 9180, 7.1.4).
  if (dh.every((b) => b === 0)) throw new Error("low-order X25519 public key");
  return dh;
}

async function sharedSecret(dh, enc, recipientPublic) {
  const prk = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
  return labeledExpand(KEM_SUITE, prk, "shared_secret", concat(enc, recipientPublic), 32);
}

// keySchedule is base mode's (mode 0, no PSK): the AES-128-GCM key and base nonce.
async function keySchedule(shared, info) {
  const pskIdHash = await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY);
  const infoHash = await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info);
  const context = concat([0], pskIdHash, infoHash);
  const secret = await labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
  const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 16);
  const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
  return { key: await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt", "decrypt"]), nonce };
}

// hpkeSeal seals pt to the X25519 public key (raw bytes): enc and the ciphertext. The
// first message's nonce is the base nonce (sequence number 0).
async function hpkeSeal(recipientPublic, info, pt) {
  const eph = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const enc = new Uint8Array(await crypto.subtle.exportKey("raw", eph.publicKey));
  const dh = await x25519(eph.privateKey, recipientPublic);
  const { key, nonce } = await keySchedule(await sharedSecret(dh, enc, recipientPublic), info);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, key, pt));
  return { enc, ct };
}

// hpkeOpen opens ct with the recipient's private key (a CryptoKey) and its public key
// (raw bytes: a non-extractable private key cannot give it back).
async function hpkeOpen(privateKey, recipientPublic, enc, ct, info) {
  const dh = await x25519(privateKey, enc);
  const { key, nonce } = await keySchedule(await sharedSecret(dh, enc, recipientPublic), info);
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce }, key, ct));
}

const hpkeInfo = (resource, key) => str(LABEL + resource + "\x00" + key);
const additionalData = (resource) => str(LABEL + resource);

// --- Envelopes ---------------------------------------------------------------------

// sealTo reads a campaign's recipient keys ({key, algorithm, publicKey, fingerprint}, as
// GetCampaign returns them) and keeps the HPKE_X25519 ones, each with the fingerprint
// computed here from its public key: that, not what the server says, is what the
// participant compares with the fingerprints the organisers publish. It throws when the
// server's fingerprint of a key is not its own, or a key is malformed: nothing should be
// sealed to such keys.
export async function sealTo(recipientKeys = []) {
  const out = [];
  for (const k of recipientKeys) {
    if (k.algorithm !== X25519) continue; // ML-KEM hybrids: not in WebCrypto
    let publicKey;
    try {
      publicKey = fromBase64(k.publicKey || "");
    } catch {
      publicKey = EMPTY;
    }
    if (publicKey.length !== 32 || !k.key) throw new KeyMismatchError(`key ${k.key || "(no ID)"} is malformed`);
    const fp = await fingerprint(X25519, publicKey);
    if (k.fingerprint && k.fingerprint !== fp) {
      throw new KeyMismatchError(`key ${k.key}: the server says its fingerprint is ${k.fingerprint}, its public key gives ${fp}`);
    }
    out.push({ key: k.key, publicKey, fingerprint: fp });
  }
  return out;
}

export class KeyMismatchError extends Error {}

// seal seals fields ({displayName, contact, note, proofUrl}) for the record named
// resource to recipients (from sealTo), and returns the Envelope as protojson.
export async function seal(fields, recipients, resource) {
  if (!recipients.length) throw new Error("no recipient keys to seal to");
  const contentKey = crypto.getRandomValues(new Uint8Array(32));
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const aes = await crypto.subtle.importKey("raw", contentKey, "AES-GCM", false, ["encrypt"]);
  const ciphertext = new Uint8Array(await crypto.subtle.encrypt(
    { name: "AES-GCM", iv: nonce, additionalData: additionalData(resource) }, aes, encodeFields(fields)));
  const sealed = [];
  for (const r of recipients) {
    const { enc, ct } = await hpkeSeal(r.publicKey, hpkeInfo(resource, r.key), contentKey);
    sealed.push({ key: r.key, enc: toBase64(enc), sealedKey: toBase64(ct) });
  }
  contentKey.fill(0);
  return { version: 1, resource, recipients: sealed, nonce: toBase64(nonce), ciphertext: toBase64(ciphertext) };
}

// OpenError says why an envelope did not open; kind is one of: version, other-record,
// not-recipient, wrong-key, tampered. Its message is for the organiser who sees it.
export class OpenError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind;
  }
}

const MESSAGES = {
  "other-record": "Sealed for another record: this envelope was copied or moved here from elsewhere, and is not shown.",
  "not-recipient": "Not sealed to your key: it was sealed to other organisers' keys, or before your key was registered.",
  "wrong-key": "Does not open with your key: the key file is not the one this was sealed to, or the envelope was tampered with.",
  "tampered": "Tampered with: the sealed fields fail their integrity check, and are not shown.",
};

// open opens an envelope (protojson) read from the record named resource with one of
// keys ([{id, publicKey, privateKey}]: the key ID, the raw public key, and the private
// key as a CryptoKey), and returns its fields. It throws an OpenError. The resource is
// the one the record was read from, never the one the envelope claims.
export async function open(env, resource, keys) {
  if (!env || (env.version || 0) !== 1) {
    throw new OpenError("version", `Sealed in a format this page cannot read (version ${env?.version || 0}): reload it, or use the rally CLI.`);
  }
  if (env.resource !== resource) throw new OpenError("other-record", MESSAGES["other-record"]);
  let key = null, sk = null;
  for (const r of env.recipients || []) {
    key = keys.find((k) => k.id === r.key);
    if (key) {
      sk = r;
      break;
    }
  }
  if (!key) throw new OpenError("not-recipient", MESSAGES["not-recipient"]);
  let contentKey;
  try {
    contentKey = await hpkeOpen(key.privateKey, key.publicKey, fromBase64(sk.enc || ""), fromBase64(sk.sealedKey || ""), hpkeInfo(resource, key.id));
  } catch {
    throw new OpenError("wrong-key", MESSAGES["wrong-key"]);
  }
  if (contentKey.length !== 32) throw new OpenError("wrong-key", MESSAGES["wrong-key"]);
  try {
    const nonce = fromBase64(env.nonce || "");
    if (nonce.length !== 12) throw new Error("nonce size");
    const aes = await crypto.subtle.importKey("raw", contentKey, "AES-GCM", false, ["decrypt"]);
    const pt = new Uint8Array(await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: nonce, additionalData: additionalData(resource) }, aes, fromBase64(env.ciphertext || "")));
    return decodeFields(pt);
  } catch {
    throw new OpenError("tampered", MESSAGES.tampered);
  } finally {
    contentKey.fill(0);
  }
}

// importPrivateKey makes a non-extractable X25519 private key from its raw 32 bytes and
// public key, for deriveBits only, after checking that they belong together (a JWK's x is
// not checked against d by every browser): an exchange with a fresh key pair must agree
// both ways.
export async function importPrivateKey(d, x) {
  const privateKey = await crypto.subtle.importKey("jwk",
    { kty: "OKP", crv: "X25519", d: toBase64URL(d), x: toBase64URL(x) }, { name: "X25519" }, false, ["deriveBits"]);
  const probe = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const probePublic = new Uint8Array(await crypto.subtle.exportKey("raw", probe.publicKey));
  const a = await x25519(privateKey, probePublic);
  const b = await x25519(probe.privateKey, x);
  if (!equal(a, b)) throw new Error("the private key does not belong to its public key");
  return privateKey;
}
