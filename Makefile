# Runnel's build and test entry points. `make test` is what CI runs.
GO      ?= go
PKGS    := ./...
# The packages whose concurrency matters most always run under the race
# detector; the rest do too, it costs little here.
RACE    := -race

.PHONY: build test lint fmt-check vet staticcheck unit bench run

build:
	$(GO) build -o bin/runnel ./cmd/runnel

run:
	$(GO) run ./cmd/runnel cluster

test: lint unit

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
