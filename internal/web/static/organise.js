// The organiser console: sign in with an API token, then manage the events of one's
// campaigns. The token is kept in sessionStorage, so it is gone when the tab closes.
//
// Participants' personal fields come sealed to the organisers' keys (envelopes): the
// console opens them here, with the organiser's private key kept in this browser
// (keystore.js), and never sends what it opens anywhere.
//
// Announcements are signed here (signing.js) with the organiser's Ed25519 key, kept in
// this browser like the envelope keys, so that participants' pages can tell they come
// from the organisers even if the server or this console's API token is compromised.
import { api, listAll, requestId } from "./api.js";
import { h, fill, id, when, short, errorText, field, announce, label, attendanceText, viewerZone, country } from "./ui.js";
import { open as openEnvelope, OpenError, X25519, ED25519, fingerprint, fromBase64, toBase64 } from "./envelope.js";
import {
  loadKeys, forgetKeys, importKeyFile, newKeyFile, keyFileText, KeyFileError,
  loadSigningKey, forgetSigningKey, generateSigningKey, keepSigningKey, saveSigningKey, matchRegistered,
} from "./keystore.js";
import { signAnnouncement } from "./signing.js";

const TOKEN_KEY = "rally.orgToken";
const ZONES = ["Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Vienna", "Europe/Warsaw", "Europe/Prague",
  "Europe/Stockholm", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Asia/Almaty", "Asia/Tbilisi",
  "Asia/Tashkent", "Asia/Bishkek", "America/New_York", "America/Toronto", "America/Los_Angeles", "Australia/Sydney", "UTC"];
const EVENT_FIELDS = { title: "Title", description: "Description", country: "Country", locality: "City",
  representedCountry: "Represented country", startTime: "Start", endTime: "End", timeZone: "Time zone",
  capacity: "Capacity", meetingPoint: "Meeting point", meetingPointRevealTime: "Reveal time", campaign: "Campaign", kind: "Kind",
  legalHotline: "Legal hotline", emergencyNumber: "Emergency number", legalObservers: "Legal observers", notes: "Safety notes" };
// The announcement's fields as the form calls them; the signature is named as the API
// names it too, since the organiser may have to look it up.
const ANNOUNCEMENT_FIELDS = { text: "Message", audience: "Who sees it", signature: "Signature (announcement.signature)",
  key: "Signing key (announcement.signature.key)", signTime: "Signing time (announcement.signature.sign_time)" };

export async function render(main) {
  document.title = "Organisers · Rally";
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (!token) return signIn(main);
  let me = null;
  try {
    me = await api("/v1/organisers/me", { token });
  } catch (err) {
    // The admin token is no organiser, so organisers/me is refused as a bad argument
    // (INVALID_ARGUMENT); any other failure means the token is no good.
    if (err.code !== 3 && err.code !== 5) {
      sessionStorage.removeItem(TOKEN_KEY);
      return signIn(main, errorText(err));
    }
  }
  const all = await listAll("/v1/campaigns", "campaigns", { token });
  const campaigns = me ? all.filter((c) => c.owner === me.name || (c.organisers || []).includes(me.name)) : all;
  // The operator (admin) has no keys of its own; it may still import an organiser's.
  const registered = me ? await listAll("/v1/organisers/me/keys", "organiserKeys", { token }).catch(() => null) : null;
  for (const k of registered || []) await localFingerprint(k);
  keyring.registered = registered;
  keyring.keys = await loadKeys();
  keyring.signing = await loadSigningKey();

  const signOut = h("button", { type: "button", class: "secondary", onclick: () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); } }, "Sign out");
  const list = h("div");
  fill(main,
    h("h1", {}, "Organiser console"),
    h("p", {}, `Signed in as ${me ? me.displayName || id(me.name) : "the operator (admin)"}. `, signOut),
    keysSection(token, registered),
    registered && signingSection(token),
    campaigns.length
      ? h("details", { class: "panel" }, h("summary", {}, "Create an event"), eventForm(token, campaigns, null, () => location.reload()))
      : h("p", {}, "You organise no campaign yet. Create one with the rally CLI or the API."),
    list);
  for (const c of campaigns) list.append(await campaignSection(token, c));
}

// --- Keys ----------------------------------------------------------------------------

// keyring holds the keys loaded in this browser (keys opens envelopes, signing signs
// announcements) and the organiser's registered keys (null for the operator); what shows
// opened fields or signing registers in views, to show them again when a key is imported
// or forgotten.
const keyring = { keys: [], signing: null, registered: null, views: new Set() };

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

// view shows what show() renders into el now, and again whenever the keys change.
function view(el, show) {
  keyring.views.add({ el, show });
  show();
  return el;
}

// keysSection shows the keys: which one this browser holds (by fingerprint), a way to
// import a key file or forget the key, and, for an organiser without a key, creating one
// as the next step, since until then what participants give is stored in clear.
function keysSection(token, registered) {
  const el = h("section", { id: "keys", class: "panel", "aria-labelledby": "keys-h" });
  const error = h("p", { id: "key-error", class: "error", role: "alert" });
  const busy = { creating: false, download: null };
  const current = () => (registered || []).filter((k) => !k.revokeTime && k.algorithm === X25519);

  const fileIn = h("input", { id: "key-file", type: "file", accept: ".json,application/json" });
  fileIn.addEventListener("change", async () => {
    error.textContent = "";
    const file = fileIn.files[0];
    if (!file) return;
    try {
      const kept = await importKeyFile(await file.text(), registered || []);
      await reloadKeys();
      announce(`Loaded: ${kept.map((k) => `${k.algorithm === ED25519 ? "signing key" : "key"} ${k.fingerprint}`).join(", ")}.`);
    } catch (err) {
      error.textContent = err instanceof KeyFileError ? err.message : `The key file could not be read: ${err.message}`;
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
      error.textContent = "This browser cannot make keys. Create one with the rally CLI (rally keys create --out rally-keys.json), then import the file here.";
      return;
    }
    // The public halves are registered first, so that the file holds their names (what
    // the rally CLI opens envelopes by); a key that fails to register stays in the file
    // without a name, for `rally keys register FILE`.
    for (const k of keys) {
      try {
        const got = await api("/v1/organisers/me/keys", { method: "POST", token, body: { algorithm: k.algorithm, publicKey: toBase64(fromBase64(k.publicKey)) } });
        k.name = got.name;
        (registered = registered || []).push(await localFingerprint(got));
        keyring.registered = registered;
      } catch (err) {
        error.textContent = `Your key could not be registered: ${errorText(err)}`;
        break;
      }
    }
    const text = keyFileText(keys);
    for (const k of keys) k.privateKey = "";
    if (keys[0].name) {
      try {
        await importKeyFile(text, registered);
        await reloadKeys();
      } catch (err) {
        error.textContent = `Your key could not be kept in this browser: ${err.message}. Import the key file after downloading it.`;
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
    announce("Key file saved. This browser keeps only a copy it cannot export.");
    show();
  }

  function show() {
    const loaded = keyring.keys;
    const mine = current();
    const parts = [h("h2", { id: "keys-h" }, "Your key")];
    if (busy.download) {
      parts.push(h("div", { id: "key-created", class: "note" },
        h("p", {}, h("strong", {}, "Download your key file now."),
          " It is the only copy of your private key outside this browser. Keep it safe and offline (an encrypted USB stick, not a cloud drive): ",
          "whoever holds it can read the names and contacts sealed to you, and what is sealed to a lost key cannot be opened. ",
          "The rally CLI opens them with it too: rally rsvps list EVENT --key rally-keys.json."),
        h("p", { class: "actions" },
          h("a", { id: "key-download", href: busy.download, download: "rally-keys.json" }, "Download the key file (rally-keys.json)"),
          h("button", { type: "button", id: "key-saved", onclick: saved }, "I have saved it"))));
    } else if (registered && !mine.length) {
      const btn = h("button", { type: "button", id: "key-create", disabled: busy.creating, onclick: (e) => create(e.currentTarget) }, "Create my key");
      parts.push(h("div", { id: "key-setup", class: "note" },
        h("p", {}, h("strong", {}, "First, create your key."),
          " Participants' names, contacts and notes are then sealed to it on their own devices, so that the server stores only what you can open. ",
          "Until you or a co-organiser have a key, what they give is stored in clear on the server, where a raid or a leak would expose it."),
        h("p", {}, "The key is made in this browser; its private half never leaves it, except in the key file you download next."),
        btn));
    }
    if (mine.length) {
      parts.push(h("p", { id: "key-registered" }, `Participants' fields are sealed to your key${mine.length > 1 ? "s" : ""} `,
        mine.flatMap((k, i) => [i ? ", " : "", h("code", { class: "fingerprint" }, k.fingerprint)]),
        ". Publish the fingerprint (on flyers, on social media), so that participants can compare it with what their event page shows."));
    }
    if (loaded.length) {
      parts.push(h("p", { id: "key-loaded" }, "Loaded in this browser: ",
        loaded.flatMap((k, i) => [i ? ", " : "", h("code", { class: "fingerprint" }, k.fingerprint)]),
        ". It opens what is sealed to it, here only: the private key cannot be exported or uploaded."),
      h("button", { type: "button", id: "key-forget", class: "secondary", onclick: async () => {
        await forgetKeys();
        await reloadKeys();
        announce("The key is forgotten in this browser.");
      } }, "Forget the key in this browser"));
    } else if (!busy.download) {
      parts.push(h("p", { id: "key-none" }, "No key is loaded in this browser: sealed names and contacts stay sealed. Import your key file to read them."));
    }
    parts.push(field(loaded.length ? "Import another key file" : "Key file (from rally keys create, or made here)", fileIn,
      "Read here, never uploaded. The private key is kept in this browser, which cannot export it."), error);
    fill(el, parts);
  }
  return view(el, show);
}

// signingState says what the signing key kept in this browser can do, from the
// organiser's registered keys: {state, key, registered}, state one of "none" (no key
// here), "ok" (registered and not revoked: announcements are signed with it, under the
// registered key's ID), "unregistered" (not among the organiser's keys: the server would
// refuse its signatures) or "revoked".
function signingState() {
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
function signingSection(token) {
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
      announce(`Signing key ${key.fingerprint} registered.`);
    } catch (err) {
      error.textContent = `The signing key could not be registered: ${errorText(err)}`;
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
      error.textContent = "This browser cannot make signing keys (its WebCrypto has no Ed25519). Use a current Chromium or Firefox, or create a key file with the rally CLI and import it.";
      return;
    }
    // Registered before it is kept: a key the server does not know signs nothing it
    // accepts, and a non-extractable key cannot be registered later from elsewhere.
    try {
      const got = await api("/v1/organisers/me/keys", { method: "POST", token, body: { algorithm: ED25519, publicKey: toBase64(pair.publicKey) } });
      (keyring.registered = keyring.registered || []).push(await localFingerprint(got));
      const kept = await keepSigningKey(got.name, pair);
      announce(`Signing key ${kept.fingerprint} made and registered.`);
    } catch (err) {
      error.textContent = `The signing key could not be registered: ${errorText(err)}`;
    }
    busy = false;
    await reloadKeys();
  }

  async function forget() {
    await forgetSigningKey();
    await reloadKeys();
    announce("The signing key is forgotten in this browser.");
  }

  function show() {
    const s = signingState();
    const fp = (k) => h("code", { class: "fingerprint" }, k.fingerprint);
    const forgetBtn = h("button", { type: "button", id: "signing-forget", class: "secondary", onclick: forget }, "Forget the signing key in this browser");
    const parts = [h("h2", { id: "signing-h" }, "Your signing key")];
    if (s.state === "ok") {
      parts.push(h("p", { id: "signing-key" }, "Your announcements are signed in this browser with your key ", fp(s.key),
        ". Publish this fingerprint too: participants' pages check each announcement's signature and show the fingerprint of the key that made it."), forgetBtn);
    } else if (s.state === "unregistered") {
      parts.push(h("div", { id: "signing-unregistered", class: "note warning" },
        h("p", {}, "The signing key ", fp(s.key), " in this browser is not registered to your account, so the server would refuse what it signs. ",
          "Register it, or import another key file."),
        h("p", { class: "actions" },
          h("button", { type: "button", id: "signing-register", disabled: busy, onclick: (e) => register(e.currentTarget, s.key) }, "Register this signing key"),
          forgetBtn)));
    } else if (s.state === "revoked") {
      parts.push(h("div", { id: "signing-revoked", class: "note warning" },
        h("p", {}, "The signing key ", fp(s.key), " in this browser is revoked: announcements are not signed with it. Import another key file, or make a new key."),
        forgetBtn));
    } else {
      parts.push(h("p", { id: "signing-none" }, "No signing key is loaded in this browser: your announcements are posted unsigned, ",
        "and participants' pages cannot tell them from announcements posted with a stolen token. ",
        "Import your key file above (rally keys create writes a signing key into it), or make a signing key here."));
    }
    if (s.state !== "ok") {
      parts.push(h("p", {}, h("button", { type: "button", id: "signing-generate", class: s.state === "none" ? "" : "secondary", disabled: busy,
        onclick: (e) => generate(e.currentTarget) }, "Make a signing key in this browser")),
      h("p", { class: "hint" }, "It is registered to your account and kept in this browser only: it cannot be exported, so if this browser's data is cleared, make a new one and revoke the old one."));
    }
    parts.push(error);
    fill(el, parts);
  }
  return view(el, show);
}

// localFingerprint replaces a registered key's fingerprint with the one computed here
// from its public key: the one the organiser publishes is the one participants' pages
// compute, whatever the server says.
async function localFingerprint(k) {
  try {
    k.fingerprint = await fingerprint(k.algorithm, fromBase64(k.publicKey || ""));
  } catch {
    k.fingerprint = "(unreadable key)";
  }
  return k;
}

// reveal opens a record's envelope with the loaded keys. It returns {fields} when opened
// or stored in clear, with kept saying which, or {message} when not opened.
async function reveal(resource, envelope, plain) {
  if (envelope) {
    if (!keyring.keys.length) return { kept: "sealed", message: "Sealed: import your key file to read it." };
    try {
      return { kept: "sealed", fields: await openEnvelope(envelope, resource, keyring.keys) };
    } catch (err) {
      return { kept: "not opened", message: err instanceof OpenError ? err.message : `Could not be opened: ${err.message}` };
    }
  }
  const given = Object.values(plain).some(Boolean);
  return { kept: given ? "stored in clear" : "nothing given", fields: plain };
}

const KEPT = { sealed: "Sealed", "stored in clear": "Stored in clear", "nothing given": "–", "not opened": "Not opened" };

// personalCells are the cells of cols (field names) for a revealed record: the fields,
// or one cell over all of them that says why they are not shown.
function personalCells(r, cols, cell = (k, v) => v || "–") {
  if (r.message) return [h("td", { colspan: cols.length, class: `p-message${r.kept === "not opened" ? " error" : " muted"}` }, r.message)];
  return cols.map((k) => h("td", { class: `p-${k}` }, cell(k, r.fields[k])));
}

function signIn(main, error = "") {
  const input = h("input", { id: "org-token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
  fill(main,
    h("h1", {}, "Organiser sign-in"),
    h("form", {
      onsubmit: (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        location.reload();
      },
    },
    field("API token", input, "Starts with rly_org_. Kept in this tab only, until you close it or sign out."),
    h("p", { class: "error", role: "alert" }, error),
    h("button", { type: "submit" }, "Sign in")));
}

async function campaignSection(token, c) {
  const cid = id(c.name);
  const [events, tasks] = await Promise.all([
    listAll("/v1/events", "events", { token, query: { campaign: c.name, showCancelled: true } }),
    listAll("/v1/tasks", "tasks", { token, query: { campaign: c.name } }),
  ]);
  return h("section", { class: "campaign", "aria-labelledby": `c-${cid}` },
    h("h2", { id: `c-${cid}` }, c.title, " ", h("a", { href: `/c/${cid}`, class: "small" }, "public page")),
    campaignSettings(token, c),
    h("h3", {}, "Events"),
    events.length ? h("ul", { class: "cards" }, events.map((e) => eventItem(token, c, e))) : h("p", {}, "No events yet."),
    h("h3", {}, "Tasks"),
    tasks.length
      ? h("table", {}, h("caption", { class: "sr-only" }, `Tasks of ${c.title}`),
          h("thead", {}, h("tr", {}, ["Task", "State", "Done", "Target", "In progress", "Deadline"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, tasks.map((t) => h("tr", {},
            h("td", {}, t.title), h("td", {}, label(t.state, "TASK_STATE_")),
            h("td", {}, t.progress?.completed || 0), h("td", {}, t.targetCompletions || "–"),
            h("td", {}, t.progress?.claimed || 0), h("td", {}, short(t.deadline))))))
      : h("p", {}, "No tasks."),
    tasks.map((t) => claimsSection(token, t)));
}

// campaignSettings changes what the console can change of a campaign itself: whether
// its announcements must be signed (Campaign.require_signed_announcements). Then the
// server refuses an unsigned announcement, even one posted with a stolen token.
function campaignSettings(token, c) {
  const cid = id(c.name);
  const box = h("input", { id: `require-signed-${cid}`, type: "checkbox", checked: Boolean(c.requireSignedAnnouncements) });
  const msg = h("p", { id: `settings-error-${cid}`, class: "error", role: "alert" });
  async function save(e) {
    e.preventDefault();
    msg.textContent = "";
    try {
      await api(`/v1/${c.name}`, { method: "PATCH", token, query: { updateMask: "requireSignedAnnouncements" },
        body: { requireSignedAnnouncements: box.checked, etag: c.etag } });
      announce(box.checked ? "Announcements of this campaign must now be signed." : "Announcements of this campaign may now be unsigned.");
      location.reload();
    } catch (err) {
      msg.textContent = errorText(err, { requireSignedAnnouncements: "Require signed announcements" });
    }
  }
  return h("details", { id: `settings-${cid}` }, h("summary", {}, "Campaign settings"),
    h("form", { onsubmit: save },
      h("div", { class: "field" }, h("label", {}, box, " Require signed announcements")),
      h("p", { class: "hint" }, "The server then refuses an announcement without a valid signature by one of the campaign's organisers' signing keys, ",
        "so that a stolen API token cannot post in your name. Every organiser who posts needs a registered signing key."),
      msg, h("button", { type: "submit" }, "Save settings")));
}

function claimsSection(token, t) {
  const out = h("div");
  return h("details", {
    id: `claims-${id(t.name)}`,
    ontoggle: async (ev) => {
      if (!ev.target.open) return;
      try {
        fill(out, claimsTable(await listAll(`/v1/${t.name}/claims`, "claims", { token })));
      } catch (err) {
        fill(out, h("p", { role: "alert" }, errorText(err)));
      }
    },
  }, h("summary", {}, `Claims: ${t.title}`), h("p", { class: "muted" }, "Every time this list is opened, it is recorded in the task's audit log."), out);
}

function eventItem(token, c, e) {
  const eid = id(e.name);
  const cancelled = e.state === "EVENT_STATE_CANCELLED";
  const body = h("div");
  const msg = h("p", { class: "error", role: "alert" });
  const run = async (fn, done) => {
    msg.textContent = "";
    try {
      await fn();
      announce(done);
      location.reload();
    } catch (err) {
      msg.textContent = errorText(err, EVENT_FIELDS);
    }
  };

  const reason = h("input", { id: `cancel-${eid}`, maxlength: 500 });
  const text = h("textarea", { id: `ann-${eid}`, rows: 3, maxlength: 1000 });
  const audience = h("select", { id: `aud-${eid}` },
    h("option", { value: "ANNOUNCEMENT_AUDIENCE_PUBLIC" }, "Everyone"),
    h("option", { value: "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" }, "Only people who RSVPed"));
  const rsvps = h("div");
  const annError = h("p", { id: `ann-error-${eid}`, class: "error", role: "alert" });
  // What posting will do about the signature, said before posting.
  const annDone = h("p", { id: `ann-done-${eid}`, role: "status" });
  const signNote = h("p", { id: `ann-sign-${eid}` });
  view(signNote, () => {
    const s = signingState();
    if (s.state === "ok") return fill(signNote, "Will be signed by ", h("code", { class: "fingerprint" }, s.key.fingerprint), ".");
    if (c.requireSignedAnnouncements) {
      return fill(signNote, h("span", { class: "error" }, "This campaign requires signed announcements, and no registered signing key is loaded in this browser: ",
        "the server will refuse an unsigned one. Load or make your signing key first (Your signing key, above)."));
    }
    return fill(signNote, h("span", { class: "muted" }, "Will be posted unsigned: no registered signing key is loaded in this browser."));
  });

  // post signs the announcement when a signing key is usable, and posts exactly what it
  // signed. Unsigned, it is still sent when the campaign requires signatures: the
  // server's refusal names the field, and the requirement may have changed since the
  // page was loaded.
  async function post() {
    annError.textContent = annDone.textContent = "";
    const announcement = { text: text.value.trim(), audience: audience.value };
    const s = signingState();
    try {
      if (s.state === "ok") announcement.signature = await signAnnouncement(s.key, e.name, announcement);
    } catch (err) {
      annError.textContent = `The announcement could not be signed: ${err.message}`;
      return;
    }
    try {
      await api(`/v1/${e.name}/announcements`, { method: "POST", token, body: announcement });
    } catch (err) {
      annError.textContent = errorText(err, ANNOUNCEMENT_FIELDS);
      return;
    }
    const done = announcement.signature ? `Announcement posted, signed by ${s.key.fingerprint}.` : "Announcement posted, unsigned.";
    annDone.textContent = done;
    announce(done);
    text.value = "";
  }

  fill(body,
    h("p", {}, when(e)),
    h("p", {}, [e.venue?.locality, country(e.venue?.country)].filter(Boolean).join(", ")),
    h("p", {}, attendanceText(e)),
    e.meetingPoint && h("p", {}, "Meeting point: ", e.meetingPoint),
    h("p", {}, h("a", { href: `/e/${eid}` }, "Public page")),
    msg,
    !cancelled && h("details", {}, h("summary", {}, "Edit"), eventForm(token, null, e, () => location.reload())),
    !cancelled && h("details", {}, h("summary", {}, "Cancel the event"),
      h("form", { onsubmit: (ev) => { ev.preventDefault(); run(() => api(`/v1/${e.name}:cancel`, { method: "POST", token, body: { reason: reason.value.trim(), etag: e.etag } }), "Event cancelled."); } },
        field("Reason (shown to everyone)", reason), h("button", { type: "submit", class: "danger" }, "Cancel this event"))),
    h("details", { id: `announce-${eid}` }, h("summary", {}, "Post an announcement"),
      h("form", { onsubmit: (ev) => { ev.preventDefault(); post(); } },
        field("Message", text), field("Who sees it", audience), signNote, annError, annDone, h("button", { type: "submit" }, "Post"))),
    h("details", {
      id: `rsvps-${eid}`,
      ontoggle: async (ev) => {
        if (!ev.target.open) return;
        try {
          const list = await listAll(`/v1/${e.name}/rsvps`, "rsvps", { token });
          fill(rsvps, rsvpTable(token, list));
        } catch (err) {
          fill(rsvps, h("p", { role: "alert" }, errorText(err)));
        }
      },
    }, h("summary", {}, "RSVPs and check-in"), h("p", { class: "muted" }, "Every time this list is opened, it is recorded in the event's audit log."), rsvps));

  return h("li", { class: `card${cancelled ? " cancelled" : ""}` },
    h("h4", {}, e.title, cancelled && h("span", { class: "badge" }, " Cancelled")), body);
}

// rsvpTable lists RSVPs with their names and contacts opened, and checks GOING ones in.
// A row that does not open says why, in the row; the others still show.
function rsvpTable(token, list) {
  if (!list.length) return h("p", {}, "No RSVPs yet.");
  const row = (r) => {
    const tr = h("tr", { "data-rsvp": id(r.name) });
    const show = async () => {
      const x = await reveal(r.name, r.envelope, { displayName: r.displayName || "", contact: r.contact || "" });
      const msg = h("span", { class: "error", role: "alert" });
      const checkIn = r.state === "RSVP_STATE_GOING" && !r.checkedIn && h("button", {
        type: "button", class: "secondary check-in", onclick: async (e) => {
          e.currentTarget.disabled = true;
          try {
            r = await api(`/v1/${r.name}:checkIn`, { method: "POST", token, body: {} });
            announce(`Checked in${x.fields?.displayName ? `: ${x.fields.displayName}` : ""}.`);
            show();
          } catch (err) {
            msg.textContent = errorText(err);
            e.currentTarget.disabled = false;
          }
        },
      }, "Check in");
      fill(tr, personalCells(x, ["displayName", "contact"]), h("td", {}, r.guests || 0),
        h("td", {}, label(r.state, "RSVP_STATE_")), h("td", {}, r.waitlistPosition || ""),
        h("td", { class: "p-checked-in" }, r.checkedIn ? "yes" : checkIn, msg),
        h("td", { class: "p-kept" }, KEPT[x.kept]));
    };
    return view(tr, show);
  };
  return h("table", { class: "rsvps" },
    h("thead", {}, h("tr", {}, ["Name", "Contact", "Guests", "State", "Waitlist", "Checked in", "Kept"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map(row)));
}

// claimsTable lists a task's claims with their names, links and notes opened. A name and
// a completion are sealed apart (two envelopes); each says on its own why it does not open.
function claimsTable(list) {
  if (!list.length) return h("p", {}, "No claims yet.");
  const row = (c) => {
    const tr = h("tr", { "data-claim": id(c.name) });
    return view(tr, async () => {
      const who = await reveal(c.name, c.envelope, { displayName: c.displayName || "" });
      const done = await reveal(c.name, c.completionEnvelope, { proofUrl: c.proofUrl || "", note: c.note || "" });
      const kept = who.kept === done.kept || done.kept === "nothing given" ? who.kept
        : who.kept === "nothing given" ? done.kept : `${KEPT[who.kept]}; completion: ${KEPT[done.kept].toLowerCase()}`;
      fill(tr, personalCells(who, ["displayName"]), h("td", {}, label(c.state, "CLAIM_STATE_")),
        personalCells(done, ["proofUrl", "note"], (k, v) => (k === "proofUrl" ? proofLink(v) : v || "–")),
        h("td", { class: "p-kept" }, KEPT[kept] || kept));
    });
  };
  return h("table", { class: "claims" },
    h("thead", {}, h("tr", {}, ["Name", "State", "Link", "Note", "Kept"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map(row)));
}

// proofLink shows a proof URL as a link only when it is https: the server checks plain
// ones, but a sealed one reaches the console unchecked (it could be javascript:).
function proofLink(url) {
  if (!url) return "–";
  try {
    if (new URL(url).protocol === "https:") return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, url);
  } catch {
    // not a URL: shown as text
  }
  return url;
}

// eventForm creates an event in one of campaigns, or edits ev (PATCH with an update mask
// and the etag, so that a concurrent change is not overwritten).
function eventForm(token, campaigns, ev, done) {
  const p = ev ? `ev-${id(ev.name)}-` : "ev-new-";
  const v = ev?.venue || {};
  const safety = ev?.safety || {};
  const tz0 = ev?.timeZone || viewerZone;
  const input = (name, attrs = {}) => h("input", { id: p + name, ...attrs });
  const f = {
    title: input("title", { value: ev?.title || "", maxlength: 200 }),
    description: h("textarea", { id: `${p}description`, rows: 3 }, ev?.description || ""),
    country: input("country", { value: v.country || "", maxlength: 2, autocapitalize: "characters" }),
    locality: input("locality", { value: v.locality || "" }),
    kind: h("select", { id: `${p}kind` }, ["EMBASSY", "CONSULATE", "OTHER"].map((k) =>
      h("option", { value: `VENUE_KIND_${k}`, selected: v.kind === `VENUE_KIND_${k}` }, label(k)))),
    represented: input("represented", { value: v.representedCountry || "", maxlength: 2, autocapitalize: "characters" }),
    start: input("start", { type: "datetime-local", value: ev ? toLocal(ev.startTime, tz0) : "" }),
    end: input("end", { type: "datetime-local", value: ev ? toLocal(ev.endTime, tz0) : "" }),
    tz: h("select", { id: `${p}tz` }, [...new Set([tz0, viewerZone, ...ZONES])].map((z) => h("option", { value: z, selected: z === tz0 }, z))),
    tzOther: input("tz-other", { placeholder: "Asia/Almaty" }),
    capacity: input("capacity", { type: "number", min: 0, value: ev?.capacity || 0 }),
    visibility: h("select", { id: `${p}visibility` }, ["APPROXIMATE", "EXACT", "HIDDEN"].map((k) =>
      h("option", { value: `ATTENDANCE_VISIBILITY_${k}`, selected: ev?.attendanceVisibility === `ATTENDANCE_VISIBILITY_${k}` }, label(k)))),
    meeting: h("textarea", { id: `${p}meeting`, rows: 2 }, ev?.meetingPoint || ""),
    reveal: input("reveal", { type: "datetime-local", value: ev?.meetingPointRevealTime ? toLocal(ev.meetingPointRevealTime, tz0) : "" }),
    hotline: input("legal-hotline", { type: "tel", value: safety.legalHotline || "", maxlength: 100 }),
    emergency: input("emergency-number", { type: "tel", value: safety.emergencyNumber || "", maxlength: 40 }),
    observers: input("legal-observers", { type: "checkbox", checked: Boolean(safety.legalObservers) }),
    notes: h("textarea", { id: `${p}safety-notes`, rows: 3, maxlength: 2000 }, safety.notes || ""),
  };
  const campaignSel = campaigns && h("select", { id: `${p}campaign` }, campaigns.map((c) => h("option", { value: c.name }, c.title)));
  const error = h("p", { class: "error", role: "alert" });

  async function submit(e) {
    e.preventDefault();
    error.textContent = "";
    const timeZone = f.tzOther.value.trim() || f.tz.value;
    const at = (el) => { try { return el.value ? fromLocal(el.value, timeZone) : undefined; } catch { return undefined; } };
    const event = {
      title: f.title.value.trim(),
      description: f.description.value.trim(),
      venue: { kind: f.kind.value, country: f.country.value.trim().toUpperCase(), locality: f.locality.value.trim(),
        representedCountry: f.represented.value.trim().toUpperCase(), addressLines: v.addressLines || [] },
      startTime: at(f.start), endTime: at(f.end), timeZone,
      capacity: Number(f.capacity.value) || 0,
      attendanceVisibility: f.visibility.value,
      meetingPoint: f.meeting.value.trim(),
      meetingPointRevealTime: at(f.reveal),
      // The whole message, under the one mask path "safety": a field emptied here is
      // emptied on the server too.
      safety: { legalHotline: f.hotline.value.trim(), emergencyNumber: f.emergency.value.trim(),
        legalObservers: f.observers.checked, notes: f.notes.value.trim() },
    };
    try {
      if (ev) {
        const mask = Object.keys(event).join(",");
        await api(`/v1/${ev.name}`, { method: "PATCH", token, query: { updateMask: mask }, body: { ...event, etag: ev.etag } });
      } else {
        await api("/v1/events", { method: "POST", token, query: { requestId: requestId() }, body: { ...event, campaign: campaignSel.value } });
      }
      announce(ev ? "Event saved." : "Event created.");
      done();
    } catch (err) {
      error.textContent = errorText(err, EVENT_FIELDS);
    }
  }

  return h("form", { class: "event-form", novalidate: true, onsubmit: submit },
    campaignSel && field("Campaign", campaignSel),
    field("Title", f.title), field("Description", f.description),
    field("Country (two letters, such as DE)", f.country), field("City", f.locality),
    field("Kind of place", f.kind), field("Country represented (embassy or consulate, such as KZ)", f.represented),
    field("Time zone", f.tz), field("Other time zone (overrides the list)", f.tzOther, "An IANA name, such as Asia/Almaty."),
    field("Start (in the event's time zone)", f.start), field("End", f.end),
    field("Capacity (0 for no limit)", f.capacity), field("Attendance shown to the public", f.visibility),
    field("Meeting point (only for people going, from the reveal time)", f.meeting),
    field("Reveal the meeting point at (empty: at once)", f.reveal),
    h("fieldset", { class: "safety" }, h("legend", {}, "Safety (public: shown on the event page and the printable card)"),
      field("Legal hotline (as it should be dialled, such as +49 30 1234567)", f.hotline, "Whom to call when someone is detained."),
      field("Emergency number (such as 112)", f.emergency),
      h("div", { class: "field" }, h("label", {}, f.observers, " Trained legal observers will be present")),
      field("Safety notes (dispersal plan, where to regroup, what to bring)", f.notes, "Public: put nothing here that only participants should know.")),
    error, h("button", { type: "submit" }, ev ? "Save changes" : "Create event"));
}

// The wall-clock parts of an instant in a time zone.
function parts(ms, timeZone) {
  const f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
}

// toLocal turns an RFC 3339 time into a datetime-local value in timeZone.
function toLocal(iso, timeZone) {
  const x = parts(Date.parse(iso), timeZone);
  return `${x.year}-${x.month}-${x.day}T${x.hour}:${x.minute}`;
}

// fromLocal reads a datetime-local value as wall-clock time in timeZone (not the
// browser's): the organiser types the time people will read on the invitation.
function fromLocal(local, timeZone) {
  const [d, t] = local.split("T");
  const [y, mo, da] = d.split("-").map(Number);
  const [hh, mi] = t.split(":").map(Number);
  const wall = Date.UTC(y, mo - 1, da, hh, mi);
  const offset = (ms) => {
    const x = parts(ms, timeZone);
    return Date.UTC(+x.year, x.month - 1, +x.day, +x.hour, +x.minute, +x.second) - Math.floor(ms / 1000) * 1000;
  };
  // Twice, so that a guess on the other side of a DST change settles on the right offset.
  let ms = wall - offset(wall);
  ms = wall - offset(ms);
  return new Date(ms).toISOString();
}
