// The organiser console: sign in with an API token (an organiser's, or the operator's
// admin token), then run one's campaigns from a phone: campaigns and their co-organisers,
// events, tasks, announcements, the RSVP list, check-in at the door with a live count,
// and the audit log. The token is kept in sessionStorage, so it is gone when the tab
// closes. Every action updates the page in place: nothing reloads it, so that what an
// organiser has open (a search at the door, a form half filled) stays.
//
// Participants' personal fields come sealed to the organisers' keys (envelopes): the
// console opens them here, with the organiser's private key kept in this browser
// (keystore.js), and never sends what it opens anywhere.
//
// Announcements are signed here (signing.js) with the organiser's Ed25519 key, kept in
// this browser like the envelope keys, so that participants' pages can tell they come
// from the organisers even if the server or this console's API token is compromised.
//
// The views live in organise/: keys.js (the keys and opening envelopes), events.js,
// tasks.js, and common.js (what they share).
import { api, listAll, requestId } from "./api.js";
import { h, fill, id, errorText, field, announce, viewerZone } from "./ui.js";
import { t, tx, loadNamespace, formatDateTime } from "./i18n.js";
import { keyring, loadKeyring, keysSection, signingSection, redraw } from "./organise/keys.js";
import { eventCard, eventForm } from "./organise/events.js";
import { taskCard, taskForm } from "./organise/tasks.js";
import { action, setMe, toLocal, at } from "./organise/common.js";

await loadNamespace("console");

const TOKEN_KEY = "rally.orgToken";

export async function render(main) {
  document.title = t("console.docTitle");
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
  setMe(me ? me.name : null);
  const [all, invitations] = await Promise.all([
    listAll("/v1/campaigns", "campaigns", { token }),
    me ? listAll("/v1/organisers/me/campaignInvitations", "campaignInvitations", { token }).catch(() => []) : [],
    loadKeyring(token, me),
  ]);
  const campaigns = me ? all.filter((c) => c.owner === me.name || (c.organisers || []).includes(me.name)) : all;
  const loaded = await Promise.all(campaigns.map((c) => campaignData(token, c)));

  const signOut = h("button", { type: "button", id: "sign-out", class: "secondary", onclick: () => {
    sessionStorage.removeItem(TOKEN_KEY);
    signIn(main);
    announce(t("console.signedOut"));
  } }, t("console.signOut"));
  const list = h("div", { id: "campaigns" });
  const nav = h("ul", { class: "console-nav", id: "console-nav" });
  const ctx = { token, me, list, nav };
  fill(main,
    h("h1", {}, t("console.title")),
    h("p", { id: "signed-in" }, me
      ? tx("console.signedInAs", { who: me.displayName || id(me.name), id: h("code", {}, id(me.name)) })
      : t("console.signedInAdmin"), " ", signOut),
    h("nav", { "aria-label": t("console.navLabel") }, nav),
    keysSection(token),
    keyring.registered && signingSection(token),
    invitations.length ? invitationsSection(ctx, invitations) : "",
    h("h2", { id: "campaigns-h" }, t("console.campaigns")),
    newCampaign(ctx),
    !loaded.length && h("p", { id: "no-campaigns" }, t("console.noCampaigns")),
    list);
  for (const d of loaded) addCampaign(ctx, d);
}

async function campaignData(token, c) {
  const [events, tasks] = await Promise.all([
    listAll("/v1/events", "events", { token, query: { campaign: c.name, showCancelled: true } }),
    listAll("/v1/tasks", "tasks", { token, query: { campaign: c.name } }),
  ]);
  return { c, events, tasks };
}

function signIn(main, error = "") {
  document.title = t("console.signInTitle");
  const input = h("input", { id: "org-token", type: "password", autocomplete: "off", spellcheck: "false", required: true });
  const btn = h("button", { type: "submit" }, t("console.signIn"));
  fill(main,
    h("h1", {}, t("console.signInTitle")),
    h("form", {
      onsubmit: async (e) => {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        btn.disabled = true;
        try {
          await render(main);
        } catch (err) {
          signIn(main, errorText(err));
        }
      },
    },
    field(t("console.tokenLabel"), input, t("console.tokenHint")),
    h("p", { class: "error", role: "alert" }, error),
    btn),
    h("p", { class: "hint", id: "sign-in-help" }, t("console.tokenHelp")));
}

// --- Invitations to co-organise --------------------------------------------------------

function invitationsSection(ctx, invitations) {
  const el = h("section", { id: "invitations", class: "panel", "aria-labelledby": "invitations-h" });
  const ul = h("ul", { class: "plain" });
  for (const inv of invitations) {
    const cname = inv.name.split("/invitations/")[0];
    const li = h("li", { "data-invitation": id(cname) });
    const msg = h("p", { class: "error", role: "alert" });
    const accept = h("button", { type: "button", id: `accept-${id(cname)}` }, t("console.inv.accept"));
    const decline = h("button", { type: "button", class: "secondary", id: `decline-${id(cname)}` }, t("console.inv.decline"));
    const title = h("strong", {}, id(cname));
    api(`/v1/${cname}`).then((c) => { title.textContent = c.title; }).catch(() => {});
    accept.addEventListener("click", async () => {
      const c = await action(accept, msg, () => api(`/v1/${cname}:acceptInvitation`, { method: "POST", token: ctx.token, body: {} }), t("console.inv.accepted"));
      if (!c) return;
      li.remove();
      if (!ul.children.length) el.remove();
      document.getElementById("no-campaigns")?.remove();
      addCampaign(ctx, await campaignData(ctx.token, c));
    });
    decline.addEventListener("click", async () => {
      const ok = await action(decline, msg, () => api(`/v1/${cname}:declineInvitation`, { method: "POST", token: ctx.token, body: {} }).then(() => true), t("console.inv.declined"));
      if (!ok) return;
      li.remove();
      if (!ul.children.length) el.remove();
    });
    fill(li, h("p", {}, tx("console.inv.text", { campaign: title, by: inv.inviter ? id(inv.inviter) : t("console.inv.operator") })),
      h("p", { class: "actions" }, accept, decline), msg);
    ul.append(li);
  }
  return fill(el, h("h2", { id: "invitations-h" }, t("console.inv.title")), h("p", { class: "hint" }, t("console.inv.hint")), ul);
}

// --- Campaigns ---------------------------------------------------------------------------

function newCampaign(ctx) {
  const details = h("details", { id: "new-campaign", class: "panel" }, h("summary", {}, t("console.camp.create")));
  const form = campaignForm(ctx.token, null, async (c) => {
    details.open = false;
    details.replaceWith(newCampaign(ctx));
    document.getElementById("no-campaigns")?.remove();
    addCampaign(ctx, { c, events: [], tasks: [] }).scrollIntoView({ block: "start" });
    announce(t("console.camp.created"));
  });
  details.append(form);
  return details;
}

function addCampaign(ctx, d) {
  const section = campaignSection(ctx, d);
  ctx.list.append(section);
  const cid = id(d.c.name);
  const link = h("a", { href: `#campaign-${cid}` }, d.c.title);
  section.addEventListener("titlechange", () => { link.textContent = d.c.title; });
  ctx.nav.append(h("li", { "data-campaign": cid }, link));
  return section;
}

// campaignSection is one campaign: its header and forms, then its events and tasks.
function campaignSection(ctx, { c, events, tasks }) {
  const { token } = ctx;
  const cid = id(c.name);
  const section = h("section", { class: "campaign", id: `campaign-${cid}`, "data-campaign": cid, "aria-labelledby": `c-${cid}` });
  const head = h("div", { class: "campaign-head" });
  function renderHead() {
    const role = !ctx.me ? "" : c.owner === ctx.me.name ? t("console.camp.roleOwner") : t("console.camp.roleCo");
    fill(head,
      h("h2", { id: `c-${cid}` }, c.title, " ", h("a", { href: `/c/${cid}`, class: "small" }, t("console.camp.publicPage"))),
      c.description && h("p", { class: "pre clamp" }, c.description),
      h("p", { class: "muted small" }, [role, (c.hashtags || []).join(" ")].filter(Boolean).join(" · ")));
  }
  renderHead();
  const evList = h("ul", { class: "cards", id: `events-${cid}` });
  const taskList = h("ul", { class: "cards", id: `tasks-${cid}` });
  const noEvents = h("p", { class: "muted", hidden: events.length > 0 }, t("console.ev.none"));
  const noTasks = h("p", { class: "muted", hidden: tasks.length > 0 }, t("console.task.none"));
  for (const e of events) evList.append(eventCard(token, c, e));
  for (const tk of tasks) taskList.append(taskCard(token, c, tk, events));

  const newEvent = () => h("details", { id: `new-event-${cid}` }, h("summary", {}, t("console.ev.createTitle")),
    eventForm(token, c, null, (e, form) => {
      events.push(e);
      evList.prepend(eventCard(token, c, e));
      noEvents.hidden = true;
      form.closest("details").replaceWith(newEvent());
      announce(t("console.ev.created"));
    }));
  const newTask = () => h("details", { id: `new-task-${cid}` }, h("summary", {}, t("console.task.createTitle")),
    taskForm(token, c, null, events, (tk, form) => {
      taskList.prepend(taskCard(token, c, tk, events));
      noTasks.hidden = true;
      form.closest("details").replaceWith(newTask());
      announce(t("console.task.created"));
    }));

  const edit = h("details", { id: `edit-campaign-${cid}` }, h("summary", {}, t("console.camp.edit")));
  const fillEdit = () => {
    fill(edit, h("summary", {}, t("console.camp.edit")), campaignForm(token, c, (got) => {
      Object.assign(c, got);
      renderHead();
      edit.open = false;
      fillEdit();
      section.dispatchEvent(new CustomEvent("titlechange"));
      announce(t("console.camp.saved"));
    }));
  };
  fillEdit();

  return fill(section, head, edit, campaignSettings(token, c), organisersView(ctx, c),
    h("h3", {}, t("console.ev.heading")), newEvent(), noEvents, evList,
    h("h3", {}, t("console.task.heading")), newTask(), noTasks, taskList);
}

// campaignForm creates a campaign, or edits c (PATCH with a mask and the etag). A
// campaign has no time zone: its times are read in the organiser's own.
function campaignForm(token, c, done) {
  const p = c ? `camp-${id(c.name)}-` : "camp-new-";
  const f = {
    title: h("input", { id: `${p}title`, value: c?.title || "", maxlength: 200 }),
    description: h("textarea", { id: `${p}description`, rows: 4, maxlength: 10000 }, c?.description || ""),
    hashtags: h("input", { id: `${p}hashtags`, value: (c?.hashtags || []).join(" "), autocapitalize: "none" }),
    website: h("input", { id: `${p}website`, type: "url", inputmode: "url", value: c?.websiteUri || "", placeholder: "https://" }),
    start: h("input", { id: `${p}start`, type: "datetime-local", value: toLocal(c?.startTime, viewerZone) }),
    end: h("input", { id: `${p}end`, type: "datetime-local", value: toLocal(c?.endTime, viewerZone) }),
  };
  const error = h("p", { class: "error", role: "alert" });
  const btn = h("button", { type: "submit" }, c ? t("console.camp.save") : t("console.camp.createSubmit"));
  const names = {
    title: t("console.camp.title"), description: t("console.camp.description"), hashtags: t("console.camp.hashtagsShort"),
    websiteUri: t("console.camp.websiteShort"), startTime: t("console.camp.start"), endTime: t("console.camp.end"),
  };
  async function submit(e) {
    e.preventDefault();
    const campaign = {
      title: f.title.value.trim(),
      description: f.description.value.trim(),
      hashtags: f.hashtags.value.split(/[\s,]+/).filter(Boolean),
      websiteUri: f.website.value.trim(),
      startTime: at(f.start, viewerZone),
      endTime: at(f.end, viewerZone),
    };
    const got = await action(btn, error, () => (c
      ? api(`/v1/${c.name}`, { method: "PATCH", token, query: { updateMask: Object.keys(campaign).join(",") }, body: { ...campaign, etag: c.etag } })
      : api("/v1/campaigns", { method: "POST", token, query: { requestId: requestId() }, body: campaign })), null, names);
    if (got) done(got);
  }
  return h("form", { class: "campaign-form", novalidate: true, onsubmit: submit },
    field(t("console.camp.title"), f.title), field(t("console.camp.description"), f.description),
    field(t("console.camp.hashtags"), f.hashtags, t("console.camp.hashtagsHint")),
    field(t("console.camp.website"), f.website),
    field(t("console.camp.start"), f.start, t("console.camp.timesHint", { zone: viewerZone })), field(t("console.camp.end"), f.end),
    error, btn);
}

// campaignSettings changes whether the campaign's announcements must be signed
// (Campaign.require_signed_announcements). Then the server refuses an unsigned
// announcement, even one posted with a stolen token.
function campaignSettings(token, c) {
  const cid = id(c.name);
  const box = h("input", { id: `require-signed-${cid}`, type: "checkbox", checked: Boolean(c.requireSignedAnnouncements) });
  const msg = h("p", { id: `settings-error-${cid}`, class: "error", role: "alert" });
  const btn = h("button", { type: "submit" }, t("console.camp.saveSettings"));
  async function save(e) {
    e.preventDefault();
    const got = await action(btn, msg, () => api(`/v1/${c.name}`, { method: "PATCH", token, query: { updateMask: "requireSignedAnnouncements" },
      body: { requireSignedAnnouncements: box.checked, etag: c.etag } }),
    box.checked ? t("console.camp.signedNow") : t("console.camp.unsignedNow"), { requireSignedAnnouncements: t("console.camp.requireSigned") });
    if (!got) return;
    Object.assign(c, got);
    box.checked = Boolean(c.requireSignedAnnouncements);
    redraw(); // the announcement forms say what posting will do
  }
  return h("details", { id: `settings-${cid}` }, h("summary", {}, t("console.camp.settings")),
    h("form", { onsubmit: save },
      h("div", { class: "field" }, h("label", {}, box, " ", t("console.camp.requireSigned"))),
      h("p", { class: "hint" }, t("console.camp.requireSignedHint")),
      msg, btn));
}

// organisersView lists the campaign's organisers and pending invitations. The owner (or
// the operator) invites by organiser ID, withdraws invitations and removes co-organisers;
// an invitee joins only by accepting with its own token.
function organisersView(ctx, c) {
  const { token, me } = ctx;
  const cid = id(c.name);
  const el = h("details", { id: `organisers-${cid}` });
  const msg = h("p", { class: "error", role: "alert", id: `organisers-error-${cid}` });
  const manage = !me || c.owner === me.name;
  const input = h("input", { id: `invite-${cid}`, autocapitalize: "none", spellcheck: "false", placeholder: "berlin-group" });
  const inviteBtn = h("button", { type: "submit" }, t("console.org.invite"));

  const change = async (btn, verb, organiser, done) => {
    const got = await action(btn, msg, () => api(`/v1/${c.name}:${verb}`, { method: "POST", token, body: { organiser } }), done, { organiser: t("console.org.idShort") });
    if (!got) return;
    Object.assign(c, { organisers: got.organisers || [], invitations: got.invitations || [], etag: got.etag });
    show();
  };

  function show() {
    const who = (name) => [h("code", {}, id(name)),
      name === c.owner ? ` (${t("console.org.owner")})` : "", me && name === me.name ? ` (${t("console.org.you")})` : ""];
    const organisers = (c.organisers || []).map((name) => h("li", { "data-organiser": id(name) }, who(name),
      manage && name !== c.owner && " ",
      manage && name !== c.owner && h("button", { type: "button", class: "secondary small-button", onclick: (e) => change(e.currentTarget, "removeOrganiser", name, t("console.org.removed")) }, t("console.org.remove"))));
    const invited = (c.invitations || []).map((inv) => h("li", { "data-invited": id(inv.invitee) }, who(inv.invitee), " · ",
      t("console.org.invitedOn", { time: formatDateTime(inv.createTime, { dateStyle: "medium" }) }),
      manage && " ",
      manage && h("button", { type: "button", class: "secondary small-button", onclick: (e) => change(e.currentTarget, "removeOrganiser", inv.invitee, t("console.org.withdrawn")) }, t("console.org.withdraw"))));
    fill(el, h("summary", {}, t("console.org.title", { count: (c.organisers || []).length })),
      h("ul", { class: "plain", id: `organisers-list-${cid}` }, organisers),
      invited.length ? [h("h4", {}, t("console.org.pending")), h("ul", { class: "plain", id: `invited-list-${cid}` }, invited)] : "",
      manage
        ? h("form", { onsubmit: (e) => {
          e.preventDefault();
          const v = input.value.trim();
          if (!v) return;
          change(inviteBtn, "addOrganiser", v.startsWith("organisers/") ? v : `organisers/${v}`, t("console.org.invited"));
          input.value = "";
        } }, field(t("console.org.idLabel"), input, t("console.org.idHint")), inviteBtn)
        : h("p", { class: "hint" }, t("console.org.ownerOnly")),
      msg);
  }
  show();
  return el;
}
