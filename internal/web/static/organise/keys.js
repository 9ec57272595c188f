// The organiser's keys in the console: the X25519 key that opens participants' sealed
// fields (envelopes) and the Ed25519 key that signs announcements, both kept in this
// browser (keystore.js), never exportable and never sent anywhere; and reveal, which
// opens a record's envelope with them.
import { api } from "../api.js";
import { h, fill, id, errorText, field, announce } from "../ui.js";
import { t, tx } from "../i18n.js";
import { open as openEnvelope, OpenError, X25519, ED25519, fingerprint, fromBase64, toBase64 } from "../envelope.js";
import {
  loadKeys, forgetKeys, importKeyFile, newKeyFile, keyFileText, KeyFileError,
  loadSigningKey, forgetSigningKey, generateSigningKey, keepSigningKey, saveSigningKey, matchRegistered,
} from "../keystore.js";

// keyring holds the keys loaded in this browser (keys opens envelopes, signing signs
// announcements) and the organiser's registered keys (null for the operator); what shows
// opened fields or signing registers in views, to show them again when a key is imported
// or forgotten.
export const keyring = { keys: [], signing: null, registered: null, views: new Set() };

// loadKeyring reads the registered keys (for an organiser) and the keys of this browser.
export async function loadKeyring(token, me) {
  const registered = me ? await listKeys(token).catch(() => null) : null;
  for (const k of registered || []) await localFingerprint(k);
  keyring.registered = registered;
  keyring.keys = await loadKeys();
  keyring.signing = await loadSigningKey();
}

async function listKeys(token) {
  const out = [];
  let pageToken = "";
  do {
    const page = await api("/v1/organisers/me/keys", { token, query: { pageSize: 100, pageToken } });
    out.push(...(page.organiserKeys || []));
    pageToken = page.nextPageToken || "";
  } while (pageToken);
  return out;
}

// reloadKeys reads the keys kept in this browser again, and shows what depends on them.
async function reloadKeys() {
  keyring.signing = await loadSigningKey();
  keysChanged(await loadKeys());
}

function keysChanged(keys) {
  keyring.keys = keys;
  for (const v of keyring.views) {
    if (v.el.isConnected) v.show();
    else keyring.views.delete(v);
  }
}

// redraw shows every view again, for a change they depend on besides the keys (a
// campaign's requirement of signatures).
export function redraw() {
  keysChanged(keyring.keys);
}

// view shows what show() renders into el now, and again whenever the keys change.
export function view(el, show) {
  keyring.views.add({ el, show });
  show();
  return el;
}

const fpCode = (k) => h("code", { class: "fingerprint" }, k.fingerprint);
const fpList = (keys) => keys.flatMap((k, i) => [i ? ", " : "", fpCode(k)]);

// keysSection shows the keys: which one this browser holds (by fingerprint), a way to
// import a key file or forget the key, and, for an organiser without a key, creating one
// as the next step, since until then what participants give is stored in clear.
export function keysSection(token) {
  const el = h("section", { id: "keys", class: "panel", "aria-labelledby": "keys-h" });
  const error = h("p", { id: "key-error", class: "error", role: "alert" });
  const busy = { creating: false, download: null };
  const current = () => (keyring.registered || []).filter((k) => !k.revokeTime && k.algorithm === X25519);

  const fileIn = h("input", { id: "key-file", type: "file", accept: ".json,application/json" });
  fileIn.addEventListener("change", async () => {
    error.textContent = "";
    const file = fileIn.files[0];
    if (!file) return;
    try {
      const kept = await importKeyFile(await file.text(), keyring.registered || []);
      await reloadKeys();
      announce(t("console.keys.loadedAnnounce", {
        keys: kept.map((k) => t(k.algorithm === ED25519 ? "console.keys.signingKeyFp" : "console.keys.keyFp", { fp: k.fingerprint })).join(", "),
      }));
    } catch (err) {
      error.textContent = err instanceof KeyFileError ? err.message : t("console.keys.unreadable", { why: err.message });
    }
    fileIn.value = "";
  });

  async function create(btn) {
    error.textContent = "";
    btn.disabled = true;
    busy.creating = true;
    let keys;
    try {
      keys = await newKeyFile();
    } catch {
      // No X25519 in this browser's WebCrypto (Chromium before 133, Firefox before 130).
      busy.creating = false;
      btn.disabled = false;
      error.textContent = t("console.keys.cannotMake");
      return;
    }
    // The public halves are registered first, so that the file holds their names (what
    // the rally CLI opens envelopes by); a key that fails to register stays in the file
    // without a name, for `rally keys register FILE`.
    for (const k of keys) {
      try {
        const got = await api("/v1/organisers/me/keys", { method: "POST", token, body: { algorithm: k.algorithm, publicKey: toBase64(fromBase64(k.publicKey)) } });
        k.name = got.name;
        (keyring.registered = keyring.registered || []).push(await localFingerprint(got));
      } catch (err) {
        error.textContent = t("console.keys.notRegistered", { why: errorText(err) });
        break;
      }
    }
    const text = keyFileText(keys);
    for (const k of keys) k.privateKey = "";
    if (keys[0].name) {
      try {
        await importKeyFile(text, keyring.registered);
        await reloadKeys();
      } catch (err) {
        error.textContent = t("console.keys.notKept", { why: err.message });
      }
    }
    busy.creating = false;
    busy.download = URL.createObjectURL(new Blob([text], { type: "application/json" }));
    addEventListener("beforeunload", unsaved);
    show();
  }

  // Leaving before the key file is saved would leave this browser's copy as the only
  // one: the browser asks first.
  function unsaved(e) {
    e.preventDefault();
    e.returnValue = "";
  }

  function saved() {
    URL.revokeObjectURL(busy.download); // the only place the private key was readable
    busy.download = null;
    removeEventListener("beforeunload", unsaved);
    announce(t("console.keys.savedAnnounce"));
    show();
  }

  function show() {
    const loaded = keyring.keys;
    const mine = current();
    const parts = [h("h2", { id: "keys-h" }, t("console.keys.title"))];
    if (busy.download) {
      parts.push(h("div", { id: "key-created", class: "note" },
        h("p", {}, h("strong", {}, t("console.keys.downloadNow")), " ", t("console.keys.downloadWhy")),
        h("p", { class: "actions" },
          h("a", { id: "key-download", href: busy.download, download: "rally-keys.json" }, t("console.keys.download")),
          h("button", { type: "button", id: "key-saved", onclick: saved }, t("console.keys.saved")))));
    } else if (keyring.registered && !mine.length) {
      const btn = h("button", { type: "button", id: "key-create", disabled: busy.creating, onclick: (e) => create(e.currentTarget) }, t("console.keys.create"));
      parts.push(h("div", { id: "key-setup", class: "note" },
        h("p", {}, h("strong", {}, t("console.keys.firstCreate")), " ", t("console.keys.firstWhy")),
        h("p", {}, t("console.keys.madeHere")),
        btn));
    }
    if (mine.length) {
      parts.push(h("p", { id: "key-registered" }, tx("console.keys.registered", { count: mine.length, fps: h("span", {}, fpList(mine)) })));
    }
    if (loaded.length) {
      parts.push(h("p", { id: "key-loaded" }, tx("console.keys.loaded", { fps: h("span", {}, fpList(loaded)) })),
        h("button", { type: "button", id: "key-forget", class: "secondary", onclick: async () => {
          await forgetKeys();
          await reloadKeys();
          announce(t("console.keys.forgotten"));
        } }, t("console.keys.forget")));
    } else if (!busy.download) {
      parts.push(h("p", { id: "key-none" }, t("console.keys.none")));
    }
    parts.push(field(loaded.length ? t("console.keys.importAnother") : t("console.keys.importLabel"), fileIn, t("console.keys.importHint")), error);
    fill(el, parts);
  }
  return view(el, show);
}

// signingState says what the signing key kept in this browser can do, from the
// organiser's registered keys: {state, key, registered}, state one of "none" (no key
// here), "ok" (registered and not revoked: announcements are signed with it, under the
// registered key's ID), "unregistered" (not among the organiser's keys: the server would
// refuse its signatures) or "revoked".
export function signingState() {
  const key = keyring.signing;
  if (!key) return { state: "none" };
  const reg = matchRegistered(key, keyring.registered || []);
  if (!reg) return { state: "unregistered", key };
  if (reg.revokeTime) return { state: "revoked", key, registered: reg };
  return { state: "ok", key: { ...key, id: id(reg.name), name: reg.name }, registered: reg };
}

// signingSection shows the key announcements are signed with: its fingerprint, which
// the organiser publishes; or how to get one (import the key file, whose Ed25519 key the
// import above keeps, or make one here and register it); or, for a key that the server
// does not know, registering it.
export function signingSection(token) {
  const el = h("section", { id: "signing", class: "panel", "aria-labelledby": "signing-h" });
  const error = h("p", { id: "signing-error", class: "error", role: "alert" });
  let busy = false;

  async function register(btn, key) {
    error.textContent = "";
    btn.disabled = busy = true;
    try {
      const got = await api("/v1/organisers/me/keys", { method: "POST", token, body: { algorithm: ED25519, publicKey: toBase64(key.publicKey) } });
      (keyring.registered = keyring.registered || []).push(await localFingerprint(got));
      await saveSigningKey({ ...key, id: id(got.name), name: got.name });
      announce(t("console.signing.registeredAnnounce", { fp: key.fingerprint }));
    } catch (err) {
      error.textContent = t("console.signing.notRegistered", { why: errorText(err) });
    }
    busy = false;
    await reloadKeys();
  }

  async function generate(btn) {
    error.textContent = "";
    btn.disabled = busy = true;
    let pair;
    try {
      pair = await generateSigningKey();
    } catch {
      busy = false;
      btn.disabled = false;
      error.textContent = t("console.signing.cannotMake");
      return;
    }
    // Registered before it is kept: a key the server does not know signs nothing it
    // accepts, and a non-extractable key cannot be registered later from elsewhere.
    try {
      const got = await api("/v1/organisers/me/keys", { method: "POST", token, body: { algorithm: ED25519, publicKey: toBase64(pair.publicKey) } });
      (keyring.registered = keyring.registered || []).push(await localFingerprint(got));
      const kept = await keepSigningKey(got.name, pair);
      announce(t("console.signing.madeAnnounce", { fp: kept.fingerprint }));
    } catch (err) {
      error.textContent = t("console.signing.notRegistered", { why: errorText(err) });
    }
    busy = false;
    await reloadKeys();
  }

  async function forget() {
    await forgetSigningKey();
    await reloadKeys();
    announce(t("console.signing.forgotten"));
  }

  function show() {
    const s = signingState();
    const forgetBtn = h("button", { type: "button", id: "signing-forget", class: "secondary", onclick: forget }, t("console.signing.forget"));
    const parts = [h("h2", { id: "signing-h" }, t("console.signing.title"))];
    if (s.state === "ok") {
      parts.push(h("p", { id: "signing-key" }, tx("console.signing.ok", { fp: fpCode(s.key) })), forgetBtn);
    } else if (s.state === "unregistered") {
      parts.push(h("div", { id: "signing-unregistered", class: "note warning" },
        h("p", {}, tx("console.signing.unregistered", { fp: fpCode(s.key) })),
        h("p", { class: "actions" },
          h("button", { type: "button", id: "signing-register", disabled: busy, onclick: (e) => register(e.currentTarget, s.key) }, t("console.signing.register")),
          forgetBtn)));
    } else if (s.state === "revoked") {
      parts.push(h("div", { id: "signing-revoked", class: "note warning" },
        h("p", {}, tx("console.signing.revoked", { fp: fpCode(s.key) })),
        forgetBtn));
    } else {
      parts.push(h("p", { id: "signing-none" }, t("console.signing.none")));
    }
    if (s.state !== "ok") {
      parts.push(h("p", {}, h("button", { type: "button", id: "signing-generate", class: s.state === "none" ? "" : "secondary", disabled: busy,
        onclick: (e) => generate(e.currentTarget) }, t("console.signing.generate"))),
      h("p", { class: "hint" }, t("console.signing.generateHint")));
    }
    parts.push(error);
    fill(el, parts);
  }
  return view(el, show);
}

// localFingerprint replaces a registered key's fingerprint with the one computed here
// from its public key: the one the organiser publishes is the one participants' pages
// compute, whatever the server says.
export async function localFingerprint(k) {
  try {
    k.fingerprint = await fingerprint(k.algorithm, fromBase64(k.publicKey || ""));
  } catch {
    k.fingerprint = t("console.keys.unreadableKey");
  }
  return k;
}

// reveal opens a record's envelope with the loaded keys. It returns {fields} when opened
// or stored in clear, with kept saying which, or {message} when not opened.
export async function reveal(resource, envelope, plain) {
  if (envelope) {
    if (!keyring.keys.length) return { kept: "sealed", message: t("console.kept.sealedNoKey") };
    try {
      return { kept: "sealed", fields: await openEnvelope(envelope, resource, keyring.keys) };
    } catch (err) {
      return { kept: "not opened", message: err instanceof OpenError ? err.message : t("console.kept.couldNotOpen", { why: err.message }) };
    }
  }
  const given = Object.values(plain).some(Boolean);
  return { kept: given ? "stored in clear" : "nothing given", fields: plain };
}

// keptText says how a record's personal fields are kept.
export function keptText(kept) {
  return { sealed: t("console.kept.sealed"), "stored in clear": t("console.kept.clear"), "nothing given": "–", "not opened": t("console.kept.notOpened") }[kept] || kept;
}

// personalCells are the cells of cols (field names) for a revealed record: the fields,
// or one cell over all of them that says why they are not shown.
export function personalCells(r, cols, cell = (k, v) => v || "–") {
  if (r.message) return [h("td", { colspan: cols.length, class: `p-message${r.kept === "not opened" ? " error" : " muted"}` }, r.message)];
  return cols.map((k) => h("td", { class: `p-${k}` }, cell(k, r.fields[k])));
}
