// The last step of `make generate`: finishes the OpenAPI document protoc-gen-openapiv2 wrote,
// in place, with what its options cannot express:
//   - public methods take a bearer token optionally: the empty security list that
//     openapi/rally.openapi.yaml gives them becomes [{}, {bearer: []}] (anonymous, or a token);
//   - the calendar feeds, plain HTTP handlers that no proto describes, are added from
//     openapi/feeds.json (paths, their tag and the responses they share).
// The output depends only on its input (paths sorted, JSON indented by two spaces), so that
// `make check-generated` finds it unchanged. Usage: node openapi/postprocess.mjs DOC FEEDS
import { readFileSync, writeFileSync } from "node:fs";

const [docPath, feedsPath] = process.argv.slice(2);
if (!docPath || !feedsPath) {
  console.error("usage: node openapi/postprocess.mjs gen/openapiv2/rally.swagger.json openapi/feeds.json");
  process.exit(2);
}
const doc = JSON.parse(readFileSync(docPath, "utf8"));
const feeds = JSON.parse(readFileSync(feedsPath, "utf8"));

function fail(msg) {
  console.error(`${docPath}: ${msg}`);
  process.exit(1);
}

// The document's options come from the file the generator merged into (see
// openapi/rally.openapi.yaml): a file without them would leave the generator's default title.
if (doc.info?.title !== "Rally API") {
  fail(`info.title is ${JSON.stringify(doc.info?.title)}, not "Rally API": does every proto file of rally/v1 have an entry in openapi/rally.openapi.yaml?`);
}
if (!doc.securityDefinitions?.bearer) fail("no bearer security definition");

const methods = ["get", "put", "post", "delete", "options", "head", "patch"];
let optional = 0;
for (const item of Object.values(doc.paths)) {
  for (const m of methods) {
    const op = item[m];
    if (op && Array.isArray(op.security) && op.security.length === 0) {
      op.security = [{}, { bearer: [] }];
      optional++;
    }
  }
}
if (optional === 0) fail("no public method: the security overrides of openapi/rally.openapi.yaml did not apply");

for (const path of Object.keys(feeds.paths)) {
  if (doc.paths[path]) fail(`${path} is both generated and in ${feedsPath}`);
}
const paths = { ...doc.paths, ...feeds.paths };
doc.paths = Object.fromEntries(Object.keys(paths).sort().map((p) => [p, paths[p]]));
doc.tags = [...(doc.tags ?? []), ...feeds.tags];
doc.responses = { ...(doc.responses ?? {}), ...feeds.responses };

// Keys in the generator's order: responses (a top-level section it never writes) after
// paths, where OpenAPI 2 lists it.
const ordered = {};
for (const [k, v] of Object.entries(doc)) {
  if (k === "responses") continue;
  ordered[k] = v;
  if (k === "paths") ordered.responses = doc.responses;
}
writeFileSync(docPath, JSON.stringify(ordered, null, 2) + "\n");
