# Runnel's build and test entry points. `make test` is what CI runs.
GO      ?= go
PKGS    := ./...
# The packages whose concurrency matters most always run under the race
# detector; the rest do too, it costs little here.
RACE    := -race

.PHONY: build test lint fmt-check vet staticcheck unit bench run web-deps web-build web-test e2e web-dev

build:
	$(GO) build -o bin/runnel ./cmd/runnel

run:
	$(GO) run ./cmd/runnel cluster

# The web console is built first: `go vet`, `go test` and `go build` embed
# whatever internal/webui/dist/ holds.
test: web-build lint unit web-test e2e

lint: fmt-check vet staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' | grep -v '^internal/sql/_') 2>/dev/null); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

staticcheck:
	$(GO) tool staticcheck $(PKGS)

# PostgreSQL-backed store tests use RUNNEL_TEST_POSTGRES_URL
# (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable).
unit:
	$(GO) test $(RACE) -count=1 -timeout 20m $(PKGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./internal/engine/... ./bench/...

# ---- web console (web/) ----
# Node 20.19+ and npm; the end-to-end tests also need chromium
# (/usr/bin/chromium, or CHROMIUM_PATH). `.ci/run` installs both.
NPM     ?= npm

# npm ci again only when the lock file changed.
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund

web-deps: web/node_modules/.package-lock.json

# Type-checks and builds the console into internal/webui/dist/ (embedded by
# the next go build) and prints its gzipped size.
web-build: web-deps
	cd web && $(NPM) run build

# Vitest component tests.
web-test: web-deps
	cd web && $(NPM) test

# End-to-end: a runnel binary with the console embedded, driven by chromium;
# screenshots land in web/test-output/.
e2e: web-build build
	cd web && RUNNEL_BIN=$(CURDIR)/bin/runnel $(NPM) run e2e

# Vite's dev server with the API proxied to a local `runnel cluster`.
web-dev: web-deps
	cd web && $(NPM) run dev

# Regenerates internal/rpc/runnelpb from internal/rpc/runnel.proto. Needs
# protoc (Debian: apt-get install protobuf-compiler); the Go plugins are the
# versions pinned as tools in go.mod. Not part of `make test`: the generated
# code is committed.
PROTOC  ?= protoc
.PHONY: proto
proto:
	$(GO) build -o bin/protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go
	$(GO) build -o bin/protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc
	$(PROTOC) --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/protoc-gen-go-grpc \
		-I internal/rpc \
		--go_out=internal/rpc/runnelpb --go_opt=paths=source_relative \
		--go-grpc_out=internal/rpc/runnelpb --go-grpc_opt=paths=source_relative \
		runnel.proto
