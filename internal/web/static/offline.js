// The offline event card: what an event page saves on the device so that it opens
// without a network (sw.js keeps the app shell), how long it keeps it, and the one-tap
// "clear Rally from this device".
//
// Saved per event, in the Cache API (cache DATA, key /offline/events/{id}): the event as
// last fetched (time, place, safety information and, for a GOING RSVP once revealed, the
// meeting point), its announcements and when it was saved. Never a manage token: that
// stays where the pages keep it (localStorage, ui.js's saved). Each entry carries the
// event's end time in a header and is deleted after it, by the pages (expire, on every
// load) and by the worker (on activation and navigations).
import { catalogURLs } from "./i18n.js";

// DATA is shared with sw.js, which expires it too.
const DATA = "rally-events-v1";
// sw.js's cache of the app shell, where the page's catalogs go too.
const SHELL = "rally-shell-v1";
// The organiser's IndexedDB databases (keystore.js's envelope keys, the signing keys of
// the console), named here in case the browser cannot list its databases
// (indexedDB.databases is recent): then these at least go.
const KEY_DBS = ["rally-keys", "rally-signing-keys"];

// The Cache API exists only in secure contexts (https, localhost): on plain http the
// pages work as before, without an offline copy.
const available = () => typeof caches !== "undefined";

// Once clearDevice has begun, this page writes nothing more: an event page's pending
// save (a timer, a live update) must not bring a cache back between the clearing and
// the navigation that follows it. writes are the writes under way, which clearDevice
// waits for before it deletes.
let cleared = false;
let writes = Promise.resolve();
function write(job) {
  if (cleared || !available()) return Promise.resolve();
  const done = writes.then(job, job);
  writes = done.catch(() => {});
  return done;
}
const keyOf = (eventId) => `/offline/events/${eventId}`;

// saveEvent keeps snapshot ({event, announcements, requireSigned, savedAt, ...}) of the
// event for offline use, unless the event is over.
export async function saveEvent(eventId, snapshot) {
  const end = Date.parse(snapshot.event?.endTime || "");
  if (!(end > Date.now())) return forgetEvent(eventId);
  return write(async () => {
    const cache = await caches.open(DATA);
    await cache.put(keyOf(eventId), new Response(JSON.stringify(snapshot), {
      headers: { "Content-Type": "application/json", "X-Rally-End": new Date(end).toISOString() },
    }));
  });
}

// loadEvent returns the saved snapshot of the event, or null (none, or the event is over,
// which deletes it).
export async function loadEvent(eventId) {
  if (!available() || !(await caches.has(DATA))) return null;
  const cache = await caches.open(DATA);
  const res = await cache.match(keyOf(eventId));
  if (!res) return null;
  if (!(Date.parse(res.headers.get("X-Rally-End") || "") > Date.now())) {
    await cache.delete(keyOf(eventId));
    return null;
  }
  try {
    return await res.json();
  } catch {
    return null;
  }
}

// forgetEvent deletes the event's saved snapshot.
export async function forgetEvent(eventId) {
  if (!available() || !(await caches.has(DATA))) return;
  await (await caches.open(DATA)).delete(keyOf(eventId));
}

// expire deletes the snapshots of events that have ended: the same rule as sw.js's.
export async function expire() {
  if (!available() || !(await caches.has(DATA))) return; // opening it would create it
  const cache = await caches.open(DATA);
  const now = Date.now();
  for (const req of await cache.keys()) {
    const res = await cache.match(req);
    if (!(Date.parse(res?.headers.get("X-Rally-End") || "") > now)) await cache.delete(req);
  }
}

// registerWorker installs sw.js, which makes pages opened before open without a network.
// A browser that refuses it (private modes, plain http) still has the online pages.
//
// The catalogs of the page's language are kept with the shell (sw.js's SHELL cache), so
// that the offline page speaks it too: the worker cannot know which language the page
// chose.
export function registerWorker() {
  if (!("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js").then(() => navigator.serviceWorker.ready).then(() => write(async () => {
    const cache = await caches.open(SHELL);
    await Promise.all(catalogURLs().map((url) => cache.add(url).catch(() => {})));
  })).catch(() => {});
}

// clearDevice deletes everything Rally keeps in this browser: the worker first (so that
// it cannot write its caches again), every cache, every IndexedDB database of this origin
// (the organiser's keys among them), localStorage (RSVP and claim tokens) and
// sessionStorage (an organiser's API token). Each step runs even if another fails.
export async function clearDevice() {
  cleared = true;
  await writes;
  if ("serviceWorker" in navigator) {
    await settle(navigator.serviceWorker.getRegistrations().then((rs) => Promise.all(rs.map((r) => r.unregister()))));
  }
  if (available()) await settle(caches.keys().then((names) => Promise.all(names.map((n) => caches.delete(n)))));
  await settle(deleteDatabases());
  try { localStorage.clear(); } catch { /* storage disabled */ }
  try { sessionStorage.clear(); } catch { /* storage disabled */ }
}

function settle(p) {
  return p.then(() => {}, () => {});
}

async function deleteDatabases() {
  if (typeof indexedDB === "undefined") return;
  const names = new Set(KEY_DBS);
  try {
    for (const d of await indexedDB.databases()) if (d.name) names.add(d.name);
  } catch {
    // not supported: the known name is deleted all the same
  }
  await Promise.all([...names].map((name) => new Promise((resolve) => {
    const req = indexedDB.deleteDatabase(name);
    // Blocked means a connection is still open (another tab): the deletion goes ahead
    // as soon as it closes, which the reload that follows does for this tab.
    req.onsuccess = req.onerror = req.onblocked = () => resolve();
  })));
}
