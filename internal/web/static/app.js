// The router: rallyd serves index.html for every page of the client, and this picks what
// to show from location.pathname. Links between pages are ordinary links.
import { listAll } from "./api.js";
import { h, fill, id, errorText } from "./ui.js";

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

start();
