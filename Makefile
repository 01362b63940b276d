# Exhibit — build, test, demo, bench, lint.
# `make test` is what CI runs (.ci/run): go vet, then every test with -race, including the
# S3 store suite against a real MinIO server that scripts/minio.sh builds and caches.

GO        ?= go
PKGS_RACE  = $(shell $(GO) list ./... | grep -v '/connectors/msgraph$$')
BIN       ?= bin/exhibit

.PHONY: build test test-short vet bench demo lint minio clean

build:
	$(GO) build -o $(BIN) ./cmd/exhibit

vet:
	$(GO) vet ./...

# The msgraph connector package runs without -race: instrumenting msgraph-sdk-go costs
# another full compile of the largest dependency (see connectors/msgraph/README.md).
test: vet minio
	EXHIBIT_MINIO_BIN="$$(scripts/minio.sh path)" EXHIBIT_REQUIRE_MINIO=1 $(GO) test -race -timeout 40m $(PKGS_RACE)
	EXHIBIT_MINIO_BIN="$$(scripts/minio.sh path)" EXHIBIT_REQUIRE_MINIO=1 $(GO) test -timeout 30m ./connectors/msgraph

test-short:
	$(GO) test -short ./...

minio:
	scripts/minio.sh ensure

bench: minio
	EXHIBIT_MINIO_BIN="$$(scripts/minio.sh path)" scripts/bench.sh

demo:
	$(GO) run ./cmd/exhibit demo

lint: vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

clean:
	rm -rf bin exhibit-demo
