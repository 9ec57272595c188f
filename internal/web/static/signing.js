// Signed announcements (proto/rally/v1/event.proto, AnnouncementSignature): an organiser's
// Ed25519 signature over an announcement's canonical encoding, made on the organiser's
// device and checked again on every participant's, so that a participant can tell an
// announcement really comes from the organisers even when the server, or an organiser's
// API token, is in someone else's hands. WebCrypto only: no third-party code, nothing
// fetched. The Go side is internal/announcesig; the browser test runs both over the same
// vectors (internal/announcesig/testdata/vectors.json).
import { ED25519, fingerprint, fromBase64, toBase64 } from "./envelope.js";

const utf8 = new TextEncoder();
const CONTEXT = "rally.v1.Announcement";
const PUBLIC = "ANNOUNCEMENT_AUDIENCE_PUBLIC";
// The enum's numbers, for a JSON encoder that writes enums as numbers (the gateway writes
// names; this keeps a number from being signed as a different string than Go signs).
const AUDIENCES = ["ANNOUNCEMENT_AUDIENCE_UNSPECIFIED", PUBLIC, "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS"];

// audienceName is the audience as the encoding writes it: the enum value's name, with
// UNSPECIFIED (or missing: protojson may leave the zero value out) written as PUBLIC,
// which is what the server treats it as. A value that is not one of the enum's is
// refused, as internal/announcesig refuses it: nothing signs it.
export function audienceName(audience) {
  let a = audience;
  if (typeof a === "number") a = AUDIENCES[a];
  if (!a || a === AUDIENCES[0]) return PUBLIC;
  if (!AUDIENCES.includes(a)) throw new Error("the audience is not a defined AnnouncementAudience");
  return a;
}

// SignTimeError is a sign time that cannot be written with exactly three fractional
// digits without changing it: not RFC 3339, or finer than a millisecond.
export class SignTimeError extends Error {}

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))$/;

// canonicalSignTime writes a sign time (an RFC 3339 string, as protojson gives it: with
// no, three, six or nine fractional digits; or a Date) as the encoding asks: UTC with
// exactly three fractional digits, `2026-03-08T14:00:00.000Z`. A time finer than a
// millisecond is refused rather than rounded: it is not what was signed (the server
// refuses such signatures, so none should reach a client).
export function canonicalSignTime(t) {
  if (t instanceof Date) {
    if (Number.isNaN(t.getTime())) throw new SignTimeError("sign time is not a valid time");
    return t.toISOString();
  }
  const m = RFC3339.exec(String(t ?? ""));
  if (!m) throw new SignTimeError("sign time is not an RFC 3339 time");
  const [, y, mo, d, hh, mi, ss, frac = "", , sign, oh, om] = m;
  if (/[1-9]/.test(frac.slice(3))) throw new SignTimeError("sign time is finer than a millisecond");
  const ms = Number((frac + "000").slice(0, 3));
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +hh > 23 || +mi > 59 || +ss > 59 || +oh > 23 || +om > 59) {
    throw new SignTimeError("sign time is not a valid time");
  }
  const date = new Date(0);
  // setUTCFullYear, not Date.UTC: Date.UTC maps years 0 to 99 to 1900 to 1999.
  date.setUTCFullYear(+y, +mo - 1, +d);
  date.setUTCHours(+hh, +mi, +ss, ms);
  if (date.getUTCDate() !== +d) throw new SignTimeError("sign time is not a valid time"); // 31 April
  if (sign) date.setTime(date.getTime() - (sign === "-" ? -1 : 1) * (+oh * 60 + +om) * 60000);
  const iso = date.toISOString();
  // Years outside 0000 to 9999 come out as ±YYYYYY, which no Timestamp can hold.
  if (!/^\d{4}-/.test(iso)) throw new SignTimeError("sign time is out of range");
  return iso;
}

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

// lengthPrefixed is b preceded by its length as a 4-byte big-endian integer.
function lengthPrefixed(b) {
  const out = new Uint8Array(4 + b.length);
  new DataView(out.buffer).setUint32(0, b.length, false);
  out.set(b, 4);
  return out;
}

// announcementMessage is the canonical encoding that is signed: the context string, the
// event's resource name, the text, the audience's name and the sign time, each preceded
// by its length in bytes.
export function announcementMessage(eventName, { text, audience, signTime }) {
  return concat([CONTEXT, String(eventName ?? ""), String(text ?? ""), audienceName(audience), canonicalSignTime(signTime)]
    .map((s) => lengthPrefixed(utf8.encode(s))));
}

// REASONS says, for a participant, why an announcement is not shown as signed (the reason
// of verifyAnnouncement).
export const REASONS = {
  unsigned: "Not signed by the organisers.",
  malformed: "Its signature is damaged: it may not come from the organisers.",
  invalid: "Its signature does not match: it was changed after it was signed, or does not come from the organisers.",
  unsupported: "This browser cannot check signatures (it has no Ed25519): compare with another device, or the rally CLI.",
};

// verifyAnnouncement checks an announcement (as the REST API returns it: {text, audience,
// createTime, signature: {key, signTime, signature, publicKey, fingerprint}}) of the event
// named eventName (from the page's own address, never from the announcement) on this
// device. It returns {ok: true, fingerprint, key, signTime} with the fingerprint computed
// here from the public key (the server's copy is not trusted: a participant compares this
// one with the fingerprint the organisers publish), or {ok: false, reason} with reason a
// key of REASONS.
export async function verifyAnnouncement(eventName, announcement) {
  const sig = announcement?.signature;
  if (!sig) return { ok: false, reason: "unsigned" };
  let publicKey, signature, message;
  try {
    publicKey = fromBase64(sig.publicKey || "");
    signature = fromBase64(sig.signature || "");
    message = announcementMessage(eventName, { text: announcement.text, audience: announcement.audience, signTime: sig.signTime });
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (publicKey.length !== 32 || signature.length !== 64) return { ok: false, reason: "malformed" };
  let key;
  try {
    key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (err) {
    // NotSupportedError: no Ed25519 in this browser's WebCrypto (Chromium before 137,
    // older Safari). Any other error is a public key WebCrypto refuses.
    return { ok: false, reason: err?.name === "NotSupportedError" ? "unsupported" : "malformed" };
  }
  let ok;
  try {
    ok = await crypto.subtle.verify({ name: "Ed25519" }, key, signature, message);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (!ok) return { ok: false, reason: "invalid" };
  return { ok: true, fingerprint: await fingerprint(ED25519, publicKey), key: sig.key || "", signTime: canonicalSignTime(sig.signTime) };
}

// signAnnouncement signs an announcement ({text, audience}, as it will be posted) of the
// event named eventName with key, a signing key kept in this browser (keystore.js:
// {id, privateKey}, privateKey a non-extractable Ed25519 CryptoKey), now. It returns the
// signature for PostAnnouncement's body: {key, signTime, signature}, signature in
// standard base64. The text and audience must be posted exactly as given here.
export async function signAnnouncement(key, eventName, { text, audience }) {
  if (!key?.privateKey || !key.id) throw new Error("no signing key");
  const signTime = new Date().toISOString();
  const message = announcementMessage(eventName, { text, audience, signTime });
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, message));
  return { key: key.id, signTime, signature: toBase64(signature) };
}
