// Rally's service worker, for the offline event card: it keeps the app shell (index.html
// and the scripts and styles of the event page) so that an event page opened once opens
// again without a network, and deletes the saved event data once the event is over.
//
// What it never does: touch the API. Calls to /v1/ (and their watch streams) go straight
// to the network, so no response that a manage token fetched (a meeting point, an RSVP)
// ever lands in a cache by accident. The event data shown offline is written by the event
// page itself (offline.js), without any token, under /offline/events/{id} in DATA.
//
// A classic script, not a module: not every browser Rally serves runs module workers.
// Served from /sw.js (the origin's root), so that its scope covers /e/{id}.
"use strict";

// Cache names: bump SHELL's version when SHELL_FILES change in a way that leaves a stale
// file in it (a file gone or renamed); files added (i18n.js and the English catalog) are
// simply fetched into it by the new worker's install. DATA is offline.js's.
const SHELL = "rally-shell-v1";
const DATA = "rally-events-v1";

// What the event page needs to start offline. signing.js may be absent from a release
// without it: each file is cached on its own, and one that fails does not stop the rest.
const SHELL_FILES = [
  "/",
  "/assets/style.css",
  "/assets/app.js",
  "/assets/api.js",
  "/assets/ui.js",
  "/assets/event.js",
  "/assets/offline.js",
  "/assets/sealing.js",
  "/assets/envelope.js",
  "/assets/signing.js",
  "/assets/i18n.js",
  // English, the fallback of every language: the page's own language is added to this
  // cache by the page itself (offline.js's registerWorker), as only it knows which.
  "/assets/i18n/en.json",
];

// The client's own pages, which all serve index.html (web.go's routes). Other navigations,
// such as an .ics download, are not the shell and are left alone.
const PAGE = /^\/(c\/[a-z0-9-]+|e\/[a-z0-9-]+|t\/[a-z0-9-]+|organise)?$/;

self.addEventListener("install", (e) => {
  e.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener("activate", (e) => {
  e.waitUntil(Promise.all([expire(), dropOldCaches()]).then(() => self.clients.claim()));
});

self.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin) return;
  let key = "";
  if (req.mode === "navigate" && PAGE.test(url.pathname)) key = "/";
  else if (url.pathname.startsWith("/assets/")) key = url.pathname;
  else return; // the API and everything else: the network, untouched
  if (req.mode === "navigate") e.waitUntil(expireNow());
  e.respondWith(networkFirst(req, key));
});

async function precache() {
  const cache = await caches.open(SHELL);
  await Promise.all(SHELL_FILES.map(async (url) => {
    try {
      const res = await fetch(url, { cache: "no-cache" });
      if (res.ok) await cache.put(url, res);
    } catch {
      // offline while installing: the files come with the next page that loads them
    }
  }));
}

// networkFirst answers from the network while there is one, so that a new release is
// used at once (the files are served no-cache), keeping a copy; without a network, from
// that copy. Every page is index.html, so one copy, under "/", serves them all.
async function networkFirst(req, key) {
  try {
    const res = await fetch(req);
    if (res.ok && res.type === "basic" && !res.redirected) {
      const copy = res.clone();
      caches.open(SHELL).then((c) => c.put(key, copy)).catch(() => {});
    }
    return res;
  } catch (err) {
    const hit = await caches.match(key, { cacheName: SHELL });
    if (hit) return hit;
    throw err;
  }
}

async function dropOldCaches() {
  const names = await caches.keys();
  await Promise.all(names.filter((n) => n.startsWith("rally-") && n !== SHELL && n !== DATA).map((n) => caches.delete(n)));
}

// expire deletes the saved data of every event that has ended (offline.js writes each
// entry's end time in its X-Rally-End header). An entry without one is deleted too: what
// cannot be dated cannot be kept safely. The same rule as offline.js's expire.
async function expire() {
  if (!(await caches.has(DATA))) return; // opening it would create it
  const cache = await caches.open(DATA);
  const now = Date.now();
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    const end = Date.parse((res && res.headers.get("X-Rally-End")) || "");
    if (!(end > now)) await cache.delete(req);
  }
}

// expireNow runs expire at most once a minute, on navigations: a worker is stopped when
// idle, so a timer in it would not run.
let lastExpire = 0;
function expireNow() {
  if (Date.now() - lastExpire < 60000) return Promise.resolve();
  lastExpire = Date.now();
  return expire().catch(() => {});
}
