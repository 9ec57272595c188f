// What the console's views share: times in an event's zone, the audit log, attendance as
// organisers see it, and running an action without reloading the page.
import { api } from "../api.js";
import { h, fill, errorText, announce, id, label } from "../ui.js";
import { t, formatDateTime } from "../i18n.js";

export const ZONES = ["Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Vienna", "Europe/Warsaw", "Europe/Prague",
  "Europe/Stockholm", "Europe/Oslo", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Asia/Almaty", "Asia/Tbilisi",
  "Asia/Tashkent", "Asia/Bishkek", "America/New_York", "America/Toronto", "America/Los_Angeles", "Australia/Sydney", "UTC"];

// action runs fn for a form or button: the button is disabled while it runs (a second tap
// on a slow connection would send twice), errors show in msg, and done (if given) is
// announced. It returns fn's result, or undefined when it failed.
export async function action(btn, msg, fn, done, fields) {
  if (msg) msg.textContent = "";
  if (btn) btn.disabled = true;
  try {
    const out = await fn();
    if (done) announce(done);
    return out;
  } catch (err) {
    if (msg) msg.textContent = errorText(err, fields);
    else announce(errorText(err, fields));
    return undefined;
  } finally {
    if (btn) btn.disabled = false;
  }
}

// lazy is a <details> whose body load() fills each time it is opened (lists are read
// fresh, and a read of personal data is audited only when someone looks).
export function lazy(attrs, summary, load, ...before) {
  const body = h("div", { class: "lazy-body" });
  const el = h("details", {
    ...attrs,
    ontoggle: async (ev) => {
      if (!ev.target.open) {
        el.dispatchEvent(new CustomEvent("closed"));
        return;
      }
      fill(body, h("p", { class: "muted" }, t("console.loading")));
      try {
        await load(body);
      } catch (err) {
        fill(body, h("p", { role: "alert", class: "error" }, errorText(err)));
      }
    },
  }, h("summary", {}, summary), ...before, body);
  return el;
}

// auditLog shows a page of an event's or a task's audit log (newest first), with a button
// for the next page: a log keeps up to 1000 entries, too many for a phone at once.
export async function auditLog(token, parent, body) {
  const list = h("ol", { class: "audit" });
  const more = h("button", { type: "button", class: "secondary", id: `audit-more-${id(parent)}`, hidden: true }, t("console.audit.more"));
  const msg = h("p", { class: "error", role: "alert" });
  let pageToken = "";
  async function page() {
    const res = await api(`/v1/${parent}/auditEntries`, { token, query: { pageSize: 20, pageToken } });
    for (const a of res.auditEntries || []) {
      list.append(h("li", { "data-audit": a.action },
        h("span", { class: "audit-action" }, actionText(a.action)), " · ",
        h("span", { class: "audit-actor" }, actorText(a.actor)), " · ",
        h("time", { datetime: a.createTime }, formatDateTime(a.createTime, { dateStyle: "medium", timeStyle: "medium" }))));
    }
    pageToken = res.nextPageToken || "";
    more.hidden = !pageToken;
    if (!list.children.length) list.replaceWith(h("p", { class: "audit-empty" }, t("console.audit.empty")));
  }
  more.addEventListener("click", () => action(more, msg, page));
  fill(body, h("p", { class: "hint" }, t("console.audit.what")), list, msg, more);
  await page();
}

// enumLabel names an API enum value: the console's own word where the shared catalog has
// none (VENUE_KIND_OTHER, the claim states), else ui.js's label.
export function enumLabel(value, prefix) {
  const key = `console.enum.${value}`;
  const word = t(key);
  return word !== key ? word : label(value, prefix);
}

let me = null;
// setMe records who is signed in (an organiser's name, or null for the operator), for
// "you" in lists.
export function setMe(name) {
  me = name;
}
export const myName = () => me;

// actorText names who read: an organiser by ID ("you" for the reader), the operator, or
// an RSVP's holder forgetting their own RSVP.
export function actorText(actor) {
  if (actor === "admin") return t("console.audit.admin");
  if (actor === "holder") return t("console.audit.holder");
  if (actor && actor === me) return t("console.audit.you");
  return id(actor);
}

const ACTIONS = ["ListRsvps", "GetRsvp", "UpdateRsvp", "CancelRsvp", "CheckInRsvp", "DeleteRsvp", "ListClaims"];
function actionText(a) {
  return ACTIONS.includes(a) ? t(`console.audit.action.${a}`) : a;
}

// attendanceText is the attendance as the event's organisers see it: exact counts, with
// the checked-in count, whatever the public is shown. Of a HIDDEN event, it says that
// the public sees none of it.
export function attendanceText(e) {
  const a = e.attendance || {};
  const parts = [t("console.att.going", { count: Number(a.going || 0) })];
  if (a.waitlisted) parts.push(t("console.att.waitlisted", { count: Number(a.waitlisted) }));
  if (e.capacity) parts.push(t("console.att.capacity", { count: Number(e.capacity) }));
  parts.push(t("console.att.checkedIn", { count: Number(a.checkedIn || 0) }));
  if (a.notCheckedOut) parts.push(t("console.att.notCheckedOut", { count: Number(a.notCheckedOut) }));
  const vis = e.attendanceVisibility || "ATTENDANCE_VISIBILITY_APPROXIMATE";
  const publicSees = {
    ATTENDANCE_VISIBILITY_HIDDEN: "console.att.publicHidden",
    ATTENDANCE_VISIBILITY_EXACT: "console.att.publicExact",
  }[vis] || "console.att.publicApprox";
  return `${parts.join(" · ")}. ${t(publicSees)}`;
}

// The wall-clock parts of an instant in a time zone.
function parts(ms, timeZone) {
  const f = new Intl.DateTimeFormat("en-US", { timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return Object.fromEntries(f.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
}

// toLocal turns an RFC 3339 time into a datetime-local value in timeZone.
export function toLocal(iso, timeZone) {
  if (!iso) return "";
  const x = parts(Date.parse(iso), timeZone);
  return `${x.year}-${x.month}-${x.day}T${x.hour}:${x.minute}`;
}

// fromLocal reads a datetime-local value as wall-clock time in timeZone (not the
// browser's): the organiser types the time people will read on the invitation.
export function fromLocal(local, timeZone) {
  const [d, tm] = local.split("T");
  const [y, mo, da] = d.split("-").map(Number);
  const [hh, mi] = tm.split(":").map(Number);
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

// at reads a datetime-local input in timeZone, or undefined when it is empty or unreadable.
export function at(el, timeZone) {
  try {
    return el.value ? fromLocal(el.value, timeZone) : undefined;
  } catch {
    return undefined;
  }
}
