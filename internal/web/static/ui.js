// Small helpers shared by the pages: building DOM, formatting, saved tokens. Words come
// from i18n.js's catalogs, dates and numbers from Intl in the page's language.
import { lang, t, dateTimeFormat } from "./i18n.js";

// h builds an element. Text always goes in as text nodes, never as HTML, so nothing a
// server or another user wrote can become markup or script.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

// fill replaces an element's children.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// announce says something to screen readers (and shows it) in the page's live region.
let announceTimer = 0;
export function announce(text) {
  const el = document.getElementById("live-status");
  if (!el) return;
  el.textContent = text;
  // The bar covers the bottom of the page: it goes once it has been read.
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { el.textContent = ""; }, 6000);
}

// id returns the last segment of a resource name: events/demo-berlin → demo-berlin.
export const id = (name) => (name || "").split("/").pop();

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;

// An unknown zone from an old browser's tables gives UTC, labelled: better than nothing.
function formatter(timeZone, opts) {
  return dateTimeFormat({ ...opts, timeZone });
}

const long = { weekday: "long", day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" };

// range formats start–end in one time zone.
export function range(start, end, timeZone) {
  const f = formatter(timeZone, long);
  const a = new Date(start);
  if (!end) return f.format(a);
  const b = new Date(end);
  return f.formatRange ? f.formatRange(a, b) : `${f.format(a)} – ${f.format(b)}`;
}

// when shows an event's time in its own zone and, when different, in the viewer's.
export function when(ev) {
  const tz = ev.timeZone || "UTC";
  const local = h("span", {}, range(ev.startTime, ev.endTime, tz), h("span", { class: "muted" }, ` (${t("when.local", { tz })})`));
  if (tz === viewerZone) return h("span", {}, local);
  return h("span", { class: "when" }, local, h("br"),
    h("span", {}, t("when.yours"), " ", range(ev.startTime, ev.endTime, viewerZone), h("span", { class: "muted" }, ` (${viewerZone})`)));
}

// short formats one instant briefly, in the given zone (the viewer's by default).
export function short(t, timeZone = viewerZone) {
  return t ? formatter(timeZone, { dateStyle: "medium", timeStyle: "short" }).format(new Date(t)) : "";
}

let regionNames = null;
// country turns an ISO 3166 code into the viewer's language's name for it.
export function country(code) {
  if (!code) return "";
  try {
    regionNames = regionNames || new Intl.DisplayNames(lang, { type: "region" });
    return regionNames.of(code) || code;
  } catch {
    return code;
  }
}

// label turns an API enum (VENUE_KIND_EMBASSY) into words (Embassy): the catalog's
// enum.VALUE, else the value itself made readable.
export function label(value, prefix) {
  const key = `enum.${value}`;
  const word = value ? t(key) : "";
  if (word && word !== key) return word;
  const s = (value || "").replace(prefix, "").replace(/_/g, " ").toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

export function venueText(v = {}) {
  const parts = [];
  if (v.kind === "VENUE_KIND_EMBASSY" || v.kind === "VENUE_KIND_CONSULATE") {
    parts.push(t(v.kind === "VENUE_KIND_EMBASSY" ? "venue.embassyOf" : "venue.consulateOf", { country: country(v.representedCountry) }));
  }
  parts.push(...(v.addressLines || []));
  parts.push([v.locality, country(v.country)].filter(Boolean).join(", "));
  return parts.filter(Boolean).join(" · ");
}

// attendanceText shows what the event's visibility allows: exact counts, the ranges,
// or that the organisers keep them hidden.
export function attendanceText(ev) {
  const a = ev.attendance || {};
  if (ev.attendanceVisibility === "ATTENDANCE_VISIBILITY_HIDDEN") return t("att.hidden");
  if (a.goingRange) {
    let s = t("att.goingRange", { range: a.goingRange });
    if (a.waitlistedRange && a.waitlistedRange !== "0") s += t("att.waitlistedRange", { range: a.waitlistedRange });
    return s;
  }
  // The API's counts are int32, sent as JSON numbers; Number() also takes them as strings.
  let s = t("att.going", { count: Number(a.going || 0) });
  if (a.waitlisted) s += t("att.waitlisted", { count: Number(a.waitlisted) });
  if (ev.capacity) s += t("att.capacity", { count: Number(ev.capacity) });
  return s;
}

// errorText says in plain words what went wrong. fields maps API field names
// (display_name or displayName) to what the form calls them.
export function errorText(err, fields = {}) {
  if (!(err instanceof Error) || err.name === "TypeError") {
    return t("err.network");
  }
  // The server's own words in this page's language (AIP-193's LocalizedMessage, which it
  // adds for the languages it speaks other than English): more precise than ours.
  const localized = (err.details || []).find((d) => /LocalizedMessage$/.test(d["@type"] || "") && d.message);
  if (localized && String(localized.locale || "").toLowerCase().split("-")[0] === lang) return localized.message;
  const v = err.violations || [];
  if (v.length) {
    return v.map((x) => {
      const key = (x.field || "").split(".").pop().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
      return `${fields[key] || key}: ${lang === "en" ? plain(x.description) : x.description}`;
    }).join(" ");
  }
  switch (err.code) {
    case 5: return t("err.notFound");
    case 7: return t("err.permission");
    case 16: return t("err.unauthenticated");
    case 9: return plain(err.message);
    case 10: return t("err.aborted");
    case 8: return err.retryAfter ? t("err.rateLimitedIn", { count: err.retryAfter }) : t("err.rateLimited");
    case 14: return t("err.unavailable");
  }
  return plain(err.message);
}

// plain rewords the validator's phrases for people who are not programmers.
function plain(s = "") {
  return s
    .replace(/^invalid request: /, "")
    .replace(/^[a-z]+\/[a-z0-9-]+(\/[a-z]+\/[a-z0-9]+)?: /, "")
    .replace(/must be greater than or equal to (\d+) and less than or equal to (\d+)/, "choose a number from $1 to $2")
    .replace(/does not match regex pattern .*/, "is not in the expected form")
    .replace(/value must be less than or equal to (\d+)/, "at most $1")
    .replace(/value must be greater than or equal to (\d+)/, "at least $1")
    .replace(/must be at most (\d+) characters/, "too long (at most $1 characters)")
    .replace(/must be at least 1 characters/, "required")
    .replace(/value is required/, "required");
}

// Saved tokens. RSVP manage tokens and task claim tokens are the participant's own and
// stay in this browser (localStorage); an organiser's API token is far more powerful and
// lives only as long as the tab (sessionStorage).
export const saved = {
  get(key) {
    try {
      return JSON.parse(localStorage.getItem(`rally.${key}`));
    } catch {
      return null;
    }
  },
  set(key, value) {
    localStorage.setItem(`rally.${key}`, JSON.stringify(value));
  },
  remove(key) {
    localStorage.removeItem(`rally.${key}`);
  },
};

// field is a labelled input; the label's for= ties them together for screen readers.
export function field(labelText, input, hint) {
  const hintEl = hint ? h("small", { id: `${input.id}-hint`, class: "hint" }, hint) : null;
  if (hintEl) input.setAttribute("aria-describedby", hintEl.id);
  return h("div", { class: "field" }, h("label", { for: input.id }, labelText), input, hintEl);
}

// liveStatus shows a watch stream's state in words.
export function liveStatus(el) {
  return (s) => fill(el, { live: t("live.live"), reconnecting: t("live.reconnecting"), stopped: t("live.stopped") }[s]);
}

// describe sets the page's meta description (what a search engine or a link preview
// shows), in the page's language.
export function describe(text) {
  let m = document.querySelector('meta[name="description"]');
  if (!m) {
    m = document.createElement("meta");
    m.name = "description";
    document.head.append(m);
  }
  m.content = String(text || "").slice(0, 300);
}
