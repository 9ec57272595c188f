// Package doctest runs the examples of the README and of docs/*.md against a live rallyd,
// so that the documentation cannot drift from the product (issue 18). It has no code of
// its own: the test is doctest_test.go, run by `make test` like every other.
//
// How a Markdown file is run:
//
//   - Every fenced block whose info string is `sh` is a shell example. The blocks of one
//     file run in order, in one bash session (`set -eo pipefail`), so that a variable set
//     in one block is there in the next, as for a reader who types them into one terminal.
//     Blocks in other languages (json, text, go, js, ini, ...) are not run.
//   - Each file gets a fresh rallyd (in process, memory store, demo data seeded, as
//     `make run` does), a fresh home and config directory, and a working directory with
//     bin/rally built from cmd/rally, so files do not depend on one another. Within a file
//     the examples must not collide (IDs taken by an earlier block, say).
//   - The server listens on free loopback ports: `localhost:8080` and `localhost:9090` in
//     a block are replaced by its addresses, and RALLY_SERVER names its gRPC address.
//     RALLY_TOKEN holds its admin token, as after `export RALLY_TOKEN=...` from `make run`.
//   - `curl` is run with --fail-with-body, so that an HTTP error fails the example, unless
//     the example asks for the status itself with -w (an example of an error).
//   - A block preceded by `<!-- norun: REASON -->` is not run (it starts a server, needs
//     Docker, ...). The reason is required; keep such blocks few.
//   - `<!-- expect: TEXT -->` right after a block: the block's output (stdout and stderr)
//     must contain TEXT.
package doctest
