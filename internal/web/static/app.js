// The router: rallyd serves index.html for every page of the client, and this picks what
// to show from location.pathname. Links between pages are ordinary links.
import { listAll } from "./api.js";
import { h, fill, id, errorText, announce, describe } from "./ui.js";
import { t, lang, languages, setLanguage } from "./i18n.js";
import { expire, clearDevice } from "./offline.js";

const routes = [
  [/^\/$/, () => home()],
  [/^\/c\/([a-z0-9-]+)$/, (m) => import("./campaign.js").then((p) => p.render(main, m[1]))],
  [/^\/e\/([a-z0-9-]+)$/, (m) => import("./event.js").then((p) => p.render(main, m[1]))],
  [/^\/t\/([a-z0-9-]+)$/, (m) => import("./tasks.js").then((p) => p.render(main, m[1]))],
  [/^\/organise$/, () => import("./organise.js").then((p) => p.render(main))],
];

const main = document.getElementById("main");

// The shell's own words (index.html marks them data-i18n, and labels data-i18n-label),
// in the page's language; the description too, until a page says what it shows.
for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
for (const el of document.querySelectorAll("[data-i18n-label]")) el.setAttribute("aria-label", t(el.dataset.i18nLabel));
describe(t("meta.description"));

async function start() {
  for (const [re, show] of routes) {
    const m = location.pathname.match(re);
    if (!m) continue;
    try {
      await show(m);
    } catch (err) {
      fill(main, h("h1", {}, t("page.error")), h("p", { role: "alert" }, errorText(err)));
    }
    return;
  }
  document.title = `${t("page.notFound")} · Rally`;
  fill(main, h("h1", {}, t("page.notFound")), h("p", {}, h("a", { href: "/" }, t("page.seeAll"))));
}

async function home() {
  document.title = `${t("home.title")} · Rally`;
  const campaigns = await listAll("/v1/campaigns", "campaigns");
  fill(main,
    h("h1", {}, t("home.title")),
    campaigns.length
      ? h("ul", { class: "cards" }, campaigns.map((c) =>
          h("li", { class: "card" },
            h("h2", {}, h("a", { href: `/c/${id(c.name)}` }, c.title)),
            c.description && h("p", {}, c.description),
            c.hashtags?.length > 0 && h("p", { class: "tags" }, c.hashtags.join(" ")))))
      : h("p", {}, t("home.none")));
}

// The footer of every page: "Clear Rally from this device", for someone who must hand
// over or may lose their phone. One tap asks, a second one clears (an in-page question:
// window.confirm can be silenced by the browser), then the page reloads to a clean home
// page, which registers no worker and saves nothing.
function footer() {
  const el = document.getElementById("site-footer");
  if (!el) return;
  const ask = h("button", { type: "button", id: "clear-device", class: "secondary" }, t("clear.ask"));
  const yes = h("button", { type: "button", id: "clear-device-confirm", class: "danger" }, t("clear.yes"));
  const no = h("button", { type: "button", id: "clear-device-keep", class: "secondary" }, t("clear.keep"));
  const question = h("div", { id: "clear-device-question", role: "alertdialog", "aria-labelledby": "clear-device-why", hidden: true },
    h("p", { id: "clear-device-why" }, t("clear.why")),
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
    announce(t("clear.clearing"));
    await clearDevice();
    // replace: the page being cleared is not kept in the history to go back to.
    // The language choice goes with everything else (it says something about its user).
    location.replace("/#cleared");
  });
  fill(el, languageSwitch(), ask, question);
}

// languageSwitch is the footer's choice of language, on every page: each language named
// in itself, so that someone who cannot read the current one still finds theirs.
function languageSwitch() {
  const sel = h("select", { id: "lang-switch", autocomplete: "off" },
    languages.map((l) => h("option", { value: l.code, lang: l.code, selected: l.code === lang }, l.name)));
  sel.addEventListener("change", () => setLanguage(sel.value));
  return h("p", { class: "lang-switch" }, h("label", { for: "lang-switch" }, t("lang.label"), " "), sel);
}

footer();
// Saved event cards of events that are over go on every page load, not only when the
// worker runs.
expire().catch(() => {});
const cleared = location.hash === "#cleared";
if (cleared) history.replaceState(null, "", location.pathname);
start().then(() => {
  if (cleared) main.prepend(h("p", { id: "cleared-note", class: "note", role: "status" }, t("clear.done")));
});
