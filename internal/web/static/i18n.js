// The web client's languages: which one a page speaks, its messages, and Intl formats.
//
// The language is, in this order: ?hl= in the page's URL (kept for the tab, so that a
// link shared in Kazakh stays Kazakh from page to page); the choice made with the
// language switch, remembered on this device; the first of the browser's languages that
// Rally speaks, by primary subtag (nb, no and nn are all Norwegian Bokmål); English.
//
// Messages come from JSON catalogs served from this origin with the client
// (/assets/i18n/{lang}.json, and /assets/i18n/{namespace}/{lang}.json for a page's own
// messages, such as the organiser console's). English is always loaded as the fallback:
// a key missing from a language shows in English, and a key missing from English shows
// as itself. A catalog's value is a string with {name} placeholders, or an object keyed
// by CLDR plural categories (zero, one, two, few, many, other), chosen by the count.
//
// Hand-written rather than a library (i18next, FormatJS): the client has no build step
// and loads nothing from elsewhere, and the browser's Intl already does the hard parts
// (plural rules, dates, numbers); what is left is a lookup and a replace.
//
// The catalogs are loaded here with top-level await, so a module that imports this one
// can call t() at once.

const FALLBACK = "en";

// languages lists the languages of the client, each named in itself, for the switch.
export const languages = [
  { code: "en", name: "English" },
  { code: "ru", name: "Русский" },
  { code: "kk", name: "Қазақ тілі" },
  { code: "de", name: "Deutsch" },
  { code: "fr", name: "Français" },
  { code: "nb", name: "Norsk bokmål" },
];

const CHOSEN = "rally.lang"; // localStorage: the switch's choice
const TAB = "rally.hl"; // sessionStorage: a ?hl= seen in this tab

// supported maps a BCP 47 tag (kk-KZ, nb-NO, no) to a language of the client, or "".
export function supported(tag) {
  const primary = String(tag || "").trim().toLowerCase().split(/[-_]/)[0];
  if (primary === "no" || primary === "nn") return "nb";
  return languages.some((l) => l.code === primary) ? primary : "";
}

function store(kind) {
  try {
    return kind === "local" ? localStorage : sessionStorage;
  } catch {
    return null; // storage disabled
  }
}

function choose() {
  const hl = supported(new URLSearchParams(location.search).get("hl"));
  if (hl) {
    try { store("session")?.setItem(TAB, hl); } catch { /* storage full or disabled */ }
    return hl;
  }
  let kept = "";
  try {
    kept = supported(store("session")?.getItem(TAB)) || supported(store("local")?.getItem(CHOSEN));
  } catch { /* storage disabled */ }
  if (kept) return kept;
  for (const tag of navigator.languages || [navigator.language]) {
    const code = supported(tag);
    if (code) return code;
  }
  return FALLBACK;
}

// lang is the language of this page.
export const lang = choose();
document.documentElement.lang = lang;

// The catalogs: the page's language, and English under it.
const catalogs = { [lang]: {}, [FALLBACK]: {} };
const loaded = [];

// catalogURLs lists the catalogs this page loaded, for the offline copy (offline.js).
export const catalogURLs = () => [...loaded];

async function fetchCatalog(url) {
  try {
    const res = await fetch(url);
    if (!res.ok) return {};
    loaded.push(url);
    return await res.json();
  } catch {
    return {}; // offline without a copy: English keys, then the keys themselves
  }
}

async function load(ns) {
  const dir = ns ? `/assets/i18n/${ns}` : "/assets/i18n";
  const codes = lang === FALLBACK ? [FALLBACK] : [lang, FALLBACK];
  const got = await Promise.all(codes.map((c) => fetchCatalog(`${dir}/${c}.json`)));
  codes.forEach((c, i) => Object.assign(catalogs[c], got[i]));
}

// loadNamespace merges /assets/i18n/{ns}/{lang}.json (and its English) into the catalog.
export async function loadNamespace(ns) {
  if (!/^[a-z0-9-]+$/.test(ns)) throw new Error(`bad i18n namespace ${ns}`);
  await load(ns);
}

await load("");

const pluralRules = {};
function plural(code, count) {
  pluralRules[code] = pluralRules[code] || new Intl.PluralRules(code);
  return pluralRules[code].select(Number(count) || 0);
}

const numbers = new Intl.NumberFormat(lang);

// t returns the message of key in this page's language, its {placeholders} replaced from
// params (numbers formatted for the language). A plural message picks its form by
// params.count.
export function t(key, params = {}) {
  let code = lang;
  let v = catalogs[lang][key];
  if (v === undefined) {
    code = FALLBACK;
    v = catalogs[FALLBACK][key];
  }
  if (v === undefined) return key;
  if (typeof v === "object" && v !== null) v = v[plural(code, params.count)] ?? v.other ?? "";
  return String(v).replace(/\{([a-zA-Z0-9_]+)\}/g, (m, name) => {
    if (!(name in params)) return m;
    const p = params[name];
    return typeof p === "number" ? numbers.format(p) : String(p);
  });
}

// tx is t for messages with elements in them (a link, a <code>): it returns the text and
// the nodes given in params, in order, for ui.js's h() or fill(). Strings stay text.
export function tx(key, params = {}) {
  const nodes = {};
  const plain = {};
  for (const [k, v] of Object.entries(params)) {
    if (typeof Node !== "undefined" && v instanceof Node) nodes[k] = v;
    else plain[k] = v;
  }
  const s = t(key, plain);
  const out = [];
  let last = 0;
  for (const m of s.matchAll(/\{([a-zA-Z0-9_]+)\}/g)) {
    if (!(m[1] in nodes)) continue;
    out.push(s.slice(last, m.index), nodes[m[1]]);
    last = m.index + m[0].length;
  }
  out.push(s.slice(last));
  return out.filter((x) => x !== "");
}

// intlDates says whether the browser's Intl has dates in this page's language. Some
// builds lack a language's data (Debian's Chromium has no Kazakh dates: it writes
// "2030 M05 17" from ICU's root locale, whose months are M01 to M12); the catalog's
// date.* words and patterns stand in for them then.
const intlDates = !/^M\d+$/.test(new Intl.DateTimeFormat(lang, { month: "long" }).format(new Date(2030, 4, 17)));

// dateTimeFormat returns a formatter ({format(date)}, and formatRange where Intl has one)
// for options in this page's language. An unknown timeZone in options (an old browser's
// tables) falls back to UTC, which the options' timeZoneName then says.
export function dateTimeFormat(options = {}) {
  const make = (o) => (intlDates ? new Intl.DateTimeFormat(lang, o) : catalogDates(o));
  try {
    return make(options);
  } catch {
    return make({ ...options, timeZone: "UTC" });
  }
}

// catalogDates formats with the catalog's month and weekday names, from the numbers that
// Intl gives in any language (en-US, 24-hour), in the options' time zone.
function catalogDates(options) {
  const withTime = Boolean(options.hour || options.timeStyle);
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: options.timeZone, year: "numeric", month: "numeric", day: "numeric", weekday: "short",
    hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: options.timeZoneName ? "short" : undefined,
  });
  const days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  return {
    format(date) {
      const p = Object.fromEntries(parts.formatToParts(date instanceof Date ? date : new Date(date)).map((x) => [x.type, x.value]));
      const day = { year: p.year, day: p.day, month: t("date.months").split(",")[Number(p.month) - 1], weekday: t("date.weekdays").split(",")[days.indexOf(p.weekday)] };
      const d = t(options.weekday ? "date.withWeekday" : "date.plain", day);
      if (!withTime) return d;
      return t("date.at", { date: d, time: `${p.hour}:${p.minute}${p.timeZoneName ? ` ${p.timeZoneName}` : ""}` });
    },
  };
}

// formatDateTime formats a date (a Date, an RFC 3339 string or milliseconds) in this
// page's language.
export function formatDateTime(date, options = {}) {
  return dateTimeFormat(options).format(date instanceof Date ? date : new Date(date));
}

// formatNumber formats a number in this page's language.
export function formatNumber(n) {
  return numbers.format(n);
}

// setLanguage remembers code as this device's choice and shows the page again in it. A
// ?hl= in the URL would override the choice, so it goes from the URL (and from the tab).
export function setLanguage(code) {
  const c = supported(code);
  if (!c) return;
  try {
    store("local")?.setItem(CHOSEN, c);
    store("session")?.removeItem(TAB);
  } catch { /* storage disabled: the choice lasts as long as the URL */ }
  const u = new URL(location.href);
  if (!store("local")) u.searchParams.set("hl", c);
  else u.searchParams.delete("hl");
  if (u.href === location.href) location.reload();
  else location.replace(u.href);
}
