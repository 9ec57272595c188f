// What the participant's pages (an event's RSVP form, a campaign's tasks) say about how
// personal fields are kept, and the sealing step they share.
import { h, fill } from "./ui.js";
import { t } from "./i18n.js";
import { sealTo, seal, randomId, KeyMismatchError } from "./envelope.js";

// sealingOf finds what personal fields are sealed to, from the recipient keys that
// GetEvent or GetCampaign returns. state is "keys" (recipients holds the X25519 keys, each
// with the fingerprint computed here), "none" (no key that a browser can seal to: fields
// given in plain are stored in clear), "mismatch" (the server's keys do not match their
// fingerprints: nothing is sealed to them) or "unknown" (the keys could not be read; ask
// again before sending).
export async function sealingOf(recipientKeys) {
  try {
    const recipients = await sealTo(recipientKeys || []);
    return { state: recipients.length ? "keys" : "none", recipients };
  } catch (err) {
    if (err instanceof KeyMismatchError) return { state: "mismatch", recipients: [], error: err.message };
    return { state: "unknown", recipients: [] };
  }
}

// sealingFor is sealingOf the recipient keys of what load() reads (an event, a campaign).
export async function sealingFor(load) {
  let x;
  try {
    x = await load();
  } catch {
    return { state: "unknown", recipients: [] };
  }
  return sealingOf(x.recipientKeys);
}

// sealingNote says, for the state of sealingOf, what happens to the fields (what names
// them: a key of the catalog's what.*, such as "nameContact" for "name and contact"). Empty when there are no keys: clearNotice says it,
// when something is typed.
export function sealingNote(el, s, what) {
  what = t(`what.${what}`);
  if (s.state === "keys") {
    const fps = s.recipients.map((r) => h("code", { class: "fingerprint" }, r.fingerprint));
    return fill(el, h("p", {},
      `${t("seal.sealedTo", { what, count: fps.length })} `,
      fps.flatMap((f, i) => (i ? [", ", f] : [f])),
      t("seal.compare")));
  }
  if (s.state === "mismatch") {
    return fill(el, h("p", { class: "error", role: "alert" },
      t("seal.mismatch", { what })));
  }
  return fill(el);
}

// envelopeRefused reports whether the server refused an envelope: sealed to keys that are
// no longer the campaign's (a key revoked or added since the page was loaded).
export const envelopeRefused = (err) =>
  err?.code === 3 && (err.violations || []).some((v) => /(^|\.)envelope\b/.test(v.field || ""));

// keysChangedText asks the participant to compare the new fingerprints before sending.
export const keysChangedText = t("seal.keysChanged");

// clearText is the notice shown next to a form whose fields would be stored in clear.
export function clearText(what) {
  return t("seal.clear", { what: t(`what.${what}`) });
}

// FieldError is a value the client refuses before sealing it (the server cannot check
// what it cannot read): field names it as the API does.
export class FieldError extends Error {
  constructor(field, description) {
    super(description);
    this.field = field;
    this.violations = [{ field, description }];
  }
}

// checkLength refuses a value longer than the API's limit, in characters.
export function checkLength(field, value, max) {
  if ([...value].length > max) throw new FieldError(field, t("seal.tooLong", { max }));
}

// sealed seals fields for a new record named `${parent}/${collection}/${id}`, with a
// fresh random id: {id, envelope}.
export async function sealNew(s, fields, parent, collection) {
  const id = randomId();
  return { id, envelope: await seal(fields, s.recipients, `${parent}/${collection}/${id}`) };
}
