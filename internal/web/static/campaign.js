// The campaign page: its events grouped by country and city, kept current by the
// campaign's watch stream.
import { api, listAll, watch } from "./api.js";
import { h, fill, id, when, country, venueText, attendanceText, announce, liveStatus, field, describe } from "./ui.js";
import { t } from "./i18n.js";

export async function render(main, campaignId) {
  const name = `campaigns/${campaignId}`;
  const [campaign, list] = await Promise.all([
    api(`/v1/${name}`),
    listAll("/v1/events", "events", { query: { campaign: name, showCancelled: true } }),
  ]);
  // Events by name; the stream adds new ones and replaces changed ones.
  const events = new Map(list.map((e) => [e.name, e]));

  const head = h("div");
  const showHead = (c) => {
    document.title = `${c.title} · Rally`;
    if (c.description) describe(c.description);
    fill(head,
      h("h1", {}, c.title),
      c.description && h("p", { class: "lead" }, c.description),
      c.hashtags?.length > 0 && h("p", { class: "tags" }, c.hashtags.join(" ")),
      h("nav", { "aria-label": t("campaign.nav") }, h("ul", { class: "actions" },
        h("li", {}, h("a", { href: `/t/${campaignId}` }, t("campaign.tasks"))),
        h("li", {}, h("a", { href: `/v1/${name}.ics` }, t("campaign.ics"))))));
  };
  showHead(campaign);

  const countrySel = h("select", { id: "filter-country" });
  const citySel = h("select", { id: "filter-city" });
  const cancelledBox = h("input", { type: "checkbox", id: "filter-cancelled" });
  const filters = h("form", { class: "filters", role: "search", "aria-label": t("campaign.filter"), onsubmit: (e) => e.preventDefault() },
    field(t("campaign.country"), countrySel), field(t("campaign.city"), citySel),
    h("div", { class: "check" }, cancelledBox, h("label", { for: "filter-cancelled" }, t("campaign.includeCancelled"))));
  const listEl = h("div", { id: "events" });
  const status = h("p", { class: "muted live" });
  fill(main, head, h("section", { "aria-labelledby": "events-h" }, h("h2", { id: "events-h" }, t("campaign.events")), filters, status, listEl));

  // options refills a select, keeping the choice if it still exists.
  function options(sel, values, text) {
    const keep = sel.value;
    fill(sel, h("option", { value: "" }, t("campaign.all")), values.map((v) => h("option", { value: v }, text(v))));
    sel.value = values.includes(keep) ? keep : "";
  }

  function show() {
    const all = [...events.values()].sort((a, b) => a.startTime.localeCompare(b.startTime));
    const visible = all.filter((e) => cancelledBox.checked || e.state !== "EVENT_STATE_CANCELLED");
    const byName = (a, b) => country(a).localeCompare(country(b));
    options(countrySel, [...new Set(visible.map((e) => e.venue?.country || ""))].filter(Boolean).sort(byName), country);
    const inCountry = visible.filter((e) => !countrySel.value || e.venue?.country === countrySel.value);
    options(citySel, [...new Set(inCountry.map((e) => e.venue?.locality || ""))].filter(Boolean).sort(), (v) => v);
    const shown = inCountry.filter((e) => !citySel.value || e.venue?.locality === citySel.value);

    // country → city → events, countries and cities in alphabetical order
    const groups = new Map();
    for (const e of shown) {
      const c = e.venue?.country || "", l = e.venue?.locality || "";
      if (!groups.has(c)) groups.set(c, new Map());
      const cities = groups.get(c);
      if (!cities.has(l)) cities.set(l, []);
      cities.get(l).push(e);
    }
    fill(listEl, shown.length ? [...groups.keys()].sort(byName).map((c) =>
      h("section", { class: "country" }, h("h3", {}, country(c) || t("campaign.elsewhere")),
        [...groups.get(c).keys()].sort().map((l) => h("div", { class: "city" },
          h("h4", {}, l),
          h("ul", { class: "cards" }, groups.get(c).get(l).map(eventCard))))))
      : h("p", {}, t("campaign.noMatch")));
  }
  for (const el of [countrySel, citySel, cancelledBox]) el.addEventListener("change", show);
  show();

  watch(`/v1/${name}:watch`, {
    onStatus: liveStatus(status),
    onChange: async (ch) => {
      if (ch.reset) {
        // Changes were missed: read the list again rather than guess.
        const fresh = await listAll("/v1/events", "events", { query: { campaign: name, showCancelled: true } });
        events.clear();
        for (const e of fresh) events.set(e.name, e);
      }
      if (ch.campaign) showHead(ch.campaign);
      if (ch.event) {
        const isNew = !events.has(ch.event.name);
        events.set(ch.event.name, ch.event);
        if (isNew && ch.kind === "CHANGE_KIND_CREATED") announce(t("campaign.newEvent", { title: ch.event.title }));
        if (ch.kind === "CHANGE_KIND_CANCELLED") announce(t("campaign.cancelledEvent", { title: ch.event.title }));
      }
      show();
    },
  });
}

function eventCard(e) {
  const cancelled = e.state === "EVENT_STATE_CANCELLED";
  return h("li", { class: `card${cancelled ? " cancelled" : ""}`, "data-event": id(e.name) },
    h("h5", {}, h("a", { href: `/e/${id(e.name)}` }, e.title), cancelled && h("span", { class: "badge" }, ` ${t("campaign.cancelledBadge")}`)),
    h("p", {}, when(e)),
    h("p", {}, venueText(e.venue)),
    h("p", { class: "muted" }, attendanceText(e)));
}
