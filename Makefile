# Rally: `make run` starts rallyd on the in-memory store with demo data; `make test` runs
# every test. Both install what they need on a fresh machine.

SHELL := /bin/bash
GO ?= go
BUF := tools/node_modules/.bin/buf
GOTEST_FLAGS ?= -race -count=1 -timeout 20m

.PHONY: run build grpcurl test test-deps fuzz bench bench-smoke bench-static generate check-generated lint lint-openapi tools vendor-protos clean

## run: build rallyd and rally, and start rallyd on the in-memory store, seeded with demo data
run: build
	./bin/rallyd --demo

## build: compile rallyd (the server) and rally (the CLI) into bin/: the README's tour runs
## ./bin/rally
build:
	$(GO) build -o bin/rallyd ./cmd/rallyd
	$(GO) build -o bin/rally ./cmd/rally

## grpcurl: build grpcurl (pinned in go.mod as a Go tool) into bin/, for calling the gRPC
## port by hand from anywhere (`go tool grpcurl` works only inside this module). Its first
## build takes a few minutes, which is why `make build` leaves it out
grpcurl:
	$(GO) build -o bin/grpcurl github.com/fullstorydev/grpcurl/cmd/grpcurl

## test: run every test (starts private redis-server instances and headless Chromium;
## installs redis-server and chromium if missing)
test: test-deps
	$(GO) vet ./...
	$(GO) test $(GOTEST_FLAGS) ./...

# redis-server and Chromium (for the browser tests of the web client, in
# internal/web/browsertest) are real dependencies of the tests, never skipped: install
# them when we can, otherwise stop with a message that names the package. RALLY_CHROMIUM
# names another Chromium binary than Debian's /usr/bin/chromium. The pinned npm tools
# (tools/node_modules) are one too: internal/openapitest generates a TypeScript client
# with them.
test-deps: $(BUF)
	@command -v redis-server >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server (Debian package redis-server) for the tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  else \
	    echo "the tests need redis-server: install the Debian package redis-server (apt-get install redis-server)" >&2; exit 1; \
	  fi; }
	@if [ -n "$$RALLY_CHROMIUM" ]; then \
	  test -x "$$RALLY_CHROMIUM" || { echo "RALLY_CHROMIUM=$$RALLY_CHROMIUM is not an executable file" >&2; exit 1; }; \
	elif [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian package chromium) for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null && test -x /usr/bin/chromium; \
	  else \
	    echo "the browser tests need Chromium: install the Debian package chromium (apt-get install chromium)" >&2; exit 1; \
	  fi; \
	fi

## fuzz: run each fuzz test for FUZZTIME executions (default 20000x; a few minutes in all). `make test`
## runs their seed corpora; a failing input is saved under the package's testdata/fuzz. A count, not a
## duration: Go 1.26's coordinator can report "context deadline exceeded" at the end of a timed run on
## a loaded machine (golang/go#75804, fixed in 1.27), which failed CI with no failing input
FUZZTIME ?= 20000x
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeCursor$$' -fuzztime $(FUZZTIME) ./internal/pubsub/hub
	$(GO) test -run '^$$' -fuzz '^FuzzPageToken$$' -fuzztime $(FUZZTIME) ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzListPageToken$$' -fuzztime $(FUZZTIME) ./internal/store
	$(GO) test -run '^$$' -fuzz '^FuzzRequestProto$$' -fuzztime $(FUZZTIME) ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzRequestJSON$$' -fuzztime $(FUZZTIME) ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzRequestBytes$$' -fuzztime $(FUZZTIME) ./internal/server
	$(GO) test -run '^$$' -fuzz '^FuzzPathAt$$' -fuzztime $(FUZZTIME) ./internal/gateway
	$(GO) test -run '^$$' -fuzz '^FuzzRESTPath$$' -fuzztime $(FUZZTIME) ./internal/gateway
	$(GO) test -run '^$$' -fuzz '^FuzzRESTQuery$$' -fuzztime $(FUZZTIME) ./internal/gateway

## bench: measure rallyd on a private redis-server against same-run baselines (issue 8);
## prints a table with targets and writes bin/bench.json. BENCH_FLAGS adds flags (-h lists them)
BENCH_FLAGS ?=
bench: test-deps
	@mkdir -p bin
	$(GO) run ./cmd/rallybench -json bin/bench.json $(BENCH_FLAGS)

## bench-smoke: the same with small sizes, about 30s
bench-smoke: test-deps
	@mkdir -p bin
	$(GO) run ./cmd/rallybench -smoke -json bin/bench-smoke.json $(BENCH_FLAGS)

## bench-static: build the harness as one static binary, bin/rallybench, to run the same
## benchmark on another machine (it needs only redis-server there): see docs/performance.md,
## "On a bigger machine", for pinning rallyd, the load and redis-server with taskset
bench-static:
	@mkdir -p bin
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/rallybench ./cmd/rallybench

## tools: install the pinned npm tools (tools/package.json: buf, Redocly CLI, and the
## TypeScript client generators of internal/openapitest); the protoc plugins are Go tools
## in go.mod. $(BUF) stands for all of them: npm ci installs them together
tools: $(BUF)
$(BUF): tools/package.json tools/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "the pinned tools need Node.js 20.19 or later with npm: install the Debian packages nodejs and npm" >&2; exit 1; }
	cd tools && npm ci --no-audit --no-fund --loglevel=error
	@touch $(BUF)

## api-linter: Google's API linter, pinned in tools/apilinter/go.mod, a module of its own so
## that its dependencies do not move the project's; built into bin/
API_LINTER := bin/api-linter
tools: $(API_LINTER)
$(API_LINTER): tools/apilinter/go.mod tools/apilinter/go.sum
	cd tools/apilinter && $(GO) build -o ../../$(API_LINTER) github.com/googleapis/api-linter/v2/cmd/api-linter

## generate: regenerate gen/ from proto/ with the pinned generators
generate: $(BUF)
	rm -rf gen/go
	find gen/openapiv2 -name '*.json' -delete 2>/dev/null || true
	$(BUF) generate
	node openapi/postprocess.mjs gen/openapiv2/rally.swagger.json openapi/feeds.json

## check-generated: fail when gen/ differs from what `make generate` produces
check-generated: generate
	@if [ -n "$$(git status --porcelain -- gen/)" ]; then \
	  echo "gen/ is stale: run 'make generate' and commit the result" >&2; \
	  git status --porcelain -- gen/ >&2; git diff --stat -- gen/ >&2; exit 1; fi

## lint: buf lint, Google's api-linter (AIP rules; .api-linter.yaml says which are off and
## why), buf format, the OpenAPI linter (lint-openapi), gofmt and go vet
lint: $(BUF) $(API_LINTER)
	$(BUF) lint
	cd proto && ../$(API_LINTER) --config ../.api-linter.yaml --set-exit-status --output-format github rally/v1/*.proto
	$(BUF) format --diff --exit-code --path proto/rally
	$(MAKE) --no-print-directory lint-openapi
	@test -z "$$(gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'))" || { gofmt -l $$(git ls-files '*.go' | grep -v '^gen/'); exit 1; }
	$(GO) vet ./...

## lint-openapi: lint the OpenAPI document with the pinned Redocly CLI (openapi/redocly.yaml:
## its recommended rules, every exception with its reason); fails on any error or warning
REDOCLY := tools/node_modules/.bin/redocly
lint-openapi: $(BUF)
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true $(REDOCLY) lint --config openapi/redocly.yaml --max-problems 1000 gen/openapiv2/rally.swagger.json

## vendor-protos: refresh the third-party protos under proto/ from the Go module cache, and
## google/api's field_behavior.proto and resource.proto from the npm package
## google-proto-files (googleapis' protos; grpc-gateway v1's copy predates IDENTIFIER)
GOOGLE_PROTO_FILES := google-proto-files@6.0.1
vendor-protos:
	tmp=$$(mktemp -d) && (cd $$tmp && npm pack --silent $(GOOGLE_PROTO_FILES) >/dev/null && tar -xzf google-proto-files-*.tgz package/google/api/field_behavior.proto package/google/api/resource.proto) && cp $$tmp/package/google/api/{field_behavior,resource}.proto proto/google/api/ && rm -rf $$tmp
	cp $$($(GO) mod download -json github.com/grpc-ecosystem/grpc-gateway@v1.16.0 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/third_party/googleapis/google/api/{annotations,http,httpbody}.proto proto/google/api/
	cp $$($(GO) mod download -json github.com/bufbuild/protovalidate@v1.2.2 | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')/proto/protovalidate/buf/validate/validate.proto proto/buf/validate/
	chmod 644 proto/google/api/*.proto proto/buf/validate/*.proto

clean:
	rm -rf bin
