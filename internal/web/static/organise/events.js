// The console's events: each event's card (attendance as organisers see it, safety
// information, editing, cancelling, announcements, the RSVP list, check-in and the audit
// log), and the event form. Every action updates the card in place: no page reload, so
// that an organiser at the door keeps the list, the search and the live count.
import { api, requestId, watch } from "../api.js";
import { h, fill, id, when, errorText, field, announce, label, viewerZone, country, short } from "../ui.js";
import { t, tx, formatNumber } from "../i18n.js";
import { ED25519, fingerprint, fromBase64 } from "../envelope.js";
import { signAnnouncement } from "../signing.js";
import { keyring, view, signingState, reveal, keptText, personalCells } from "./keys.js";
import { ZONES, action, lazy, auditLog, attendanceText, toLocal, at, enumLabel } from "./common.js";

// The event's fields as the form calls them, for errors that name a field.
function eventFields() {
  return {
    title: t("console.ev.title"), description: t("console.ev.description"), country: t("console.ev.countryShort"),
    locality: t("console.ev.city"), representedCountry: t("console.ev.representedShort"), startTime: t("console.ev.startShort"),
    endTime: t("console.ev.end"), timeZone: t("console.ev.tz"), capacity: t("console.ev.capacityShort"),
    meetingPoint: t("console.ev.meetingShort"), meetingPointRevealTime: t("console.ev.revealShort"), campaign: t("console.campaign"),
    kind: t("console.ev.kind"), legalHotline: t("console.ev.hotlineShort"), emergencyNumber: t("console.ev.emergencyShort"),
    legalObservers: t("console.ev.observersShort"), notes: t("console.ev.notesShort"), reason: t("console.ev.reason"),
  };
}

// The announcement's fields as the form calls them; the signature is named as the API
// names it too, since the organiser may have to look it up.
function announcementFields() {
  return {
    text: t("console.ann.message"), audience: t("console.ann.audience"), signature: t("console.ann.fieldSignature"),
    key: t("console.ann.fieldKey"), signTime: t("console.ann.fieldSignTime"),
  };
}

// eventCard is an event's card. It re-renders itself in place after an edit or a cancel;
// the stream of an open check-in view updates its attendance line only, so that what the
// organiser has open stays open.
export function eventCard(token, c, e) {
  const eid = id(e.name);
  const li = h("li", { class: "card event", "data-event": eid });
  const att = h("p", { class: "attendance", id: `att-${eid}` });
  const listeners = new Set(); // the check-in view's count

  function setEvent(next) {
    e = next;
    att.textContent = attendanceText(e);
    for (const f of listeners) f(e);
  }
  // refresh reads the event again, for the counts after a check-in.
  async function refresh() {
    try {
      setEvent(await api(`/v1/${e.name}`, { token }));
    } catch {
      // the stream, or the next action, brings the counts
    }
  }

  function render() {
    listeners.clear(); // the views drawn before are gone
    const cancelled = e.state === "EVENT_STATE_CANCELLED";
    li.className = `card event${cancelled ? " cancelled" : ""}`;
    const msg = h("p", { class: "error", role: "alert", id: `ev-error-${eid}` });
    att.textContent = attendanceText(e);
    const reason = h("input", { id: `cancel-${eid}`, maxlength: 500 });
    const cancelBtn = h("button", { type: "submit", class: "danger", id: `cancel-submit-${eid}` }, t("console.ev.cancelSubmit"));
    const s = e.safety || {};
    const hasSafety = s.legalHotline || s.emergencyNumber || s.legalObservers || s.notes;
    fill(li,
      h("h4", {}, e.title, cancelled && h("span", { class: "badge" }, " ", t("console.ev.cancelled"))),
      h("p", {}, when(e)),
      h("p", {}, [e.venue?.locality, country(e.venue?.country)].filter(Boolean).join(", ")),
      att,
      cancelled && e.cancelReason && h("p", { class: "cancel-reason" }, t("console.ev.cancelReason", { reason: e.cancelReason })),
      e.meetingPoint && h("p", {}, t("console.ev.meetingPointIs", { point: e.meetingPoint })),
      hasSafety && h("dl", { class: "facts safety-facts", id: `safety-${eid}` },
        s.legalHotline && [h("dt", {}, t("console.ev.hotlineShort")), h("dd", {}, h("a", { href: `tel:${s.legalHotline.replace(/[^+0-9]/g, "")}` }, s.legalHotline))],
        s.emergencyNumber && [h("dt", {}, t("console.ev.emergencyShort")), h("dd", {}, s.emergencyNumber)],
        s.legalObservers && [h("dt", {}, t("console.ev.observersShort")), h("dd", {}, t("console.ev.observersYes"))],
        s.notes && [h("dt", {}, t("console.ev.notesShort")), h("dd", { class: "pre" }, s.notes)]),
      h("p", {}, h("a", { href: `/e/${eid}` }, t("console.ev.publicPage"))),
      msg,
      !cancelled && h("details", { class: "ev-edit" }, h("summary", {}, t("console.ev.edit")),
        eventForm(token, c, e, (saved) => {
          e = saved;
          render();
          announce(t("console.ev.saved"));
        })),
      !cancelled && h("details", { id: `cancel-form-${eid}` }, h("summary", {}, t("console.ev.cancel")),
        h("form", { onsubmit: async (ev) => {
          ev.preventDefault();
          const got = await action(cancelBtn, msg, () => api(`/v1/${e.name}:cancel`, { method: "POST", token, body: { reason: reason.value.trim(), etag: e.etag } }),
            t("console.ev.cancelledAnnounce"), eventFields());
          if (got) {
            e = got;
            render();
          }
        } },
        field(t("console.ev.reasonLabel"), reason), cancelBtn)),
      announcements(token, c, e),
      rsvpList(token, e, refresh),
      checkIn(token, e, listeners, setEvent, refresh),
      lazy({ id: `audit-${eid}` }, t("console.audit.title"), (body) => auditLog(token, e.name, body)));
  }
  render();
  return li;
}

// announcements is the form that posts an announcement (signed when a signing key is
// usable) and, when opened, the event's announcements, newest first.
function announcements(token, c, e) {
  const eid = id(e.name);
  const text = h("textarea", { id: `ann-${eid}`, rows: 3, maxlength: 1000 });
  const audience = h("select", { id: `aud-${eid}` },
    h("option", { value: "ANNOUNCEMENT_AUDIENCE_PUBLIC" }, t("console.ann.everyone")),
    h("option", { value: "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" }, t("console.ann.holders")));
  const annError = h("p", { id: `ann-error-${eid}`, class: "error", role: "alert" });
  // What posting will do about the signature, said before posting.
  const annDone = h("p", { id: `ann-done-${eid}`, role: "status" });
  const signNote = h("p", { id: `ann-sign-${eid}` });
  const postBtn = h("button", { type: "submit" }, t("console.ann.post"));
  const list = h("ol", { class: "announcements", id: `ann-list-${eid}` });
  view(signNote, () => {
    const s = signingState();
    if (s.state === "ok") return fill(signNote, tx("console.ann.willSign", { fp: h("code", { class: "fingerprint" }, s.key.fingerprint) }));
    if (c.requireSignedAnnouncements) return fill(signNote, h("span", { class: "error" }, t("console.ann.required")));
    return fill(signNote, h("span", { class: "muted" }, t("console.ann.unsigned")));
  });

  // post signs the announcement when a signing key is usable, and posts exactly what it
  // signed. Unsigned, it is still sent when the campaign requires signatures: the
  // server's refusal names the field, and the requirement may have changed since the
  // page was loaded.
  async function post(ev) {
    ev.preventDefault();
    annError.textContent = annDone.textContent = "";
    const announcement = { text: text.value.trim(), audience: audience.value };
    const s = signingState();
    try {
      if (s.state === "ok") announcement.signature = await signAnnouncement(s.key, e.name, announcement);
    } catch (err) {
      annError.textContent = t("console.ann.signFailed", { why: err.message });
      return;
    }
    const got = await action(postBtn, annError, () => api(`/v1/${e.name}/announcements`, { method: "POST", token, body: announcement }), null, announcementFields());
    if (!got) return;
    const done = announcement.signature ? t("console.ann.postedSigned", { fp: s.key.fingerprint }) : t("console.ann.postedUnsigned");
    annDone.textContent = done;
    announce(done);
    text.value = "";
    list.querySelector(".ann-empty")?.remove();
    list.prepend(await announcementItem(got));
  }

  return lazy({ id: `announce-${eid}` }, t("console.ann.title"), async (body) => {
    const res = await api(`/v1/${e.name}/announcements`, { token, query: { pageSize: 100 } });
    const items = await Promise.all((res.announcements || []).map(announcementItem));
    fill(list, items.length ? items : h("li", { class: "ann-empty muted" }, t("console.ann.none")));
    fill(body, h("h5", {}, t("console.ann.posted")), list);
  }, h("form", { onsubmit: post },
    field(t("console.ann.message"), text), field(t("console.ann.audience"), audience), signNote, annError, annDone, postBtn));
}

async function announcementItem(a) {
  let signed = t("console.ann.itemUnsigned");
  if (a.signature?.publicKey) {
    try {
      signed = t("console.ann.itemSigned", { fp: await fingerprint(ED25519, fromBase64(a.signature.publicKey)) });
    } catch {
      signed = t("console.ann.itemSigned", { fp: a.signature.fingerprint || "?" });
    }
  }
  return h("li", { "data-announcement": id(a.name) },
    h("p", { class: "pre" }, a.text),
    h("p", { class: "muted small" }, short(a.createTime), " · ",
      a.audience === "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" ? t("console.ann.holders") : t("console.ann.everyone"), " · ", signed));
}

// rsvpList is the event's RSVPs with their names and contacts opened, read when opened
// (each read is in the audit log); GOING ones can be checked in from it too.
function rsvpList(token, e, checkedIn) {
  const eid = id(e.name);
  return lazy({ id: `rsvps-${eid}` }, t("console.rsvps.title"), async (body) => {
    const list = await listRsvps(token, e);
    fill(body, rsvpTable(token, list, checkedIn));
  }, h("p", { class: "muted" }, t("console.rsvps.audited")));
}

async function listRsvps(token, e) {
  const out = [];
  let pageToken = "";
  do {
    const page = await api(`/v1/${e.name}/rsvps`, { token, query: { pageSize: 1000, pageToken } });
    out.push(...(page.rsvps || []));
    pageToken = page.nextPageToken || "";
  } while (pageToken);
  return out;
}

// rsvpTable lists RSVPs with their names and contacts opened, and checks GOING ones in.
// A row that does not open says why, in the row; the others still show.
function rsvpTable(token, list, checkedIn) {
  if (!list.length) return h("p", {}, t("console.rsvps.none"));
  const row = (r) => {
    const tr = h("tr", { "data-rsvp": id(r.name) });
    const show = async () => {
      const x = await reveal(r.name, r.envelope, { displayName: r.displayName || "", contact: r.contact || "" });
      const msg = h("span", { class: "error", role: "alert" });
      const checkIn = r.state === "RSVP_STATE_GOING" && !r.checkedIn && h("button", {
        type: "button", class: "secondary check-in", onclick: async (ev) => {
          const got = await action(ev.currentTarget, msg, () => api(`/v1/${r.name}:checkIn`, { method: "POST", token, body: {} }),
            x.fields?.displayName ? t("console.checkin.doneNamed", { name: x.fields.displayName }) : t("console.checkin.done"));
          if (got) {
            r = got;
            show();
            checkedIn();
          }
        },
      }, t("console.checkin.button"));
      fill(tr, personalCells(x, ["displayName", "contact"]), h("td", { class: "p-guests" }, formatNumber(r.guests || 0)),
        h("td", { class: "p-state" }, label(r.state, "RSVP_STATE_")), h("td", {}, r.waitlistPosition ? formatNumber(r.waitlistPosition) : ""),
        h("td", { class: "p-checked-in" }, r.checkedIn ? t("console.rsvps.yes") : checkIn, msg),
        h("td", { class: "p-kept" }, keptText(x.kept)));
    };
    return view(tr, show);
  };
  const cols = ["name", "contact", "guests", "state", "waitlist", "checkedIn", "kept"].map((k) => t(`console.rsvps.col.${k}`));
  return h("div", { class: "table-wrap" }, h("table", { class: "rsvps" },
    h("thead", {}, h("tr", {}, cols.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map(row))));
}

// fold makes a name comparable for search: case and accents ignored (Ä, ä and a match).
const fold = (s) => String(s || "").normalize("NFKD").replace(/\p{M}/gu, "").toLocaleLowerCase();

// checkIn is the view for the door, on a phone: the live count, a search by name (names
// sealed to the organisers are opened here first, so the search runs on this device
// only), and one big button per person. The count follows the event's stream while the
// view is open; it is closed when the view is, since a browser holds few connections.
function checkIn(token, e, listeners, setEvent, refresh) {
  const eid = id(e.name);
  const count = h("p", { class: "checkin-count", id: `checkin-count-${eid}`, "aria-live": "polite" });
  const live = h("p", { class: "live muted small", id: `checkin-live-${eid}` });
  const search = h("input", { id: `checkin-search-${eid}`, type: "search", autocomplete: "off", spellcheck: "false", enterkeyhint: "search" });
  const results = h("ul", { class: "checkin-list", id: `checkin-list-${eid}` });
  const note = h("p", { class: "muted", id: `checkin-note-${eid}` });
  let rows = [];
  let stream = null;

  const showCount = (ev) => {
    const a = ev.attendance || {};
    fill(count, h("strong", {}, t("console.checkin.count", { count: Number(a.checkedIn || 0) })), " · ",
      t("console.checkin.going", { count: Number(a.going || 0) }));
  };
  listeners.add(showCount);
  showCount(e);

  function filter() {
    const q = fold(search.value.trim());
    let shown = 0;
    for (const r of rows) {
      const hit = !q || fold(r.name).includes(q);
      r.li.hidden = !hit;
      if (hit) shown++;
    }
    note.textContent = rows.length && !shown ? t("console.checkin.noMatch") : "";
  }
  search.addEventListener("input", filter);

  async function load(body) {
    const list = (await listRsvps(token, e)).filter((r) => r.state === "RSVP_STATE_GOING");
    rows = [];
    let sealed = 0;
    for (const r0 of list) {
      let r = r0;
      const x = await reveal(r.name, r.envelope, { displayName: r.displayName || "", contact: "" });
      if (x.message) sealed++;
      const row = { name: x.fields?.displayName || "", li: h("li", { "data-checkin": id(r.name) }) };
      const msg = h("span", { class: "error", role: "alert" });
      const draw = () => fill(row.li,
        h("span", { class: "checkin-name" }, x.message ? h("span", { class: "muted" }, x.message) : row.name || h("span", { class: "muted" }, t("console.checkin.noName"))),
        r.guests ? h("span", { class: "checkin-guests" }, t("console.checkin.guests", { count: Number(r.guests) })) : "",
        r.checkedIn
          ? h("span", { class: "ok checkin-done" }, t("console.checkin.checked"))
          : h("button", { type: "button", class: "checkin-button", onclick: async (ev) => {
            const got = await action(ev.currentTarget, msg, () => api(`/v1/${r.name}:checkIn`, { method: "POST", token, body: {} }),
              row.name ? t("console.checkin.doneNamed", { name: row.name }) : t("console.checkin.done"));
            if (got) {
              r = got;
              draw();
              refresh();
            }
          } }, t("console.checkin.button")),
        msg);
      draw();
      rows.push(row);
    }
    rows.sort((a, b) => a.name.localeCompare(b.name));
    fill(results, rows.map((r) => r.li));
    fill(body,
      sealed && !keyring.keys.length ? h("p", { class: "note warning" }, t("console.checkin.sealedNoKey")) : "",
      field(t("console.checkin.search"), search, t("console.checkin.searchHint")),
      note, rows.length ? results : h("p", {}, t("console.checkin.nobody")));
    filter();
    search.focus();
    if (!stream) {
      stream = watch(`/v1/${e.name}:watch`, {
        token,
        onChange: (ch) => {
          if (!el.isConnected) return stop();
          if (ch.event) setEvent(ch.event);
        },
        onStatus: (s) => { live.textContent = t(`console.live.${s}`); },
      });
    }
  }
  function stop() {
    stream?.stop();
    stream = null;
    live.textContent = "";
  }
  const el = lazy({ id: `checkin-${eid}`, class: "checkin" }, t("console.checkin.title"), load, count, live);
  el.addEventListener("closed", stop);
  return el;
}

// eventForm creates an event in campaign c, or edits ev (PATCH with an update mask and
// the etag, so that a concurrent change is not overwritten). done gets the saved event.
export function eventForm(token, c, ev, done) {
  const p = ev ? `ev-${id(ev.name)}-` : `ev-new-${id(c.name)}-`;
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
      h("option", { value: `VENUE_KIND_${k}`, selected: v.kind === `VENUE_KIND_${k}` }, enumLabel(`VENUE_KIND_${k}`, "VENUE_KIND_")))),
    represented: input("represented", { value: v.representedCountry || "", maxlength: 2, autocapitalize: "characters" }),
    start: input("start", { type: "datetime-local", value: ev ? toLocal(ev.startTime, tz0) : "" }),
    end: input("end", { type: "datetime-local", value: ev ? toLocal(ev.endTime, tz0) : "" }),
    tz: h("select", { id: `${p}tz` }, [...new Set([tz0, viewerZone, ...ZONES])].map((z) => h("option", { value: z, selected: z === tz0 }, z))),
    tzOther: input("tz-other", { placeholder: "Asia/Almaty" }),
    capacity: input("capacity", { type: "number", min: 0, inputmode: "numeric", value: ev?.capacity || 0 }),
    visibility: h("select", { id: `${p}visibility` }, ["APPROXIMATE", "EXACT", "HIDDEN"].map((k) =>
      h("option", { value: `ATTENDANCE_VISIBILITY_${k}`, selected: ev?.attendanceVisibility === `ATTENDANCE_VISIBILITY_${k}` }, t(`console.ev.visibility.${k}`)))),
    meeting: h("textarea", { id: `${p}meeting`, rows: 2 }, ev?.meetingPoint || ""),
    reveal: input("reveal", { type: "datetime-local", value: ev?.meetingPointRevealTime ? toLocal(ev.meetingPointRevealTime, tz0) : "" }),
    hotline: input("legal-hotline", { type: "tel", value: safety.legalHotline || "", maxlength: 100 }),
    emergency: input("emergency-number", { type: "tel", value: safety.emergencyNumber || "", maxlength: 40 }),
    observers: input("legal-observers", { type: "checkbox", checked: Boolean(safety.legalObservers) }),
    notes: h("textarea", { id: `${p}safety-notes`, rows: 3, maxlength: 2000 }, safety.notes || ""),
  };
  const error = h("p", { class: "error", role: "alert" });
  const submitBtn = h("button", { type: "submit" }, ev ? t("console.ev.save") : t("console.ev.create"));
  const form = h("form", { class: "event-form", novalidate: true, onsubmit: submit },
    field(t("console.ev.title"), f.title), field(t("console.ev.description"), f.description),
    field(t("console.ev.country"), f.country), field(t("console.ev.city"), f.locality),
    field(t("console.ev.kind"), f.kind), field(t("console.ev.represented"), f.represented),
    field(t("console.ev.tz"), f.tz), field(t("console.ev.tzOther"), f.tzOther, t("console.ev.tzOtherHint")),
    field(t("console.ev.start"), f.start), field(t("console.ev.end"), f.end),
    field(t("console.ev.capacity"), f.capacity), field(t("console.ev.visibility"), f.visibility),
    field(t("console.ev.meeting"), f.meeting),
    field(t("console.ev.reveal"), f.reveal),
    h("fieldset", { class: "safety" }, h("legend", {}, t("console.ev.safety")),
      field(t("console.ev.hotline"), f.hotline, t("console.ev.hotlineHint")),
      field(t("console.ev.emergency"), f.emergency),
      h("div", { class: "field" }, h("label", {}, f.observers, " ", t("console.ev.observers"))),
      field(t("console.ev.notes"), f.notes, t("console.ev.notesHint"))),
    error, submitBtn);

  async function submit(e) {
    e.preventDefault();
    const timeZone = f.tzOther.value.trim() || f.tz.value;
    const event = {
      title: f.title.value.trim(),
      description: f.description.value.trim(),
      venue: { kind: f.kind.value, country: f.country.value.trim().toUpperCase(), locality: f.locality.value.trim(),
        representedCountry: f.represented.value.trim().toUpperCase(), addressLines: v.addressLines || [] },
      startTime: at(f.start, timeZone), endTime: at(f.end, timeZone), timeZone,
      capacity: Number(f.capacity.value) || 0,
      attendanceVisibility: f.visibility.value,
      meetingPoint: f.meeting.value.trim(),
      meetingPointRevealTime: at(f.reveal, timeZone),
      // The whole message, under the one mask path "safety": a field emptied here is
      // emptied on the server too.
      safety: { legalHotline: f.hotline.value.trim(), emergencyNumber: f.emergency.value.trim(),
        legalObservers: f.observers.checked, notes: f.notes.value.trim() },
    };
    const got = await action(submitBtn, error, () => (ev
      ? api(`/v1/${ev.name}`, { method: "PATCH", token, query: { updateMask: Object.keys(event).join(",") }, body: { ...event, etag: ev.etag } })
      : api("/v1/events", { method: "POST", token, query: { requestId: requestId() }, body: { ...event, campaign: c.name } })),
    null, eventFields());
    if (got) done(got, form);
  }
  return form;
}
