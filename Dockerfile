# syntax=docker/dockerfile:1

# Build: a static, trimmed binary. e2e/deploy_test.go runs the go build line
# below exactly as written, since CI has no Docker engine. The nomsgpack tag
# leaves out gin's msgpack codec, which the bridge never uses: nearly a third
# of the binary, and about 1.7 MiB of idle memory (BENCHMARKS.md).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -tags nomsgpack -trimpath -ldflags="-s -w -X main.version=${VERSION}" -o dist/reditus-bridge .
# The journal's directory, owned by distroless's nonroot user (65532): the
# final image has no shell to create it in, and a directory made by COPY
# alone would belong to root, where the bridge could not write its database.
RUN mkdir -p /data && chown 65532:65532 /data

# Run: distroless static carries CA certificates (for Reditus's HTTPS API) and
# a non-root user, and nothing else: no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/dist/reditus-bridge /reditus-bridge
# DATA_DIR/bridge.db is the journal (SQLite). On Fly.io a volume is mounted
# here (fly.toml); with plain Docker, mount one too (-v ...:/data), or it goes
# with the container. DATABASE_URL, when set, keeps the journal in Postgres
# instead, and /data stays empty.
COPY --from=build --chown=65532:65532 /data /data
ENV DATA_DIR=/data
USER nonroot:nonroot
ENV PORT=8080
EXPOSE 8080
ENTRYPOINT ["/reditus-bridge"]
