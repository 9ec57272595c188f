// The tasks page: a campaign's open tasks, which anyone can claim without an account.
import { api, listAll, watch, requestId } from "./api.js";
import { h, fill, id, short, errorText, saved, field, announce, label, liveStatus } from "./ui.js";

export async function render(main, campaignId) {
  const name = `campaigns/${campaignId}`;
  const [campaign, tasks] = await Promise.all([
    api(`/v1/${name}`),
    listAll("/v1/tasks", "tasks", { query: { campaign: name, openOnly: true } }),
  ]);
  document.title = `Tasks · ${campaign.title} · Rally`;
  const status = h("p", { class: "muted live" });
  const progressEls = new Map(); // task name → its progress paragraph, for live updates
  fill(main,
    h("h1", {}, "Tasks"),
    h("p", { class: "lead" }, "Help ", h("a", { href: `/c/${campaignId}` }, campaign.title),
      ": pick a task, do it, and tell the organisers it is done. No account needed."),
    status,
    tasks.length ? h("ul", { class: "cards" }, tasks.map((t) => taskCard(t, progressEls))) : h("p", {}, "No open tasks right now."));

  watch(`/v1/${name}:watch`, {
    onStatus: liveStatus(status),
    onChange: (ch) => {
      if (ch.task && progressEls.has(ch.task.name)) fill(progressEls.get(ch.task.name), progressText(ch.task));
    },
  });
}

function progressText(t) {
  const p = t.progress || {};
  const target = t.targetCompletions ? ` of ${t.targetCompletions}` : "";
  return [
    t.targetCompletions > 0 && h("progress", { max: t.targetCompletions, value: p.completed || 0 }),
    ` ${p.completed || 0}${target} done, ${p.claimed || 0} in progress`,
  ];
}

function taskCard(t, progressEls) {
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
      const btn = h("button", { type: "submit" }, "I'll do it");
      let attempt = "";
      fill(claimBox, h("form", {
        onsubmit: async (e) => {
          e.preventDefault();
          attempt = attempt || requestId();
          btn.disabled = true;
          try {
            const res = await api(`/v1/${t.name}/claims`, { method: "POST", body: { displayName: nameIn.value.trim(), requestId: attempt } });
            saved.set(key, { name: res.claim.name, claimToken: res.claimToken, expireTime: res.claim.expireTime });
            announce("Task claimed. Thank you!");
            showClaim();
          } catch (err) {
            error.textContent = errorText(err, { displayName: "Name" });
            btn.disabled = false;
          }
        },
      }, field("Name or pseudonym (optional)", nameIn), error, btn));
      return;
    }
    if (mine.done) {
      fill(claimBox, h("p", {}, "You completed this task. Thank you!"),
        h("button", { type: "button", class: "secondary", onclick: () => { saved.remove(key); showClaim(); } }, "Forget it on this device"));
      return;
    }
    const proofIn = h("input", { id: `proof-${tid}`, type: "url", inputmode: "url", placeholder: "https://" });
    const noteIn = h("textarea", { id: `note-${tid}`, rows: 2, maxlength: 2000 });
    const act = (verb) => async () => {
      error.textContent = "";
      try {
        const body = verb === "complete" ? { proofUrl: proofIn.value.trim(), note: noteIn.value.trim() } : {};
        await api(`/v1/${mine.name}:${verb}`, { method: "POST", body, token: mine.claimToken });
        if (verb === "complete") saved.set(key, { ...mine, done: true });
        else saved.remove(key);
        announce(verb === "complete" ? "Marked as done. Thank you!" : "Task released.");
        showClaim();
      } catch (err) {
        error.textContent = errorText(err, { proofUrl: "Link to your work", note: "Note" });
        if (err.code === 5) saved.remove(key); // expired and gone: offer a fresh claim
      }
    };
    fill(claimBox,
      h("p", {}, "You claimed this task", mine.expireTime ? `; finish it by ${short(mine.expireTime)}.` : "."),
      h("form", { onsubmit: (e) => { e.preventDefault(); act("complete")(); } },
        field("Link to your work (optional)", proofIn, "Only the organisers see it."),
        field("Note for the organisers (optional)", noteIn),
        error,
        h("p", { class: "actions" },
          h("button", { type: "submit" }, "Mark as done"),
          h("button", { type: "button", class: "secondary", onclick: act("release") }, "Give it back"))));
  }
  showClaim();

  return h("li", { class: "card task", "data-task": tid },
    h("h2", {}, t.title),
    h("p", { class: "muted" }, label(t.kind, "TASK_KIND_"), t.deadline && ` · until ${short(t.deadline)}`),
    t.instructions && h("p", { class: "pre" }, t.instructions),
    t.messageTemplates?.length > 0 && h("div", {}, h("h3", {}, "Messages to use"),
      t.messageTemplates.map((m) => template(m, tid))),
    t.sources?.length > 0 && h("div", {}, h("h3", {}, "Sources"),
      h("ul", {}, t.sources.map((s) => h("li", {},
        h("a", { href: s.url, rel: "noopener noreferrer", target: "_blank" }, s.title || s.url),
        s.publisher && ` (${s.publisher}${s.publishTime ? `, ${short(s.publishTime)}` : ""})`)))),
    progress,
    claimBox);
}

function template(m, tid) {
  const text = h("blockquote", { lang: m.languageCode, id: `tpl-${tid}-${m.languageCode}` }, m.text);
  const lang = (() => {
    try { return new Intl.DisplayNames(undefined, { type: "language" }).of(m.languageCode); } catch { return m.languageCode; }
  })();
  return h("figure", { class: "template" },
    h("figcaption", {}, lang),
    text,
    h("button", {
      type: "button", class: "secondary", "aria-label": `Copy the ${lang} message`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(m.text);
          announce("Message copied.");
        } catch {
          // No clipboard (plain http on a LAN address): select it for a manual copy.
          getSelection().selectAllChildren(text);
          announce("Message selected: copy it with your device's copy command.");
        }
      },
    }, "Copy"));
}
