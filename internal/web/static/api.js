// Calls to Rally's REST API, on this origin only, and the watch streams.
import { lang } from "./i18n.js";

// Every call asks for the page's language, which may not be the browser's (?hl=, the
// switch): the server's refusals then carry a LocalizedMessage in it (AIP-193).
const LANGUAGE = { "Accept-Language": lang === "en" ? "en" : `${lang}, en;q=0.5` };

// ApiError is a failed call: the HTTP status and the google.rpc.Status body.
export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body ? body.code : 0;
    this.details = (body && body.details) || [];
    this.retryAfter = retryAfter; // seconds, on 429
  }
  // violations lists the BadRequest's {field, description} pairs.
  get violations() {
    return this.details.flatMap((d) => d.fieldViolations || []);
  }
}

// api calls one method. A network failure throws a TypeError, as fetch does.
//
// idempotencyKey makes a create safe to retry. It is sent in the Idempotency-Key header,
// as the IETF draft's quoted string, and so is a requestId given in query or body, which
// api moves there: the key is a secret (a retry with it gives an RSVP's token back), and a
// URL's query is kept by proxies and access logs.
export async function api(path, { method = "GET", body, token, query, idempotencyKey } = {}) {
  const headers = { ...LANGUAGE };
  if (token) headers.Authorization = `Bearer ${token}`;
  ({ query, body, idempotencyKey } = liftRequestId(query, body, idempotencyKey));
  if (idempotencyKey) headers["Idempotency-Key"] = `"${idempotencyKey}"`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(withQuery(path, query), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // a proxy's HTML error page: the status says enough
  }
  if (!res.ok) throw new ApiError(res.status, data, Number(res.headers.get("Retry-After")) || 0);
  return data;
}

// listAll follows page tokens to the end and returns the items under key.
export async function listAll(path, key, { query = {}, token } = {}) {
  const items = [];
  let pageToken = "";
  do {
    const page = await api(path, { token, query: { ...query, pageSize: 100, pageToken } });
    items.push(...(page[key] || []));
    pageToken = page.nextPageToken || "";
  } while (pageToken);
  return items;
}

// liftRequestId takes requestId out of query and body, as the idempotency key unless one
// is given.
function liftRequestId(query, body, idempotencyKey) {
  for (const part of [query, body]) {
    if (part && typeof part === "object" && part.requestId) idempotencyKey = idempotencyKey || part.requestId;
  }
  const without = (part) => {
    if (!part || typeof part !== "object" || !("requestId" in part)) return part;
    const { requestId: _, ...rest } = part;
    return rest;
  };
  return { query: without(query), body: without(body), idempotencyKey };
}

function withQuery(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// requestId is a random ID for an idempotent create. randomUUID only exists in secure
// contexts (https, localhost), so plain http on a LAN address falls back to raw bytes.
export function requestId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// watch follows a WatchEvent or WatchCampaign stream ({"result": Change} a line) for as
// long as the page lives: after a dropped connection or a server shutdown it reconnects,
// with growing pauses, from the last cursor, so that no change is missed. onStatus gets
// "live", "reconnecting" or "stopped".
//
// A page left for another is often kept whole in the browser's back-forward cache, and
// its open stream with it: a browser allows only six connections to one server, so a few
// pages left that way would stall every later page. The stream ends when the page is
// hidden, and resumes from its cursor if the page comes back from that cache.
export function watch(path, { token, onChange, onStatus = () => {} }) {
  let cursor = "";
  let stopped = false;
  let ctrl = null;
  let delay = 1000;
  let run = 0; // the loop that may go on; a pause or a stop ends the others

  async function once() {
    ctrl = new AbortController();
    const headers = token ? { ...LANGUAGE, Authorization: `Bearer ${token}` } : { ...LANGUAGE };
    const res = await fetch(withQuery(path, { cursor }), { headers, signal: ctrl.signal, cache: "no-store" });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch { /* not JSON */ }
      throw new ApiError(res.status, body, Number(res.headers.get("Retry-After")) || 0);
    }
    onStatus("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line);
        if (msg.error) {
          // A shutting-down replica names the cursor to resume from in its ErrorInfo.
          for (const d of msg.error.details || []) {
            if (d.metadata && d.metadata.cursor) cursor = d.metadata.cursor;
          }
          throw new ApiError(200, msg.error, 0);
        }
        if (msg.result.cursor) cursor = msg.result.cursor;
        delay = 1000;
        onChange(msg.result);
      }
    }
  }

  async function loop(me) {
    const ended = () => stopped || me !== run;
    while (!ended()) {
      try {
        await once();
      } catch (err) {
        if (ended()) return;
        // Not found or not allowed will not get better by retrying.
        if (err instanceof ApiError && [3, 5, 7, 16].includes(err.code)) {
          onStatus("stopped");
          return;
        }
        if (err instanceof ApiError && err.retryAfter) delay = Math.max(delay, err.retryAfter * 1000);
      }
      if (ended()) return;
      onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  function pause() {
    run++;
    ctrl?.abort();
  }
  function resume(e) {
    if (!e.persisted || stopped) return;
    delay = 1000;
    loop(++run);
  }
  addEventListener("pagehide", pause);
  addEventListener("pageshow", resume);
  loop(run);

  return {
    stop() {
      stopped = true;
      removeEventListener("pagehide", pause);
      removeEventListener("pageshow", resume);
      if (ctrl) ctrl.abort();
    },
  };
}
