// The event page: details and safety information, live attendance and announcements
// (with their signatures checked here), the RSVP form and the participant's own RSVP
// (buddy, check-out, forget me). Without a network it shows the copy saved on this device
// (offline.js), and it prints as a card.
import { api, watch, requestId, ApiError } from "./api.js";
import { h, fill, id, when, range, short, venueText, attendanceText, errorText, saved, field, announce, liveStatus, label, describe } from "./ui.js";
import { t, lang } from "./i18n.js";
import { sealingOf, sealingFor, sealingNote, clearText, checkLength, sealNew, envelopeRefused, keysChangedText } from "./sealing.js";
import { saveEvent, loadEvent, forgetEvent, registerWorker } from "./offline.js";

const RSVP_FIELDS = { displayName: t("field.name"), contact: t("field.contact"), guests: t("field.guests") };
const BUDDY_FIELDS = { buddyCode: t("field.code"), nickname: t("field.nickname") };
const ACTIVE = ["RSVP_STATE_GOING", "RSVP_STATE_WAITLISTED"];

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

  let ev;
  try {
    ev = await api(`/v1/${name}`, { token: mine?.manageToken }).catch((err) => {
      // A manage token for an RSVP deleted since (after the event) is refused: read publicly.
      if (mine && err instanceof ApiError && err.status !== 404) return api(`/v1/${name}`);
      throw err;
    });
  } catch (err) {
    // No network (a TypeError, as fetch throws): the copy saved on this device, if any.
    const snap = err instanceof ApiError ? null : await loadEvent(eventId).catch(() => null);
    if (snap) return renderOffline(main, eventId, snap);
    throw err;
  }
  registerWorker();
  // Whether the campaign requires signed announcements: then an unsigned one is suspect.
  const requireSigned = ev.campaign
    ? await api(`/v1/${ev.campaign}`).then((c) => Boolean(c.requireSignedAnnouncements), () => false)
    : false;
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

  const card = h("section", { id: "print-card", class: "print-card", "aria-hidden": "true" });
  let meetingPoint = ""; // as last shown to this page's GOING RSVP

  function showEvent(e) {
    current = e;
    document.title = `${e.title} · Rally`;
    describe(e.description || e.title);
    fill(details, eventDetails(e, name));
    attendance.textContent = attendanceText(e);
    formSection.hidden = e.state === "EVENT_STATE_CANCELLED" || (mine && !mine.cancelled);
    fill(card, printCard(e, meetingPoint));
    saveOffline();
  }

  // Announcements by name, in the order they came, for the offline copy.
  const annSeen = new Map();
  function addAnnouncement(a, atTop) {
    if (annSeen.has(a.name)) return;
    annSeen.set(a.name, a);
    const li = announcementItem(a, name, requireSigned);
    if (atTop) announcements.prepend(li);
    else announcements.append(li);
    saveOffline();
  }
  async function loadAnnouncements() {
    const res = await api(`/v1/${name}/announcements`, { token: mine?.manageToken }).catch(() => ({}));
    announcements.replaceChildren();
    annSeen.clear();
    // newest first
    const list = (res.announcements || []).slice().sort((a, b) => b.createTime.localeCompare(a.createTime));
    for (const a of list) addAnnouncement(a, false);
    if (!list.length) announcements.append(h("li", { class: "muted", "data-empty": "" }, t("ann.none")));
  }

  // --- My RSVP ---------------------------------------------------------------------
  const stateEl = h("p", { id: "my-rsvp-state" });
  const positionEl = h("p", { id: "my-rsvp-position" });
  const meetingEl = h("p", { id: "meeting-point" });
  const myError = h("p", { class: "error", role: "alert" });
  const cancelBtn = h("button", { type: "button", id: "my-rsvp-cancel", onclick: cancelMine }, t("my.cancel"));
  const deleteBtn = h("button", { type: "button", id: "my-rsvp-delete", class: "danger", onclick: askForgetMe }, t("my.forgetMe"));
  const forgetBtn = h("button", { type: "button", class: "secondary", onclick: forget }, t("my.forgetDevice"));
  // Forget me asks first, in the page (window.confirm can be silenced by the browser).
  const forgetYes = h("button", { type: "button", id: "forget-me-confirm", class: "danger", onclick: forgetMe }, t("my.forgetYes"));
  const forgetNo = h("button", { type: "button", id: "forget-me-keep", class: "secondary", onclick: () => { forgetAsk.hidden = true; deleteBtn.focus(); } }, t("my.forgetKeep"));
  const forgetAsk = h("div", { id: "forget-me-question", class: "note warning", role: "alertdialog", "aria-labelledby": "forget-me-why", hidden: true },
    h("p", { id: "forget-me-why" }, t("my.forgetWhy")),
    h("p", { class: "actions" }, forgetYes, forgetNo));
  const forgotten = h("p", { id: "forgotten", class: "note", role: "status", hidden: true });

  // Check-out ("I'm home safe") and the buddy: see showCheckOut and showBuddy.
  const checkOutEl = h("div", { id: "check-out" });
  const checkOutBtn = h("button", { type: "button", id: "check-out-button", onclick: checkOut }, t("checkout.button"));
  const checkOutHint = h("small", { id: "check-out-hint", class: "hint" });
  const checkOutError = h("p", { id: "check-out-error", class: "error", role: "alert" });
  const checkOutDone = h("p", { id: "check-out-state", class: "ok" });
  fill(checkOutEl, h("p", { class: "actions" }, checkOutBtn), checkOutHint, checkOutError, checkOutDone);

  const pairNick = h("input", { id: "buddy-pair-nickname", name: "nickname", autocomplete: "off", maxlength: 40 });
  const pairBtn = h("button", { type: "submit", id: "buddy-pair-submit" }, t("buddy.pair"));
  const pairForm = h("form", { id: "buddy-pair-form", novalidate: true, onsubmit: pair },
    field(t("buddy.nickname"), pairNick, t("buddy.nicknameHint")), pairBtn);
  const codeBox = h("div", { id: "buddy-code-box", class: "buddy-code-box", hidden: true });
  const joinCode = h("input", { id: "buddy-join-code", name: "buddyCode", autocomplete: "off", autocapitalize: "none", spellcheck: "false" });
  const joinNick = h("input", { id: "buddy-join-nickname", name: "nickname", autocomplete: "off", maxlength: 40 });
  const joinBtn = h("button", { type: "submit", id: "buddy-join-submit" }, t("buddy.join"));
  const joinForm = h("form", { id: "buddy-join-form", novalidate: true, onsubmit: join },
    field(t("buddy.code"), joinCode, t("buddy.codeHint")),
    field(t("buddy.nickname"), joinNick), joinBtn);
  const buddyError = h("p", { id: "buddy-error", class: "error", role: "alert" });
  const buddyInfo = h("div", { id: "buddy-info" });
  const buddyChoose = h("div", { id: "buddy-choose" },
    h("p", { class: "hint" }, t("buddy.what")),
    h("h4", {}, t("buddy.pair")), pairForm, codeBox,
    h("h4", {}, t("buddy.join")), joinForm);
  const buddyEl = h("section", { id: "buddy", class: "buddy", "aria-labelledby": "buddy-h", hidden: true },
    h("h3", { id: "buddy-h" }, t("buddy.title")), buddyInfo, buddyChoose, buddyError);

  fill(myRsvp, h("h2", { id: "my-rsvp-h" }, t("my.title")), stateEl, positionEl, meetingEl, checkOutEl, buddyEl, myError,
    h("p", { class: "actions" }, cancelBtn, deleteBtn, forgetBtn), forgetAsk);
  let revealTimer = 0;
  let checkOutTimer = 0;
  let codeTimer = 0;

  let myState = null; // the state of this browser's RSVP as last read
  let meetingShown = false;
  let lastBuddy = null; // the buddy as last shown, to say what changed
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
        ? t("my.unknown")
        : errorText(err));
      return;
    }
    if (!mine) return; // forgotten meanwhile
    showMine(r);
    const going = r.state === "RSVP_STATE_GOING";
    formSection.hidden = current.state === "EVENT_STATE_CANCELLED" || !mine.cancelled;

    // The meeting point only comes to a GOING RSVP's token, once the reveal time passed.
    let e = current;
    if (going) e = await api(`/v1/${name}`, { token: mine.manageToken }).catch(() => current);
    if (!mine) return;
    if (e !== current) showEvent(e); // a fresh read: its attendance too
    clearTimeout(revealTimer);
    meetingShown = Boolean(going && e.meetingPoint);
    meetingPoint = meetingShown ? e.meetingPoint : "";
    if (meetingShown) fill(meetingEl, h("strong", {}, `${t("my.meetingPoint")} `), e.meetingPoint);
    else if (going && e.meetingPointRevealTime) {
      fill(meetingEl, t("my.meetingLater", { time: short(e.meetingPointRevealTime) }));
      const wait = Date.parse(e.meetingPointRevealTime) - Date.now() + 1000;
      if (wait > 0 && wait < 2 ** 31) revealTimer = setTimeout(refreshMine, wait);
    } else if (going) fill(meetingEl, t("my.meetingHere"));
    else fill(meetingEl, "");
    fill(card, printCard(current, meetingPoint));
    saveOffline();
  }

  // showMine shows the RSVP as its holder reads it: from GetRsvp, or from the stream's
  // BUDDY change, which carries it whole.
  function showMine(r) {
    myState = r.state;
    const guests = r.guests ? t("my.withGuests", { count: Number(r.guests) }) : "";
    const as = r.displayName || (sent.rsvp === r.name ? sent.displayName : "");
    fill(stateEl, { RSVP_STATE_GOING: t("my.going", { guests }), RSVP_STATE_WAITLISTED: t("my.waitlisted", { guests }), RSVP_STATE_CANCELLED: t("my.cancelled") }[r.state] || label(r.state, "RSVP_STATE_"),
      as && ` ${t("my.as", { name: as })}`);
    fill(positionEl, r.state === "RSVP_STATE_WAITLISTED" && r.waitlistPosition ? t("my.position", { count: Number(r.waitlistPosition) }) : "");
    cancelBtn.hidden = r.state === "RSVP_STATE_CANCELLED";
    if (r.state === "RSVP_STATE_CANCELLED" && !mine.cancelled) {
      mine = { ...mine, cancelled: true };
      saved.set(key, mine);
    }
    const active = ACTIVE.includes(r.state);
    showCheckOut(r, active);
    showBuddy(r, active);
  }

  // Check-out is possible from the event's start (the server says FAILED_PRECONDITION
  // before): the button is enabled then, by a timer if the page is open at that moment.
  function showCheckOut(r, active) {
    clearTimeout(checkOutTimer);
    checkOutEl.hidden = !active && !r.checkOutTime;
    if (r.checkOutTime) {
      checkOutBtn.hidden = true;
      checkOutHint.textContent = checkOutError.textContent = "";
      checkOutDone.textContent = t("checkout.done", { time: short(r.checkOutTime) });
      return;
    }
    checkOutBtn.hidden = false;
    checkOutDone.textContent = "";
    const wait = Date.parse(current.startTime) - Date.now();
    checkOutBtn.disabled = wait > 0;
    checkOutHint.textContent = wait > 0
      ? t("checkout.hintBefore", { time: short(current.startTime) })
      : t("checkout.hint");
    if (wait > 0 && wait < 2 ** 31) checkOutTimer = setTimeout(() => showCheckOut(r, active), wait + 500);
  }

  async function checkOut() {
    checkOutError.textContent = "";
    checkOutBtn.disabled = true;
    try {
      const r = await api(`/v1/${mine.name}:checkOut`, { method: "POST", body: {}, token: mine.manageToken });
      announce(t("checkout.announce"));
      showMine(r);
    } catch (err) {
      // Before the start (a clock that is off), the server's reason, in its words.
      checkOutError.textContent = errorText(err);
      checkOutBtn.disabled = false;
    }
  }

  function showBuddy(r, active) {
    const b = r.buddy && r.buddy.nickname ? r.buddy : null;
    buddyEl.hidden = !b && !active;
    if (b) {
      clearInterval(codeTimer);
      codeBox.hidden = true;
      buddyChoose.hidden = true;
      fill(buddyInfo,
        h("p", { id: "buddy-name" }, `${t("buddy.yours")} `, h("strong", {}, b.nickname)),
        h("p", { id: "buddy-state", class: b.checkOutTime ? "ok" : "muted" }, b.checkOutTime
          ? t("buddy.safeAt", { name: b.nickname, time: short(b.checkOutTime) })
          : t("buddy.notYet")));
    } else {
      buddyChoose.hidden = false;
      fill(buddyInfo);
    }
    lastBuddy = b;
  }

  // sayBuddy tells a screen reader (and the status bar) what changed about the buddy.
  function sayBuddy(r) {
    const b = r.buddy && r.buddy.nickname ? r.buddy : null;
    if (b && !lastBuddy) announce(t("buddy.now", { name: b.nickname }));
    else if (b && b.checkOutTime && !lastBuddy?.checkOutTime) announce(t("buddy.safe", { name: b.nickname }));
    else if (!b && lastBuddy) announce(t("buddy.none"));
  }

  async function pair(e) {
    e.preventDefault();
    buddyError.textContent = "";
    pairNick.removeAttribute("aria-invalid");
    pairBtn.disabled = true;
    try {
      const res = await api(`/v1/${mine.name}:pairBuddy`, { method: "POST", body: { nickname: pairNick.value.trim() }, token: mine.manageToken });
      showCode(res);
    } catch (err) {
      buddyError.textContent = errorText(err, BUDDY_FIELDS);
      if ((err.violations || []).length) pairNick.setAttribute("aria-invalid", "true");
    }
    pairBtn.disabled = false;
  }

  // showCode shows the buddy code large, in groups of four to read out, with the time
  // left. It lives only in this page: a new one replaces it, as on the server.
  function showCode({ buddyCode, expireTime }) {
    clearInterval(codeTimer);
    const code = h("p", { id: "buddy-code", class: "buddy-code" }, (buddyCode || "").match(/.{1,4}/g)?.join("-") || "");
    const left = h("p", { id: "buddy-code-expiry" });
    const tick = () => {
      const s = Math.ceil((Date.parse(expireTime) - Date.now()) / 1000);
      if (s > 0) {
        left.textContent = t("buddy.expiresIn", { time: `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` });
        return;
      }
      clearInterval(codeTimer);
      code.classList.add("expired");
      left.textContent = t("buddy.expired");
    };
    tick();
    codeTimer = setInterval(tick, 1000);
    fill(codeBox, h("p", {}, t("buddy.show")), code, left);
    codeBox.hidden = false;
    announce(t("buddy.shown"));
  }

  async function join(e) {
    e.preventDefault();
    buddyError.textContent = "";
    for (const el of [joinCode, joinNick]) el.removeAttribute("aria-invalid");
    joinBtn.disabled = true;
    try {
      const r = await api(`/v1/${mine.name}:joinBuddy`, {
        method: "POST", body: { buddyCode: normaliseCode(joinCode.value), nickname: joinNick.value.trim() }, token: mine.manageToken,
      });
      joinForm.reset();
      sayBuddy(r);
      showMine(r);
    } catch (err) {
      buddyError.textContent = errorText(err, BUDDY_FIELDS);
      const inputs = { buddyCode: joinCode, nickname: joinNick };
      for (const v of err.violations || []) inputs[camel(v.field)]?.setAttribute("aria-invalid", "true");
    }
    joinBtn.disabled = false;
  }

  async function cancelMine() {
    myError.textContent = "";
    cancelBtn.disabled = true;
    try {
      await api(`/v1/${mine.name}:cancel`, { method: "POST", body: {}, token: mine.manageToken });
      announce(t("my.cancelledAnnounce"));
    } catch (err) {
      myError.textContent = errorText(err);
    }
    cancelBtn.disabled = false;
    await refreshMine();
  }

  function askForgetMe() {
    myError.textContent = "";
    forgetAsk.hidden = false;
    forgetNo.focus();
  }

  // forgetMe deletes the RSVP on the server, then everything this device keeps of it.
  async function forgetMe() {
    forgetYes.disabled = true;
    try {
      await api(`/v1/${mine.name}`, { method: "DELETE", token: mine.manageToken });
    } catch (err) {
      // Already gone (deleted by an organiser, or after the event): the device still forgets.
      if (!(err instanceof ApiError && err.code === 5)) {
        myError.textContent = errorText(err);
        forgetYes.disabled = false;
        return;
      }
    }
    forgetYes.disabled = false;
    forgetAsk.hidden = true;
    await forgetOnDevice();
    fill(forgotten, h("strong", {}, t("my.done")), ` ${t("my.forgotten")}`);
    forgotten.hidden = false;
    announce(t("my.forgottenAnnounce"));
  }

  // forget forgets the RSVP on this device only (it stays on the server).
  function forget() {
    forgetOnDevice();
  }

  // forgetOnDevice drops what this device keeps of the RSVP: its token, the saved copy of
  // the event page (which may hold the meeting point), and the page's view of it. The
  // public event stays shown, and is not saved again by this page.
  async function forgetOnDevice() {
    saved.remove(key);
    mine = null;
    myState = null;
    meetingPoint = "";
    meetingShown = false;
    lastBuddy = null;
    clearTimeout(revealTimer);
    clearTimeout(checkOutTimer);
    clearInterval(codeTimer);
    offlineOff = true;
    clearTimeout(saveTimer);
    manageLink.hidden = true;
    myRsvp.hidden = true;
    formSection.hidden = current.state === "EVENT_STATE_CANCELLED";
    fill(card, printCard(current, ""));
    restartWatch();
    await saving.catch(() => {});
    await forgetEvent(eventId).catch(() => {});
    await loadAnnouncements(); // those for RSVP holders go
  }

  // --- The offline copy ------------------------------------------------------------
  // Saved after each change, a moment later so that a burst of changes is one write.
  let saveTimer = 0;
  let saving = Promise.resolve();
  let offlineOff = false; // after forgetting the RSVP: this page saves nothing more
  function saveOffline() {
    clearTimeout(saveTimer);
    if (offlineOff) return;
    saveTimer = setTimeout(() => {
      if (offlineOff) return;
      const snap = {
        event: { ...current, meetingPoint: meetingPoint || undefined },
        announcements: [...annSeen.values()],
        requireSigned,
        rsvpState: mine ? myState : null,
        savedAt: new Date().toISOString(),
      };
      saving = saveEvent(eventId, snap).catch(() => {});
    }, 200);
  }

  // --- The RSVP form ---------------------------------------------------------------
  const nameIn = h("input", { id: "rsvp-name", name: "displayName", autocomplete: "off", maxlength: 60 });
  const contactIn = h("input", { id: "rsvp-contact", name: "contact", autocomplete: "off" });
  const guestsIn = h("input", { id: "rsvp-guests", name: "guests", type: "number", inputmode: "numeric", min: 0, max: 5, value: 0 });
  const formError = h("p", { id: "form-error", class: "error", role: "alert" });
  const submit = h("button", { type: "submit", id: "rsvp-submit" }, t("rsvp.submit"));
  // How the name and contact are kept: sealed to the organisers' keys (with their
  // fingerprints), or, when the campaign has no key, in clear: said next to the fields
  // as soon as something is typed in them, before it is sent.
  const sealedTo = h("div", { id: "rsvp-sealed-to", class: "note" });
  const clearNotice = h("p", { id: "rsvp-clear-notice", class: "note warning", role: "status", hidden: true });
  function showSealing() {
    sealingNote(sealedTo, sealing, "nameContact");
    sealedTo.hidden = !sealedTo.firstChild;
    const typed = nameIn.value.trim() !== "" || contactIn.value.trim() !== "";
    clearNotice.textContent = clearText("nameContact");
    clearNotice.hidden = !(typed && sealing.state === "none");
  }
  // One requestId per attempt: a retry after a lost answer returns the same RSVP instead
  // of making a second, so it sends the same RSVP ID and envelope too. Changing the form
  // starts a new attempt.
  let attempt = "";
  let sealedFor = { attempt: "", id: "", envelope: null };
  const form = h("form", { id: "rsvp-form", novalidate: true, onsubmit: send, oninput: () => { attempt = ""; showSealing(); } },
    field(t("rsvp.name"), nameIn, t("rsvp.nameHint")),
    field(t("rsvp.contact"), contactIn, t("rsvp.contactHint")),
    clearNotice,
    field(t("rsvp.guests"), guestsIn, t("rsvp.guestsHint", { min: 0, max: 5 })),
    formError, submit);
  fill(formSection, h("h2", { id: "rsvp-h" }, t("rsvp.title")),
    h("p", {}, t("rsvp.lead")), sealedTo, form);
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
        if (sealing.state === "mismatch") throw new Error(t("rsvp.mismatch"));
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
      forgotten.hidden = true;
      offlineOff = false;
      form.reset();
      showSealing();
      showManageLink();
      announce(res.storedInClear ? t("rsvp.savedClear") : t("rsvp.saved"));
      restartWatch();
      await refreshMine();
    } catch (err) {
      if (err instanceof ApiError && err.code === 9) {
        formError.textContent = current.state === "EVENT_STATE_CANCELLED" || Date.parse(current.endTime) < Date.now()
          ? t("rsvp.closed")
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
    // With the page's language (other than English), so that the link opens in it on
    // another device too.
    const url = `${location.origin}/e/${eventId}${lang === "en" ? "" : `?hl=${lang}`}#rsvp=${encodeURIComponent(id(mine.name))}&token=${encodeURIComponent(mine.manageToken)}`;
    fill(manageLink,
      h("p", {}, h("strong", {}, t("link.keep")), ` ${t("link.why")}`),
      h("p", { class: "break" }, h("a", { href: url }, url)),
      h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(url).then(() => announce(t("link.copied"))) }, t("link.copy")));
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
        // On the holder's own stream (opened with the manage token): the buddy joined,
        // checked out or left. The change carries the holder's RSVP whole.
        if (ch.kind === "CHANGE_KIND_BUDDY") {
          if (mine && ch.rsvp && (!ch.rsvp.name || ch.rsvp.name === mine.name)) {
            const was = myState;
            sayBuddy(ch.rsvp);
            showMine(ch.rsvp);
            // Promoted from the waitlist: the meeting point may come with the place, and
            // the attendance shown may have moved without a public change to say so;
            // refreshMine reads the event for a GOING RSVP and shows both.
            if (was === "RSVP_STATE_WAITLISTED" && ch.rsvp.state !== was) refreshMine();
          }
          return;
        }
        if (ch.reset) loadAnnouncements();
        if (ch.event) showEvent(ch.event);
        if (ch.announcement) {
          announcements.querySelector("[data-empty]")?.remove();
          addAnnouncement(ch.announcement, true);
          if (ch.kind === "CHANGE_KIND_ANNOUNCEMENT") announce(t("ann.new", { text: ch.announcement.text }));
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
    h("section", { "aria-labelledby": "att-h" }, h("h2", { id: "att-h" }, t("att.title")), attendance, status),
    manageLink, forgotten, myRsvp, formSection,
    h("section", { "aria-labelledby": "ann-h" }, h("h2", { id: "ann-h" }, t("ann.title")), announcements),
    card);
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
    (x) => `${label(x.state, "RSVP_STATE_")}` +
      (x.guests ? t("my.withGuests", { count: Number(x.guests) }) : "") + (x.displayName ? t("replace.as", { name: x.displayName }) : ""),
    () => t("replace.unknown"));
  const [ours, theirs] = await Promise.all([describe(mine), describe(linked)]);
  return new Promise((resolve) => {
    const keep = h("button", { type: "button", id: "rsvp-keep" }, t("replace.keep"));
    const replace = h("button", { type: "button", id: "rsvp-replace", class: "secondary" }, t("replace.replace"));
    const dialog = h("section", { id: "rsvp-replace-dialog", class: "note", role: "alertdialog", "aria-modal": "true",
      "aria-labelledby": "rsvp-replace-h", "aria-describedby": "rsvp-replace-why" },
      h("h1", { id: "rsvp-replace-h" }, t("replace.title")),
      h("p", { id: "rsvp-replace-why" }, t("replace.why")),
      h("dl", { class: "facts" },
        h("dt", {}, t("replace.ours")), h("dd", { id: "rsvp-replace-ours" }, ours),
        h("dt", {}, t("replace.theirs")), h("dd", { id: "rsvp-replace-theirs" }, theirs)),
      h("p", {}, t("replace.warning")),
      h("p", { class: "actions" }, keep, replace));
    const answer = (yes) => () => {
      removeEventListener("keydown", onKey);
      fill(main, h("p", { "data-loading": "" }, t("page.loading")));
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

// --- Shared by the online and the offline page ---------------------------------------

// eventDetails is the head of the event page: title, time and place, and right under
// them the safety information, which must be found at a glance.
function eventDetails(e, name) {
  const cancelled = e.state === "EVENT_STATE_CANCELLED";
  return [
    cancelled && h("div", { class: "banner", role: "alert" },
      h("strong", {}, t("event.cancelled")), e.cancelReason && ` ${t("event.reason", { reason: e.cancelReason })}`),
    h("h1", {}, e.title),
    e.description && h("p", { class: "lead" }, e.description),
    h("dl", { class: "facts" },
      h("dt", {}, t("event.when")), h("dd", { id: "event-when" }, when(e)),
      h("dt", {}, t("event.where")), h("dd", { id: "event-where" }, venueText(e.venue)),
      e.campaign && [h("dt", {}, t("event.campaign")), h("dd", {}, h("a", { href: `/c/${id(e.campaign)}` }, t("event.allEvents")))]),
    safetyBlock(e.safety),
    h("p", { class: "actions" },
      h("a", { href: `/v1/${name}.ics` }, t("event.ics")),
      h("button", { type: "button", id: "print-card-button", class: "secondary", onclick: () => print() }, t("event.print"))),
  ];
}

function hasSafety(s) {
  return Boolean(s && (s.legalHotline || s.emergencyNumber || s.legalObservers || s.notes));
}

function safetyBlock(s) {
  if (!hasSafety(s)) return null;
  return h("section", { id: "safety", class: "safety", "aria-labelledby": "safety-h" },
    h("h2", { id: "safety-h" }, t("safety.title")),
    h("dl", { class: "facts" },
      s.legalHotline && [h("dt", {}, t("safety.hotline")), h("dd", { id: "safety-hotline" }, tel(s.legalHotline))],
      s.emergencyNumber && [h("dt", {}, t("safety.emergency")), h("dd", { id: "safety-emergency" }, tel(s.emergencyNumber))],
      s.legalObservers && [h("dt", {}, t("safety.observers")), h("dd", { id: "safety-observers" }, t("safety.observersPresent"))]),
    s.notes && h("p", { id: "safety-notes", class: "pre" }, s.notes));
}

// tel links a phone number for dialling: a leading + and the digits, nothing else (the
// number comes from the organisers, and a tel: link with other characters may dial
// something else or nothing).
function tel(number) {
  const digits = number.replace(/[^0-9]/g, "");
  if (!digits) return number;
  return h("a", { href: `tel:${number.trim().startsWith("+") ? "+" : ""}${digits}`, class: "tel" }, number);
}

// printCard is what the printed page shows (style.css's print rules hide the rest): the
// facts to carry on paper, where a phone may be taken or dead.
function printCard(e, meetingPoint) {
  const s = e.safety || {};
  const tz = e.timeZone || "UTC";
  return [
    h("h1", {}, e.title),
    h("dl", { class: "facts" },
      h("dt", {}, t("event.when")), h("dd", {}, range(e.startTime, e.endTime, tz), ` (${tz})`),
      h("dt", {}, t("event.where")), h("dd", {}, venueText(e.venue)),
      meetingPoint && [h("dt", {}, t("card.meetingPoint")), h("dd", {}, meetingPoint)],
      s.legalHotline && [h("dt", {}, t("card.hotline")), h("dd", { class: "big" }, s.legalHotline)],
      s.emergencyNumber && [h("dt", {}, t("card.emergency")), h("dd", { class: "big" }, s.emergencyNumber)],
      s.legalObservers && [h("dt", {}, t("safety.observers")), h("dd", {}, t("card.present"))]),
    s.notes && h("p", { class: "pre" }, s.notes),
  ];
}

// verify checks an announcement's signature on this device (signing.js, WebCrypto
// Ed25519). Loaded on first use and not at the page's start, so that a browser without
// Ed25519, or an offline page whose cache lacks the file, still shows the event: the
// announcement then says its signature could not be checked.
let signing = null;
function verify(eventName, a) {
  signing = signing || import("./signing.js");
  return signing.then(async (m) => {
    const r = await m.verifyAnnouncement(eventName, a);
    // signing.js's REASONS in English, the catalog's in other languages.
    const key = `sig.${r.reason}`;
    const text = t(key) === key ? m.REASONS[r.reason] || r.reason : t(key);
    return r.ok ? r : { ...r, text };
  }).catch(() => ({ ok: false, reason: "unavailable", text: t("sig.unavailable") }));
}

// announcementItem shows one announcement, and whether it is signed by the organisers:
// a signature is checked here, against its own public key, whatever the server says.
function announcementItem(a, eventName, requireSigned) {
  const trust = h("p", { class: "ann-trust" });
  const li = h("li", { "data-announcement": id(a.name) },
    h("p", {}, a.text),
    h("p", { class: "muted" }, short(a.createTime),
      a.audience === "ANNOUNCEMENT_AUDIENCE_RSVP_HOLDERS" && ` · ${t("ann.forHolders")}`),
    trust);
  const warn = (why, reason) => {
    trust.className = "ann-trust ann-warning";
    trust.setAttribute("role", "note");
    fill(trust, h("strong", {}, `${t("ann.warning")} `), why, ` — ${t("ann.mayNotCome")}`,
      reason && h("small", { class: "hint" }, `(${reason})`));
  };
  if (!a.signature) {
    if (requireSigned) warn(t("ann.unsignedRequired"));
  } else {
    verify(eventName, a).then((r) => {
      if (r.ok) {
        trust.className = "ann-trust ann-signed";
        fill(trust, `${t("ann.signedBy")} `, h("span", { class: "fingerprint" }, r.fingerprint));
      } else if (r.reason === "unsupported" || r.reason === "unavailable") {
        // Not a bad signature: this browser cannot tell. Said as plainly, not as an alarm.
        trust.className = "ann-trust ann-unchecked";
        fill(trust, `${t("ann.unchecked")} `, r.text);
      } else warn(t("ann.badSignature"), r.text);
    });
  }
  return li;
}

// renderOffline shows the copy of the event page saved on this device, when Rally cannot
// be reached: the facts, the safety information, the meeting point if it was shown to
// this device's GOING RSVP, and the announcements, with when it was saved.
function renderOffline(main, eventId, snap) {
  const e = snap.event;
  const name = `events/${eventId}`;
  document.title = `${e.title} · Rally (${t("offline.word")})`;
  const list = h("ul", { id: "announcements", class: "announcements" });
  const anns = (snap.announcements || []).slice().sort((a, b) => b.createTime.localeCompare(a.createTime));
  for (const a of anns) list.append(announcementItem(a, name, snap.requireSigned));
  if (!anns.length) list.append(h("li", { class: "muted" }, t("offline.noAnn")));
  fill(main,
    h("div", { id: "offline-note", class: "note warning", role: "status" },
      h("p", {}, h("strong", {}, t("offline.title")), t("offline.note", { time: short(snap.savedAt) })),
      h("button", { type: "button", class: "secondary", onclick: () => location.reload() }, t("offline.retry"))),
    eventDetails(e, name),
    e.meetingPoint && h("section", { id: "my-rsvp", "aria-labelledby": "my-rsvp-h" },
      h("h2", { id: "my-rsvp-h" }, t("my.title")),
      h("p", { id: "meeting-point" }, h("strong", {}, `${t("my.meetingPoint")} `), e.meetingPoint)),
    h("section", { "aria-labelledby": "ann-h" }, h("h2", { id: "ann-h" }, t("ann.title")), list),
    h("section", { id: "print-card", class: "print-card", "aria-hidden": "true" }, printCard(e, e.meetingPoint)));
}

// normaliseCode accepts a buddy code as people copy it: any case, with spaces or dashes.
function normaliseCode(s) {
  return s.toLowerCase().replace(/[\s-]+/g, "");
}

const camel = (field) => (field || "").split(".").pop().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
