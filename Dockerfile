# syntax=docker/dockerfile:1
#
# rallyd (and the rally CLI) in a minimal image:
#
#   docker build -t rally .
#   docker run --rm -p 8080:8080 -p 9090:9090 rally --demo          # in memory, demo data
#   docker run --rm -p 8080:8080 -p 9090:9090 \
#     -e RALLY_REDIS_URL=redis://redis:6379/0 -e RALLY_ADMIN_TOKEN rally
#
# No secret is baked in: the admin token, the Redis URL and any TLS files come from the
# environment (or flags, or mounted files) when the container starts. See deploy/README.md.

# The Go version of go.mod's go line; the build never downloads another toolchain.
ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOTOOLCHAIN=local
# Modules first, so that a source change does not download them again.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
# Static binaries (CGO_ENABLED=0) without local paths (-trimpath) or symbol tables (-s -w).
# gen/ is committed, and the web client and the time zone database are embedded, so the
# build needs nothing but Go.
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags='-s -w' -o /out/rallyd ./cmd/rallyd && \
    go build -trimpath -ldflags='-s -w' -o /out/rally ./cmd/rally

# distroless/static: CA certificates (for rediss:// and other TLS clients), /etc/passwd
# with the unprivileged user nonroot (65532), no shell and no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/rallyd /out/rally /usr/local/bin/
USER nonroot:nonroot
# 8080: REST/JSON gateway, web client, /healthz, /openapi.json. 9090: gRPC (reflection and
# grpc.health.v1 included).
EXPOSE 8080 9090
# rallyd drains on SIGTERM (docker stop): give it --shutdown-timeout (10s by default) plus
# --shutdown-delay, e.g. `docker stop -t 30` or compose's stop_grace_period.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/rallyd"]
