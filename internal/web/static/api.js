// Calls to Rally's REST API, on this origin only, and the watch streams.

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
export async function api(path, { method = "GET", body, token, query } = {}) {
  const headers = {};
  if (token) headers.Authorization = `Bearer ${token}`;
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
export function watch(path, { token, onChange, onStatus = () => {} }) {
  let cursor = "";
  let stopped = false;
  let ctrl = null;
  let delay = 1000;

  async function once() {
    ctrl = new AbortController();
    const headers = token ? { Authorization: `Bearer ${token}` } : {};
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

  (async () => {
    while (!stopped) {
      try {
        await once();
      } catch (err) {
        if (stopped) return;
        // Not found or not allowed will not get better by retrying.
        if (err instanceof ApiError && [3, 5, 7, 16].includes(err.code)) {
          onStatus("stopped");
          return;
        }
        if (err instanceof ApiError && err.retryAfter) delay = Math.max(delay, err.retryAfter * 1000);
      }
      if (stopped) return;
      onStatus("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  })();

  return {
    stop() {
      stopped = true;
      if (ctrl) ctrl.abort();
    },
  };
}
