// The tasks page: a campaign's open tasks, which anyone can claim without an account.
import { api, listAll, watch, requestId } from "./api.js";
import { h, fill, id, short, errorText, saved, field, announce, label, liveStatus } from "./ui.js";
import { sealingOf, sealingFor, sealingNote, clearText, checkLength, sealNew, FieldError, envelopeRefused, keysChangedText } from "./sealing.js";
import { seal } from "./envelope.js";
import { t as tr, lang, supported } from "./i18n.js";

export async function render(main, campaignId) {
  const name = `campaigns/${campaignId}`;
  const [campaign, tasks] = await Promise.all([
    api(`/v1/${name}`),
    listAll("/v1/tasks", "tasks", { query: { campaign: name, openOnly: true } }),
  ]);
  document.title = `${tr("tasks.title")} · ${campaign.title} · Rally`;
  const status = h("p", { class: "muted live" });
  const progressEls = new Map(); // task name → its progress paragraph, for live updates
  // A name, note or link given here is sealed to the campaign's organisers' keys, whose
  // fingerprints the page shows; without keys, each form says they would be kept in clear.
  const sealedTo = h("div", { id: "tasks-sealed-to", class: "note" });
  const showSealing = () => {
    sealingNote(sealedTo, sealing.current, "nameNotesLinks");
    sealedTo.hidden = !sealedTo.firstChild;
  };
  const sealing = {
    current: await sealingOf(campaign.recipientKeys),
    // After an envelope is refused, the keys changed: read and show them again.
    async refresh() {
      this.current = await sealingFor(() => api(`/v1/${name}`));
      showSealing();
    },
  };
  showSealing();
  fill(main,
    h("h1", {}, tr("tasks.title")),
    h("p", { class: "lead" }, txLead(campaignId, campaign.title)),
    sealedTo,
    status,
    tasks.length ? h("ul", { class: "cards" }, tasks.map((t) => taskCard(t, progressEls, sealing))) : h("p", {}, tr("tasks.none")));

  watch(`/v1/${name}:watch`, {
    onStatus: liveStatus(status),
    onChange: (ch) => {
      if (ch.task && progressEls.has(ch.task.name)) fill(progressEls.get(ch.task.name), progressText(ch.task));
    },
  });
}

function progressText(t) {
  const p = t.progress || {};
  const done = Number(p.completed || 0), claimed = Number(p.claimed || 0);
  return [
    t.targetCompletions > 0 && h("progress", { max: t.targetCompletions, value: done }),
    ` ${t.targetCompletions
      ? tr("tasks.progressOf", { count: done, target: Number(t.targetCompletions) })
      : tr("tasks.progress", { count: done })}${tr("tasks.inProgress", { count: claimed })}`,
  ];
}

// personal prepares the personal fields of a request: sealed into an envelope when the
// campaign has keys (seal makes it), else in plain. It refuses to send them when the keys
// do not match their fingerprints.
async function personal(sealing, fields, seal) {
  if (!Object.values(fields).some(Boolean)) return {};
  const s = sealing.current;
  if (s.state === "mismatch") throw new Error(tr("tasks.mismatch"));
  if (s.state === "unknown") throw new TypeError("the campaign's keys could not be read");
  if (s.state === "none") return { plain: fields };
  return seal(s);
}

// clearNotice is the paragraph that says, when the campaign has no keys and something is
// typed in inputs, that it would be stored in clear.
function clearNotice(sealing, what, inputs) {
  const p = h("p", { class: "note warning clear-notice", role: "status", hidden: true }, clearText(what));
  const update = () => {
    p.hidden = !(sealing.current.state === "none" && inputs.some((el) => el.value.trim() !== ""));
  };
  for (const el of inputs) el.addEventListener("input", update);
  return p;
}

function taskCard(t, progressEls, sealing) {
  const tid = id(t.name);
  const key = `claim.${tid}`;
  const progress = h("p", { class: "progress" }, progressText(t));
  progressEls.set(t.name, progress);
  const claimBox = h("div", { class: "claim" });

  function showClaim() {
    const mine = saved.get(key);
    const error = h("p", { class: "error", role: "alert" });
    if (!mine) {
      const nameIn = h("input", { id: `claim-name-${tid}`, autocomplete: "off", maxlength: 60 });
      const btn = h("button", { type: "submit" }, tr("tasks.claim"));
      // A retry of an attempt sends the same request ID, claim ID and envelope.
      let attempt = "", sealedFor = {};
      nameIn.addEventListener("input", () => { attempt = ""; });
      fill(claimBox, h("form", {
        onsubmit: async (e) => {
          e.preventDefault();
          attempt = attempt || requestId();
          btn.disabled = true;
          try {
            const displayName = nameIn.value.trim();
            const p = await personal(sealing, { displayName }, async (s) => {
              checkLength("display_name", displayName, 60);
              if (sealedFor.attempt !== attempt) sealedFor = { attempt, ...await sealNew(s, { displayName }, t.name, "claims") };
              return { claimId: sealedFor.id, envelope: sealedFor.envelope };
            });
            const body = p.plain ? { ...p.plain } : p.envelope ? { claimId: p.claimId, envelope: p.envelope } : {};
            const res = await api(`/v1/${t.name}/claims`, { method: "POST", body: { ...body, requestId: attempt } });
            saved.set(key, { name: res.claim.name, claimToken: res.claimToken, expireTime: res.claim.expireTime });
            announce(res.storedInClear ? tr("tasks.claimedClear") : tr("tasks.claimed"));
            showClaim();
          } catch (err) {
            if (envelopeRefused(err)) {
              attempt = "";
              await sealing.refresh();
              error.textContent = keysChangedText;
            } else {
              error.textContent = errorText(err, { displayName: tr("field.name") });
            }
            btn.disabled = false;
          }
        },
      }, field(tr("rsvp.name"), nameIn), clearNotice(sealing, "name", [nameIn]), error, btn));
      return;
    }
    if (mine.done) {
      fill(claimBox, h("p", {}, tr("tasks.completed")),
        h("button", { type: "button", class: "secondary", onclick: () => { saved.remove(key); showClaim(); } }, tr("tasks.forget")));
      return;
    }
    const proofIn = h("input", { id: `proof-${tid}`, type: "url", inputmode: "url", placeholder: "https://" });
    const noteIn = h("textarea", { id: `note-${tid}`, rows: 2, maxlength: 2000 });
    const act = (verb) => async () => {
      error.textContent = "";
      try {
        let body = {};
        if (verb === "complete") {
          const proofUrl = proofIn.value.trim(), note = noteIn.value.trim();
          const p = await personal(sealing, { proofUrl, note }, async (s) => {
            // The server checks plain ones; it cannot check sealed ones, so this does.
            checkProofUrl(proofUrl);
            checkLength("note", note, 2000);
            return { envelope: await seal({ note, proofUrl }, s.recipients, mine.name) };
          });
          body = p.plain ? { ...p.plain } : p.envelope ? { envelope: p.envelope } : {};
        }
        await api(`/v1/${mine.name}:${verb}`, { method: "POST", body, token: mine.claimToken });
        if (verb === "complete") saved.set(key, { ...mine, done: true });
        else saved.remove(key);
        announce(verb === "complete" ? tr("tasks.doneAnnounce") : tr("tasks.released"));
        showClaim();
      } catch (err) {
        if (envelopeRefused(err)) {
          await sealing.refresh();
          error.textContent = keysChangedText;
          return;
        }
        error.textContent = errorText(err, { proofUrl: tr("tasks.proofField"), note: tr("tasks.noteField") });
        if (err.code === 5) saved.remove(key); // expired and gone: offer a fresh claim
      }
    };
    fill(claimBox,
      h("p", {}, mine.expireTime ? tr("tasks.claimedBy", { time: short(mine.expireTime) }) : tr("tasks.claimedNoTime")),
      h("form", { onsubmit: (e) => { e.preventDefault(); act("complete")(); } },
        field(tr("tasks.proof"), proofIn, tr("tasks.proofHint")),
        field(tr("tasks.note"), noteIn),
        clearNotice(sealing, "linkNote", [proofIn, noteIn]),
        error,
        h("p", { class: "actions" },
          h("button", { type: "submit" }, tr("tasks.markDone")),
          h("button", { type: "button", class: "secondary", onclick: act("release") }, tr("tasks.giveBack")))));
  }
  showClaim();

  return h("li", { class: "card task", "data-task": tid },
    h("h2", {}, t.title),
    h("p", { class: "muted" }, label(t.kind, "TASK_KIND_"), t.deadline && ` · ${tr("tasks.until", { time: short(t.deadline) })}`),
    t.instructions && h("p", { class: "pre" }, t.instructions),
    t.messageTemplates?.length > 0 && h("div", {}, h("h3", {}, tr("tasks.messages")),
      byLanguage(t.messageTemplates).map((m) => template(m, tid))),
    t.sources?.length > 0 && h("div", {}, h("h3", {}, tr("tasks.sources")),
      h("ul", {}, t.sources.map((s) => h("li", {},
        h("a", { href: s.url, rel: "noopener noreferrer", target: "_blank" }, s.title || s.url),
        s.publisher && ` (${s.publisher}${s.publishTime ? `, ${short(s.publishTime)}` : ""})`)))),
    progress,
    claimBox);
}

// checkProofUrl keeps the API's rule for proof_url: empty, or an https URL of at most
// 2048 characters.
function checkProofUrl(s) {
  if (!s) return;
  let ok = s.startsWith("https://") && [...s].length <= 2048;
  try {
    ok = ok && new URL(s).protocol === "https:";
  } catch {
    ok = false;
  }
  if (!ok) throw new FieldError("proof_url", tr("tasks.proofRule"));
}

function template(m, tid) {
  const text = h("blockquote", { lang: m.languageCode, id: `tpl-${tid}-${m.languageCode}` }, m.text);
  const language = (() => {
    try { return new Intl.DisplayNames(lang, { type: "language" }).of(m.languageCode); } catch { return m.languageCode; }
  })();
  return h("figure", { class: "template" },
    h("figcaption", {}, language),
    text,
    h("button", {
      type: "button", class: "secondary", "aria-label": tr("tasks.copyLabel", { language }),
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(m.text);
          announce(tr("tasks.copied"));
        } catch {
          // No clipboard (plain http on a LAN address): select it for a manual copy.
          getSelection().selectAllChildren(text);
          announce(tr("tasks.selected"));
        }
      },
    }, tr("tasks.copy")));
}

// txLead is the page's lead, with the campaign's title as a link where the language puts
// it.
function txLead(campaignId, title) {
  const [before, after = ""] = tr("tasks.lead").split("{campaign}");
  return [before, h("a", { href: `/c/${campaignId}` }, title), after];
}

// byLanguage puts the templates in the page's language first (the caller's language),
// then the others in the order the organisers gave them.
function byLanguage(templates) {
  const mine = (m) => supported(m.languageCode) === lang;
  return [...templates.filter(mine), ...templates.filter((m) => !mine(m))];
}
