# Exhibit — build, test, demo, bench, lint.
# `make test` is what CI runs (.ci/run): go vet, then every test with -race, including the
# S3 store suite against a real MinIO server that scripts/minio.sh builds and caches.

GO        ?= go
# Packages that link msgraph-sdk-go run without -race: instrumenting it costs another full
# compile of the largest dependency (about eight minutes on two cores). Everything they
# share with the rest (core/, evidence/, config/) is raced in its own package's tests.
NORACE     = ./connectors/msgraph ./connectors/all ./cmd/exhibit
PKGS_RACE  = $(shell $(GO) list ./... | grep -v -e '/connectors/msgraph$$' -e '/connectors/all$$' -e '/cmd/exhibit$$')
BIN       ?= bin/exhibit
TESTENV    = EXHIBIT_MINIO_BIN="$$(scripts/minio.sh path)" EXHIBIT_REQUIRE_MINIO=1 EXHIBIT_REQUIRE_TOOLS=1

.PHONY: build test test-short vet bench demo lint minio tools clean

build:
	$(GO) build -o $(BIN) ./cmd/exhibit

vet:
	$(GO) vet ./...

test: vet minio tools
	$(TESTENV) $(GO) test -race -timeout 40m $(PKGS_RACE)
	$(TESTENV) $(GO) test -timeout 30m $(NORACE)

test-short:
	$(GO) test -short ./...

minio:
	scripts/minio.sh ensure

tools:
	scripts/tools.sh

bench: minio
	EXHIBIT_MINIO_BIN="$$(scripts/minio.sh path)" scripts/bench.sh

demo:
	$(GO) run ./cmd/exhibit demo

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin exhibit-demo
