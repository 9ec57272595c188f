// A client of Rally's REST API as another team would write it: types generated from the
// OpenAPI document by openapi-typescript (./rally.d.ts), calls through openapi-fetch, the
// whole type-checked by tsc --strict before it runs. The Go test (openapitest_test.go)
// writes ./config.mts and runs the compiled file; any failed check throws, so node exits
// non-zero and prints why.
import createClient from "openapi-fetch";
import type { paths } from "./rally.js";
import { baseUrl, eventId, eventTitle } from "./config.mjs";

const client = createClient<paths>({ baseUrl });

function check(ok: boolean, what: string, got: unknown): void {
  if (!ok) throw new Error(`${what}: got ${JSON.stringify(got)}`);
}

// GET /v1/events/{event}, by its natural path, with the path parameter typed as the
// event's ID. Anonymous: a public read.
const got = await client.GET("/v1/events/{event}", { params: { path: { event: eventId } } });
check(got.response.status === 200 && got.error === undefined, "GET /v1/events/{event}", got.error);
if (got.data === undefined) throw new Error("GET /v1/events/{event}: no body");
const name: string | undefined = got.data.name;
const title: string | undefined = got.data.title;
check(name === `events/${eventId}`, "event name", name);
check(title === eventTitle, "event title", title);

// A missing event: 404, and the error typed as the document's google.rpc.Status.
const missing = await client.GET("/v1/events/{event}", { params: { path: { event: "no-such-event" } } });
const code: number | undefined = missing.error?.code;
check(missing.response.status === 404 && code === 5, "GET of a missing event (want 404, NOT_FOUND = 5)", [missing.response.status, missing.error]);

// The event's calendar feed, which the document describes although no proto does.
const ics = await client.GET("/v1/events/{event}.ics", { params: { path: { event: eventId } }, parseAs: "text" });
check(ics.response.status === 200 && ics.response.headers.get("Content-Type")?.startsWith("text/calendar") === true, "GET /v1/events/{event}.ics", ics.response.status);
const calendar: string = ics.data ?? "";
check(calendar.startsWith("BEGIN:VCALENDAR") && calendar.includes(eventTitle), "the calendar", calendar);

// Never called, only type-checked: the collapsed paths of the old document are gone, so
// tsc would refuse this call; if it stops refusing it, @ts-expect-error fails the build.
export function collapsedPathIsGone(): Promise<unknown> {
  // @ts-expect-error: /v1/{name_2} is not a path of the document.
  return client.GET("/v1/{name_2}", { params: { path: { name_2: `events/${eventId}` } } });
}

console.log(JSON.stringify({ name, title, missing: missing.response.status, calendarBytes: calendar.length }));
