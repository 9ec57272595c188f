// The organiser console: sign in with an API token, then manage the events of one's
// campaigns. The token is kept in sessionStorage, so it is gone when the tab closes.
import { api, listAll, requestId } from "./api.js";
import { h, fill, id, when, short, errorText, field, announce, label, attendanceText, viewerZone, country } from "./ui.js";

const TOKEN_KEY = "rally.orgToken";
const ZONES = ["Europe/Berlin", "Europe/London", "Europe/Paris", "Europe/Vienna", "Europe/Warsaw", "Europe/Prague",
  "Europe/Stockholm", "Europe/Helsinki", "Europe/Istanbul", "Europe/Moscow", "Asia/Almaty", "Asia/Tbilisi",
  "Asia/Tashkent", "Asia/Bishkek", "America/New_York", "America/Toronto", "America/Los_Angeles", "Australia/Sydney", "UTC"];
const EVENT_FIELDS = { title: "Title", description: "Description", country: "Country", locality: "City",
  representedCountry: "Represented country", startTime: "Start", endTime: "End", timeZone: "Time zone",
  capacity: "Capacity", meetingPoint: "Meeting point", meetingPointRevealTime: "Reveal time", campaign: "Campaign", kind: "Kind" };

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

  const signOut = h("button", { type: "button", class: "secondary", onclick: () => { sessionStorage.removeItem(TOKEN_KEY); location.reload(); } }, "Sign out");
  const list = h("div");
  fill(main,
    h("h1", {}, "Organiser console"),
    h("p", {}, `Signed in as ${me ? me.displayName || id(me.name) : "the operator (admin)"}. `, signOut),
    campaigns.length
      ? h("details", { class: "panel" }, h("summary", {}, "Create an event"), eventForm(token, campaigns, null, () => location.reload()))
      : h("p", {}, "You organise no campaign yet. Create one with the rally CLI or the API."),
    list);
  for (const c of campaigns) list.append(await campaignSection(token, c));
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
    h("h3", {}, "Events"),
    events.length ? h("ul", { class: "cards" }, events.map((e) => eventItem(token, e))) : h("p", {}, "No events yet."),
    h("h3", {}, "Tasks"),
    tasks.length
      ? h("table", {}, h("caption", { class: "sr-only" }, `Tasks of ${c.title}`),
          h("thead", {}, h("tr", {}, ["Task", "State", "Done", "Target", "In progress", "Deadline"].map((x) => h("th", { scope: "col" }, x)))),
          h("tbody", {}, tasks.map((t) => h("tr", {},
            h("td", {}, t.title), h("td", {}, label(t.state, "TASK_STATE_")),
            h("td", {}, t.progress?.completed || 0), h("td", {}, t.targetCompletions || "–"),
            h("td", {}, t.progress?.claimed || 0), h("td", {}, short(t.deadline))))))
      : h("p", {}, "No tasks."));
}

function eventItem(token, e) {
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
    h("details", {}, h("summary", {}, "Post an announcement"),
      h("form", { onsubmit: (ev) => { ev.preventDefault(); run(() => api(`/v1/${e.name}/announcements`, { method: "POST", token, body: { text: text.value.trim(), audience: audience.value } }), "Announcement posted."); } },
        field("Message", text), field("Who sees it", audience), h("button", { type: "submit" }, "Post"))),
    h("details", {
      ontoggle: async (ev) => {
        if (!ev.target.open) return;
        try {
          const list = await listAll(`/v1/${e.name}/rsvps`, "rsvps", { token });
          fill(rsvps, rsvpTable(list));
        } catch (err) {
          fill(rsvps, h("p", { role: "alert" }, errorText(err)));
        }
      },
    }, h("summary", {}, "RSVPs"), h("p", { class: "muted" }, "Every time this list is opened, it is recorded in the event's audit log."), rsvps));

  return h("li", { class: `card${cancelled ? " cancelled" : ""}` },
    h("h4", {}, e.title, cancelled && h("span", { class: "badge" }, " Cancelled")), body);
}

function rsvpTable(list) {
  if (!list.length) return h("p", {}, "No RSVPs yet.");
  return h("table", {},
    h("thead", {}, h("tr", {}, ["Name", "Contact", "Guests", "State", "Waitlist", "Checked in"].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map((r) => h("tr", {},
      h("td", {}, r.displayName || "–"), h("td", {}, r.contact || "–"), h("td", {}, r.guests || 0),
      h("td", {}, label(r.state, "RSVP_STATE_")), h("td", {}, r.waitlistPosition || ""), h("td", {}, r.checkedIn ? "yes" : "")))));
}

// eventForm creates an event in one of campaigns, or edits ev (PATCH with an update mask
// and the etag, so that a concurrent change is not overwritten).
function eventForm(token, campaigns, ev, done) {
  const p = ev ? `ev-${id(ev.name)}-` : "ev-new-";
  const v = ev?.venue || {};
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
