// The console's tasks: each task's card (progress, editing, closing, its claims with
// their sealed names, links and notes opened here, and its audit log), and the task form.
import { api } from "../api.js";
import { h, fill, id, field, announce, label, short, viewerZone } from "../ui.js";
import { t, formatNumber } from "../i18n.js";
import { view, reveal, keptText, personalCells } from "./keys.js";
import { action, lazy, auditLog, toLocal, at, enumLabel } from "./common.js";

const KINDS = ["SHARE_POST", "CONTACT_MEDIA", "CONTACT_REPRESENTATIVE", "SIGN_PETITION", "TRANSLATE", "SOLIDARITY_MESSAGE", "OTHER"];

function taskFields() {
  return {
    title: t("console.task.title"), kind: t("console.task.kind"), instructions: t("console.task.instructions"),
    targetCompletions: t("console.task.targetShort"), deadline: t("console.task.deadline"),
    maxConcurrentClaims: t("console.task.maxClaimsShort"), claimTtl: t("console.task.ttlShort"), event: t("console.task.event"),
  };
}

// progressText says how far a task is: completed of the target, and claims open now.
function progress(tk) {
  const p = tk.progress || {};
  const done = Number(p.completed || 0);
  const target = Number(tk.targetCompletions || 0);
  return [
    target > 0 && h("progress", { max: target, value: Math.min(done, target) }),
    " ",
    target > 0 ? t("console.task.doneOf", { count: done, target: formatNumber(target) }) : t("console.task.done", { count: done }),
    " · ",
    t("console.task.inProgress", { count: Number(p.claimed || 0) }),
  ];
}

// taskCard is a task's card; it re-renders itself in place after an edit or a close.
export function taskCard(token, c, tk, events) {
  const tid = id(tk.name);
  const li = h("li", { class: "card task", "data-task": tid });
  function render() {
    const closed = tk.state === "TASK_STATE_CLOSED";
    li.className = `card task${closed ? " cancelled" : ""}`;
    const msg = h("p", { class: "error", role: "alert", id: `task-error-${tid}` });
    const closeBtn = h("button", { type: "button", class: "danger", id: `task-close-${tid}` }, t("console.task.closeSubmit"));
    closeBtn.addEventListener("click", async () => {
      const got = await action(closeBtn, msg, () => api(`/v1/${tk.name}:close`, { method: "POST", token, body: {} }), t("console.task.closedAnnounce"));
      if (got) {
        tk = got;
        render();
      }
    });
    const ev = tk.event && events.find((e) => e.name === tk.event);
    fill(li,
      h("h4", {}, tk.title, closed && h("span", { class: "badge" }, " ", t("console.task.closed"))),
      h("p", { class: "muted" }, label(tk.kind, "TASK_KIND_"), " · ", t("console.task.until", { time: short(tk.deadline) }), ev ? ` · ${ev.title}` : ""),
      h("p", { class: "task-progress", id: `task-progress-${tid}` }, progress(tk)),
      h("p", {}, h("a", { href: `/t/${id(c.name)}` }, t("console.task.publicPage"))),
      msg,
      h("details", { class: "task-edit" }, h("summary", {}, t("console.task.edit")),
        taskForm(token, c, tk, events, (saved) => {
          tk = saved;
          render();
          announce(t("console.task.saved"));
        })),
      !closed && h("details", { id: `task-close-form-${tid}` }, h("summary", {}, t("console.task.close")),
        h("p", {}, t("console.task.closeWhy")), closeBtn),
      claimsSection(token, tk, async () => {
        // Progress moves with claims: read the task again when its claims are read.
        try {
          tk = await api(`/v1/${tk.name}`, { token });
          fill(li.querySelector(".task-progress"), progress(tk));
        } catch {
          // the progress shown stays
        }
      }),
      lazy({ id: `task-audit-${tid}` }, t("console.audit.title"), (body) => auditLog(token, tk.name, body)));
  }
  render();
  return li;
}

function claimsSection(token, tk, refresh) {
  return lazy({ id: `claims-${id(tk.name)}` }, t("console.claims.title", { task: tk.title }), async (body) => {
    const list = [];
    let pageToken = "";
    do {
      const page = await api(`/v1/${tk.name}/claims`, { token, query: { pageSize: 1000, pageToken } });
      list.push(...(page.claims || []));
      pageToken = page.nextPageToken || "";
    } while (pageToken);
    fill(body, claimsTable(list));
    refresh();
  }, h("p", { class: "muted" }, t("console.claims.audited")));
}

// claimsTable lists a task's claims with their names, links and notes opened. A name and
// a completion are sealed apart (two envelopes); each says on its own why it does not open.
function claimsTable(list) {
  if (!list.length) return h("p", {}, t("console.claims.none"));
  const row = (c) => {
    const tr = h("tr", { "data-claim": id(c.name) });
    return view(tr, async () => {
      const who = await reveal(c.name, c.envelope, { displayName: c.displayName || "" });
      const done = await reveal(c.name, c.completionEnvelope, { proofUrl: c.proofUrl || "", note: c.note || "" });
      const kept = who.kept === done.kept || done.kept === "nothing given" ? keptText(who.kept)
        : who.kept === "nothing given" ? keptText(done.kept) : t("console.claims.keptBoth", { who: keptText(who.kept), done: keptText(done.kept) });
      fill(tr, personalCells(who, ["displayName"]), h("td", { class: "p-state" }, enumLabel(c.state, "CLAIM_STATE_")),
        personalCells(done, ["proofUrl", "note"], (k, v) => (k === "proofUrl" ? proofLink(v) : v || "–")),
        h("td", { class: "p-kept" }, kept));
    });
  };
  const cols = ["name", "state", "link", "note", "kept"].map((k) => t(`console.claims.col.${k}`));
  return h("div", { class: "table-wrap" }, h("table", { class: "claims" },
    h("thead", {}, h("tr", {}, cols.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, list.map(row))));
}

// proofLink shows a proof URL as a link only when it is https: the server checks plain
// ones, but a sealed one reaches the console unchecked (it could be javascript:).
function proofLink(url) {
  if (!url) return "–";
  try {
    if (new URL(url).protocol === "https:") return h("a", { href: url, rel: "noopener noreferrer", target: "_blank" }, url);
  } catch {
    // not a URL: shown as text
  }
  return url;
}

// taskForm creates a task in campaign c, or edits tk (PATCH with a mask and the etag).
// Times are in the organiser's own zone: a task has none of its own.
export function taskForm(token, c, tk, events, done) {
  const p = tk ? `task-${id(tk.name)}-` : `task-new-${id(c.name)}-`;
  const ttlHours = tk?.claimTtl ? Math.round(parseFloat(tk.claimTtl) / 3600) : 48;
  const f = {
    title: h("input", { id: `${p}title`, value: tk?.title || "", maxlength: 200 }),
    kind: h("select", { id: `${p}kind` }, KINDS.map((k) => h("option", { value: `TASK_KIND_${k}`, selected: tk?.kind === `TASK_KIND_${k}` }, label(`TASK_KIND_${k}`, "TASK_KIND_")))),
    instructions: h("textarea", { id: `${p}instructions`, rows: 4, maxlength: 10000 }, tk?.instructions || ""),
    target: h("input", { id: `${p}target`, type: "number", min: 0, inputmode: "numeric", value: tk?.targetCompletions || 0 }),
    deadline: h("input", { id: `${p}deadline`, type: "datetime-local", value: toLocal(tk?.deadline, viewerZone) }),
    maxClaims: h("input", { id: `${p}max-claims`, type: "number", min: 0, inputmode: "numeric", value: tk?.maxConcurrentClaims || 0 }),
    ttl: h("input", { id: `${p}ttl`, type: "number", min: 1, max: 720, inputmode: "numeric", value: ttlHours }),
    event: !tk && h("select", { id: `${p}event` }, h("option", { value: "" }, t("console.task.noEvent")),
      events.filter((e) => e.state !== "EVENT_STATE_CANCELLED").map((e) => h("option", { value: e.name }, e.title))),
  };
  const error = h("p", { class: "error", role: "alert" });
  const submitBtn = h("button", { type: "submit" }, tk ? t("console.task.save") : t("console.task.create"));
  const form = h("form", { class: "task-form", novalidate: true, onsubmit: submit },
    field(t("console.task.title"), f.title), field(t("console.task.kind"), f.kind),
    field(t("console.task.instructions"), f.instructions),
    field(t("console.task.target"), f.target), field(t("console.task.deadline"), f.deadline, t("console.task.deadlineHint", { zone: viewerZone })),
    field(t("console.task.maxClaims"), f.maxClaims), field(t("console.task.ttl"), f.ttl),
    f.event && field(t("console.task.event"), f.event),
    error, submitBtn);

  async function submit(e) {
    e.preventDefault();
    const task = {
      title: f.title.value.trim(),
      kind: f.kind.value,
      instructions: f.instructions.value.trim(),
      targetCompletions: Number(f.target.value) || 0,
      deadline: at(f.deadline, viewerZone),
      maxConcurrentClaims: Number(f.maxClaims.value) || 0,
      claimTtl: `${Math.round((Number(f.ttl.value) || 48) * 3600)}s`,
    };
    const got = await action(submitBtn, error, () => (tk
      ? api(`/v1/${tk.name}`, { method: "PATCH", token, query: { updateMask: Object.keys(task).join(",") }, body: { ...task, etag: tk.etag } })
      : api("/v1/tasks", { method: "POST", token, body: { ...task, campaign: c.name, event: f.event.value || undefined } })),
    null, taskFields());
    if (got) done(got, form);
  }
  return form;
}
