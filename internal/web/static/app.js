// The router: rallyd serves index.html for every page of the client, and this picks what
// to show from location.pathname. Links between pages are ordinary links.
import { listAll } from "./api.js";
import { h, fill, id, errorText, announce } from "./ui.js";
import { expire, clearDevice } from "./offline.js";

const routes = [
  [/^\/$/, () => home()],
  [/^\/c\/([a-z0-9-]+)$/, (m) => import("./campaign.js").then((p) => p.render(main, m[1]))],
  [/^\/e\/([a-z0-9-]+)$/, (m) => import("./event.js").then((p) => p.render(main, m[1]))],
  [/^\/t\/([a-z0-9-]+)$/, (m) => import("./tasks.js").then((p) => p.render(main, m[1]))],
  [/^\/organise$/, () => import("./organise.js").then((p) => p.render(main))],
];

const main = document.getElementById("main");

async function start() {
  for (const [re, show] of routes) {
    const m = location.pathname.match(re);
    if (!m) continue;
    try {
      await show(m);
    } catch (err) {
      fill(main, h("h1", {}, "Something went wrong"), h("p", { role: "alert" }, errorText(err)));
    }
    return;
  }
  fill(main, h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "/" }, "See all campaigns")));
}

async function home() {
  document.title = "Campaigns · Rally";
  const campaigns = await listAll("/v1/campaigns", "campaigns");
  fill(main,
    h("h1", {}, "Campaigns"),
    campaigns.length
      ? h("ul", { class: "cards" }, campaigns.map((c) =>
          h("li", { class: "card" },
            h("h2", {}, h("a", { href: `/c/${id(c.name)}` }, c.title)),
            c.description && h("p", {}, c.description),
            c.hashtags?.length > 0 && h("p", { class: "tags" }, c.hashtags.join(" ")))))
      : h("p", {}, "No campaigns yet."));
}

// The footer of every page: "Clear Rally from this device", for someone who must hand
// over or may lose their phone. One tap asks, a second one clears (an in-page question:
// window.confirm can be silenced by the browser), then the page reloads to a clean home
// page, which registers no worker and saves nothing.
function footer() {
  const el = document.getElementById("site-footer");
  if (!el) return;
  const ask = h("button", { type: "button", id: "clear-device", class: "secondary" }, "Clear Rally from this device");
  const yes = h("button", { type: "button", id: "clear-device-confirm", class: "danger" }, "Yes, clear everything");
  const no = h("button", { type: "button", id: "clear-device-keep", class: "secondary" }, "Keep it");
  const question = h("div", { id: "clear-device-question", role: "alertdialog", "aria-labelledby": "clear-device-why", hidden: true },
    h("p", { id: "clear-device-why" }, "This deletes everything Rally keeps in this browser: your RSVP and task links (tokens), saved event cards, organiser keys and sign-in. ",
      "What you did stays on the server: cancel or forget an RSVP first if you mean to."),
    h("p", { class: "actions" }, yes, no));
  ask.addEventListener("click", () => {
    question.hidden = false;
    ask.hidden = true;
    no.focus();
  });
  no.addEventListener("click", () => {
    question.hidden = true;
    ask.hidden = false;
    ask.focus();
  });
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    announce("Clearing Rally from this device…");
    await clearDevice();
    // replace: the page being cleared is not kept in the history to go back to.
    location.replace("/#cleared");
  });
  fill(el, ask, question);
}

footer();
// Saved event cards of events that are over go on every page load, not only when the
// worker runs.
expire().catch(() => {});
const cleared = location.hash === "#cleared";
if (cleared) history.replaceState(null, "", location.pathname);
start().then(() => {
  if (cleared) main.prepend(h("p", { id: "cleared-note", class: "note", role: "status" }, "Rally was cleared from this device."));
});
