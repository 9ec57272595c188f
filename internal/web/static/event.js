// The event page: details, live attendance and announcements, the RSVP form and the
// participant's own RSVP.
import { api, watch, requestId, ApiError } from "./api.js";
import { h, fill, id, when, short, venueText, attendanceText, errorText, saved, field, announce, liveStatus, label } from "./ui.js";
import { sealingOf, sealingFor, sealingNote, clearText, checkLength, sealNew, envelopeRefused, keysChangedText } from "./sealing.js";

const RSVP_FIELDS = { displayName: "Name", contact: "Contact", guests: "Guests" };

export async function render(main, eventId) {
  const name = `events/${eventId}`;
  const key = `rsvp.${eventId}`;
  let mine = saved.get(key); // {name, manageToken} of this browser's RSVP, if any
  const linked = takeTokenFromLink(eventId);
  if (linked && !(mine && mine.name === linked.name && mine.manageToken === linked.manageToken)) {
    // A link to another RSVP than the one this browser holds may come from someone else:
    // replacing ours silently would lose it, and hand our page to theirs. Ask first.
    if (!mine || await confirmReplace(main, mine, linked)) {
      mine = linked;
      saved.set(key, mine);
    }
  }

  const ev = await api(`/v1/${name}`, { token: mine?.manageToken }).catch((err) => {
    // A manage token for an RSVP deleted since (after the event) is refused: read publicly.
    if (mine && err instanceof ApiError && err.status !== 404) return api(`/v1/${name}`);
    throw err;
  });
  // What the name and contact are sealed to: the keys of the event's campaign (or of its
  // owner, for an event without one), which GetEvent returns.
  let sealing = await sealingOf(ev.recipientKeys);
  const reloadSealing = () => sealingFor(() => api(`/v1/${name}`));
  // The name given with this page's RSVP, for the confirmation: the server does not
  // return a sealed name (it cannot read it), and it is not kept on the device.
  let sent = { rsvp: "", displayName: "" };

  const details = h("div");
  const attendance = h("p", { id: "attendance", "aria-live": "polite" });
  const announcements = h("ul", { id: "announcements", class: "announcements", "aria-live": "polite" });
  const status = h("p", { class: "muted live" });
  const myRsvp = h("section", { id: "my-rsvp", "aria-labelledby": "my-rsvp-h", hidden: true });
  const manageLink = h("div", { id: "manage-link", class: "note", hidden: true });
  const formSection = h("section", { "aria-labelledby": "rsvp-h" });
  let current = ev;

  function showEvent(e) {
    current = e;
    document.title = `${e.title} · Rally`;
    const cancelled = e.state === "EVENT_STATE_CANCELLED";
    fill(details,
      cancelled && h("div", { class: "banner", role: "alert" },
        h("strong", {}, "This event is cancelled."), e.cancelReason && ` Reason: ${e.cancelReason}`),
      h("h1", {}, e.title),
      e.description && h("p", { class: "lead" }, e.description),
      h("dl", { class: "facts" },
        h("dt", {}, "When"), h("dd", {}, when(e)),
        h("dt", {}, "Where"), h("dd", {}, venueText(e.venue)),
        e.campaign && [h("dt", {}, "Campaign"), h("dd", {}, h("a", { href: `/c/${id(e.campaign)}` }, "All events of the campaign"))]),
      h("p", {}, h("a", { href: `/v1/${name}.ics` }, "Add to your calendar (.ics)")));
    attendance.textContent = attendanceText(e);
    formSection.hidden = cancelled || (mine && !mine.cancelled);
  }

  const annSeen = new Set();
  function addAnnouncement(a, atTop) {
    if (annSeen.has(a.name)) return;
    annSeen.add(a.name);
    const li = h("li", {},
      h("p", {}, a.text),
      h("p", { class: "muted" }, short(a.createTime),
        a.audience === "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" && " · for people who RSVPed"));
    if (atTop) announcements.prepend(li);
    else announcements.append(li);
  }
  async function loadAnnouncements() {
    const res = await api(`/v1/${name}/announcements`, { token: mine?.manageToken }).catch(() => ({}));
    announcements.replaceChildren();
    annSeen.clear();
    // newest first
    const list = (res.announcements || []).slice().sort((a, b) => b.createTime.localeCompare(a.createTime));
    for (const a of list) addAnnouncement(a, false);
    if (!list.length) announcements.append(h("li", { class: "muted", "data-empty": "" }, "No announcements yet."));
  }

  // --- My RSVP ---------------------------------------------------------------------
  const stateEl = h("p", { id: "my-rsvp-state" });
  const positionEl = h("p", { id: "my-rsvp-position" });
  const meetingEl = h("p", { id: "meeting-point" });
  const myError = h("p", { class: "error", role: "alert" });
  const cancelBtn = h("button", { type: "button", id: "my-rsvp-cancel", onclick: cancelMine }, "Cancel my RSVP");
  const forgetBtn = h("button", { type: "button", class: "secondary", onclick: forget }, "Forget this RSVP on this device");
  fill(myRsvp, h("h2", { id: "my-rsvp-h" }, "My RSVP"), stateEl, positionEl, meetingEl, myError, h("p", { class: "actions" }, cancelBtn, forgetBtn));
  let revealTimer = 0;

  let myState = null; // the state of this browser's RSVP as last read
  let meetingShown = false;
  async function refreshMine() {
    if (!mine) {
      myRsvp.hidden = true;
      myState = null;
      return;
    }
    myRsvp.hidden = false;
    let r;
    try {
      r = await api(`/v1/${mine.name}`, { token: mine.manageToken });
    } catch (err) {
      myState = "unknown"; // not refreshed by changes again; a reload tries anew
      fill(stateEl, err.code === 5 || err.code === 16
        ? "This RSVP is no longer known to Rally (RSVPs are deleted some days after the event)."
        : errorText(err));
      return;
    }
    myState = r.state;
    const going = r.state === "RSVP_STATE_GOING";
    const guests = r.guests ? ` with ${r.guests} guest${r.guests > 1 ? "s" : ""}` : "";
    const as = r.displayName || (sent.rsvp === r.name ? sent.displayName : "");
    fill(stateEl, { RSVP_STATE_GOING: `Going${guests}.`, RSVP_STATE_WAITLISTED: `Waitlisted${guests}: you get a place as soon as one frees up.`, RSVP_STATE_CANCELLED: "Cancelled." }[r.state] || label(r.state, "RSVP_STATE_"),
      as && ` (as ${as})`);
    fill(positionEl, r.state === "RSVP_STATE_WAITLISTED" && r.waitlistPosition ? `Position ${r.waitlistPosition} on the waitlist` : "");
    cancelBtn.hidden = r.state === "RSVP_STATE_CANCELLED";
    if (r.state === "RSVP_STATE_CANCELLED" && !mine.cancelled) {
      mine = { ...mine, cancelled: true };
      saved.set(key, mine);
    }
    formSection.hidden = current.state === "EVENT_STATE_CANCELLED" || !mine.cancelled;

    // The meeting point only comes to a GOING RSVP's token, once the reveal time passed.
    let e = current;
    if (going) e = await api(`/v1/${name}`, { token: mine.manageToken }).catch(() => current);
    clearTimeout(revealTimer);
    meetingShown = Boolean(going && e.meetingPoint);
    if (meetingShown) fill(meetingEl, h("strong", {}, "Meeting point: "), e.meetingPoint);
    else if (going && e.meetingPointRevealTime) {
      fill(meetingEl, `The meeting point will appear here on ${short(e.meetingPointRevealTime)}.`);
      const wait = Date.parse(e.meetingPointRevealTime) - Date.now() + 1000;
      if (wait > 0 && wait < 2 ** 31) revealTimer = setTimeout(refreshMine, wait);
    } else if (going) fill(meetingEl, "The organisers will share the meeting point here.");
    else fill(meetingEl, "");
  }

  async function cancelMine() {
    myError.textContent = "";
    cancelBtn.disabled = true;
    try {
      await api(`/v1/${mine.name}:cancel`, { method: "POST", body: {}, token: mine.manageToken });
      announce("Your RSVP is cancelled.");
    } catch (err) {
      myError.textContent = errorText(err);
    }
    cancelBtn.disabled = false;
    await refreshMine();
  }

  function forget() {
    saved.remove(key);
    mine = null;
    manageLink.hidden = true;
    formSection.hidden = current.state === "EVENT_STATE_CANCELLED";
    refreshMine();
    restartWatch();
  }

  // --- The RSVP form ---------------------------------------------------------------
  const nameIn = h("input", { id: "rsvp-name", name: "displayName", autocomplete: "off", maxlength: 60 });
  const contactIn = h("input", { id: "rsvp-contact", name: "contact", autocomplete: "off" });
  const guestsIn = h("input", { id: "rsvp-guests", name: "guests", type: "number", inputmode: "numeric", min: 0, max: 5, value: 0 });
  const formError = h("p", { id: "form-error", class: "error", role: "alert" });
  const submit = h("button", { type: "submit", id: "rsvp-submit" }, "RSVP");
  // How the name and contact are kept: sealed to the organisers' keys (with their
  // fingerprints), or, when the campaign has no key, in clear: said next to the fields
  // as soon as something is typed in them, before it is sent.
  const sealedTo = h("div", { id: "rsvp-sealed-to", class: "note" });
  const clearNotice = h("p", { id: "rsvp-clear-notice", class: "note warning", role: "status", hidden: true });
  function showSealing() {
    sealingNote(sealedTo, sealing, "name and contact");
    sealedTo.hidden = !sealedTo.firstChild;
    const typed = nameIn.value.trim() !== "" || contactIn.value.trim() !== "";
    clearNotice.textContent = clearText("name and contact");
    clearNotice.hidden = !(typed && sealing.state === "none");
  }
  // One requestId per attempt: a retry after a lost answer returns the same RSVP instead
  // of making a second, so it sends the same RSVP ID and envelope too. Changing the form
  // starts a new attempt.
  let attempt = "";
  let sealedFor = { attempt: "", id: "", envelope: null };
  const form = h("form", { id: "rsvp-form", novalidate: true, onsubmit: send, oninput: () => { attempt = ""; showSealing(); } },
    field("Name or pseudonym (optional)", nameIn, "No real name needed."),
    field("Contact (optional)", contactIn, "For example signal:your.name. Shown to the organisers only, and deleted after the event."),
    clearNotice,
    field("Guests you bring", guestsIn, "0 to 5."),
    formError, submit);
  fill(formSection, h("h2", { id: "rsvp-h" }, "RSVP"),
    h("p", {}, "No account needed. Other visitors never see who comes."), sealedTo, form);
  showSealing();

  async function send(e) {
    e.preventDefault();
    for (const el of [nameIn, contactIn, guestsIn]) el.removeAttribute("aria-invalid");
    formError.textContent = "";
    attempt = attempt || requestId();
    const guests = guestsIn.value === "" ? 0 : Number(guestsIn.value);
    const displayName = nameIn.value.trim(), contact = contactIn.value.trim();
    submit.disabled = true;
    try {
      const query = { requestId: attempt };
      const body = { guests: Number.isInteger(guests) ? guests : -1 };
      if (displayName || contact) {
        if (sealing.state === "unknown") {
          sealing = await reloadSealing();
          showSealing();
          if (sealing.state === "unknown") throw new TypeError("the campaign's keys could not be read");
        }
        if (sealing.state === "mismatch") throw new Error("Your name and contact cannot be sealed safely (see above): leave them empty to RSVP.");
        if (sealing.state === "keys") {
          // The server cannot check what it cannot read: the limits are kept here.
          checkLength("display_name", displayName, 60);
          checkLength("contact", contact, 200);
          if (sealedFor.attempt !== attempt) {
            sealedFor = { attempt, ...await sealNew(sealing, { displayName, contact }, name, "rsvps") };
          }
          query.rsvpId = sealedFor.id;
          body.envelope = sealedFor.envelope;
        } else {
          Object.assign(body, { displayName, contact });
        }
      }
      const res = await api(`/v1/${name}/rsvps`, { method: "POST", query, body });
      attempt = "";
      mine = { name: res.rsvp.name, manageToken: res.manageToken };
      sent = { rsvp: res.rsvp.name, displayName };
      saved.set(key, mine);
      form.reset();
      showSealing();
      showManageLink();
      announce(res.storedInClear ? "Your RSVP is saved. Your name and contact are stored in clear on the server." : "Your RSVP is saved.");
      restartWatch();
      await refreshMine();
    } catch (err) {
      if (err instanceof ApiError && err.code === 9) {
        formError.textContent = current.state === "EVENT_STATE_CANCELLED" || Date.parse(current.endTime) < Date.now()
          ? "RSVPs are closed: this event is cancelled or over."
          : errorText(err, RSVP_FIELDS);
      } else if (envelopeRefused(err)) {
        // Refused for its keys: they changed since the page was loaded (a key revoked or
        // added). Show the new ones, for the participant to compare before sending again.
        attempt = "";
        sealing = await reloadSealing();
        showSealing();
        formError.textContent = keysChangedText;
      } else {
        formError.textContent = errorText(err, RSVP_FIELDS);
      }
      const inputs = { displayName: nameIn, contact: contactIn, guests: guestsIn };
      for (const v of err.violations || []) {
        const k = (v.field || "").split(".").pop().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
        inputs[k]?.setAttribute("aria-invalid", "true");
      }
    }
    submit.disabled = false;
  }

  function showManageLink() {
    const url = `${location.origin}/e/${eventId}#rsvp=${encodeURIComponent(id(mine.name))}&token=${encodeURIComponent(mine.manageToken)}`;
    fill(manageLink,
      h("p", {}, h("strong", {}, "Keep this link private and safe."),
        " It is the only way to see the meeting point, change or cancel your RSVP from another device or after clearing this browser. Anyone who has it can do the same."),
      h("p", { class: "break" }, h("a", { href: url }, url)),
      h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(url).then(() => announce("Link copied.")) }, "Copy link"));
    manageLink.hidden = false;
  }

  // --- Live updates ----------------------------------------------------------------
  let stream = null;
  function restartWatch() {
    stream?.stop();
    stream = watch(`/v1/${name}:watch`, {
      token: mine?.manageToken,
      onStatus: liveStatus(status),
      onChange: (ch) => {
        if (ch.reset) loadAnnouncements();
        if (ch.event) showEvent(ch.event);
        if (ch.announcement) {
          announcements.querySelector("[data-empty]")?.remove();
          addAnnouncement(ch.announcement, true);
          if (ch.kind === "CHANGE_KIND_ANNOUNCEMENT") announce(`Announcement: ${ch.announcement.text}`);
        }
        // Others' changes can only move a waitlisted RSVP (its position, a promotion); a
        // GOING one needs a refresh only when the meeting point first comes. Refreshing on
        // every change would be two requests per change from every participant's page.
        const waiting = myState === null || myState === "RSVP_STATE_WAITLISTED";
        const pointCame = myState === "RSVP_STATE_GOING" && ch.event?.meetingPoint && !meetingShown;
        if (mine && ch.kind !== "CHANGE_KIND_ANNOUNCEMENT" && (waiting || pointCame)) refreshMine();
      },
    });
  }

  fill(main, details,
    h("section", { "aria-labelledby": "att-h" }, h("h2", { id: "att-h" }, "Attendance"), attendance, status),
    manageLink, myRsvp, formSection,
    h("section", { "aria-labelledby": "ann-h" }, h("h2", { id: "ann-h" }, "Announcements"), announcements));
  showEvent(ev);
  await Promise.all([loadAnnouncements(), refreshMine()]);
  restartWatch();
}

// takeTokenFromLink reads the RSVP of a link like /e/ID#rsvp=RID&token=TOKEN and
// removes it from the address bar, so that it does not stay in the history or get shared
// by a screenshot. The fragment never reaches any server. It returns {name, manageToken},
// or null when the address holds no such link.
function takeTokenFromLink(eventId) {
  const p = new URLSearchParams(location.hash.slice(1));
  const rsvp = p.get("rsvp"), token = p.get("token");
  if (!rsvp || !token) return null;
  history.replaceState(null, "", location.pathname);
  return { name: rsvp.includes("/") ? rsvp : `events/${eventId}/rsvps/${rsvp}`, manageToken: token };
}

// A manage link opened on a page that is already showing changes only the fragment, and
// a browser does not load the page again for that: load it, so that the link is read.
addEventListener("hashchange", () => {
  if (new URLSearchParams(location.hash.slice(1)).get("token")) location.reload();
});

// confirmReplace asks, in the page (a dialog of DOM elements: the page's CSP allows no
// inline script, and window.confirm can be silenced by the browser), whether to replace
// the RSVP this browser holds for the event with the one of a link. Keeping it is the
// default: the dialog opens with that button focused, and Escape keeps it too. It
// resolves true to replace.
async function confirmReplace(main, mine, linked) {
  // What each RSVP is, as its own token reads it, so that the person can tell them apart.
  // (A sealed RSVP's name is not returned: the server cannot read it.)
  const describe = (r) => api(`/v1/${r.name}`, { token: r.manageToken }).then(
    (x) => `${{ RSVP_STATE_GOING: "Going", RSVP_STATE_WAITLISTED: "Waitlisted", RSVP_STATE_CANCELLED: "Cancelled" }[x.state] || label(x.state, "RSVP_STATE_")}` +
      (x.guests ? ` with ${x.guests} guest${x.guests > 1 ? "s" : ""}` : "") + (x.displayName ? `, as ${x.displayName}` : ""),
    () => "Rally does not know this RSVP (deleted, or the token is wrong).");
  const [ours, theirs] = await Promise.all([describe(mine), describe(linked)]);
  return new Promise((resolve) => {
    const keep = h("button", { type: "button", id: "rsvp-keep" }, "Keep the RSVP on this device");
    const replace = h("button", { type: "button", id: "rsvp-replace", class: "secondary" }, "Replace it with the link's RSVP");
    const dialog = h("section", { id: "rsvp-replace-dialog", class: "note", role: "alertdialog", "aria-modal": "true",
      "aria-labelledby": "rsvp-replace-h", "aria-describedby": "rsvp-replace-why" },
      h("h1", { id: "rsvp-replace-h" }, "Replace your RSVP?"),
      h("p", { id: "rsvp-replace-why" }, "This link is for another RSVP to this event than the one this device holds."),
      h("dl", { class: "facts" },
        h("dt", {}, "On this device"), h("dd", { id: "rsvp-replace-ours" }, ours),
        h("dt", {}, "In the link"), h("dd", { id: "rsvp-replace-theirs" }, theirs)),
      h("p", {}, "If you replace it, this device forgets its own RSVP: only its private link opens it again. ",
        "A link someone else sent you is their RSVP, and they can see what you do with it: replace only if the link is yours."),
      h("p", { class: "actions" }, keep, replace));
    const answer = (yes) => () => {
      removeEventListener("keydown", onKey);
      fill(main, h("p", {}, "Loading…"));
      resolve(yes);
    };
    const onKey = (e) => { if (e.key === "Escape") answer(false)(); };
    keep.addEventListener("click", answer(false));
    replace.addEventListener("click", answer(true));
    addEventListener("keydown", onKey);
    fill(main, dialog);
    keep.focus();
  });
}
