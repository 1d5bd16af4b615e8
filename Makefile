# StellaOps developer entry points. `make demo` and `make test` work on a fresh clone.

CARGO ?= cargo
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STELLA := $(TARGET_DIR)/release/stella
DEMO_DIR := $(TARGET_DIR)/demo
DEMO_DB := $(DEMO_DIR)/advisories.db

.PHONY: build demo server-demo feeds-demo prerequisites test lint fuzz-build bench sample-db clean

build:
	$(CARGO) build --release --locked -p stella-cli -p stella-server

## A real scan on the embedded defaults: import the shipped advisories, scan the demo SBOM
## with --fail-on, then under the prod-gate policy with two VEX documents, in production.
demo: build
	@rm -rf $(DEMO_DIR) && mkdir -p $(DEMO_DIR)
	$(STELLA) db import --db $(DEMO_DB) data/demo/advisories
	@# Exit 1 means the verdict failed, which is the point of the demo.
	$(STELLA) scan --sbom data/demo/sbom.cdx.json --db $(DEMO_DB) --fail-on critical; \
	  rc=$$?; echo "stella exit code: $$rc"; test $$rc -le 1
	$(STELLA) policy validate config/policies/*.yaml
	$(STELLA) scan --sbom data/demo/sbom.cdx.json --db $(DEMO_DB) \
	  --policy config/policies/prod-gate.yaml \
	  --vex config/policies/vex/demo.openvex.json --vex config/policies/vex/demo.cdx-vex.json \
	  --namespace shop --namespace-label env=prod; \
	  rc=$$?; echo "stella exit code: $$rc"; test $$rc -eq 1

## The core server on the embedded defaults: stella-server on a free loopback port, a
## token, the demo SBOM scanned through the server, the quota.
server-demo: build
	bash e2e/server-demo.sh $(TARGET_DIR)

## Feedser on the real sample (testdata/feeds-sample, nine sources): sync, merge, show a
## four-source advisory, export, then scan the demo SBOM against the merged snapshot.
feeds-demo: build
	@rm -rf $(DEMO_DIR)/feeds && mkdir -p $(DEMO_DIR)/feeds
	$(STELLA) feeds sync --config e2e/feeds/sample.yaml --store $(DEMO_DIR)/feeds/feeds.db --db $(DEMO_DIR)/feeds/advisories.db
	$(STELLA) feeds status --store $(DEMO_DIR)/feeds/feeds.db
	$(STELLA) feeds show CVE-2023-23934 --store $(DEMO_DIR)/feeds/feeds.db --output table
	$(STELLA) feeds export --store $(DEMO_DIR)/feeds/feeds.db --out $(DEMO_DIR)/feeds/export
	$(STELLA) scan --sbom data/demo/sbom.cdx.json --db $(DEMO_DIR)/feeds/advisories.db --fail-on critical; \
	  rc=$$?; echo "stella exit code: $$rc"; test $$rc -le 1

## The tools the tests need (Debian packages, cargo-auditable; installed when missing, as
## root) and the e2e test image (built once, cached under /var/tmp/stella-test-images).
prerequisites:
	bash e2e/prerequisites.sh

## Unit, property, integration and differential tests, after their prerequisites.
test: prerequisites
	$(CARGO) test --workspace --locked --no-fail-fast

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## Builds the cargo-fuzz targets (runs need: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET).
fuzz-build:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build

## Benchmarks: criterion (in-process match, version compare) and the bench/ harnesses.
bench: build
	$(CARGO) bench -p stella-core --bench match_sbom --bench version_compare --bench feedser_merge --bench feed_store --bench policy_eval
	bash bench/scan-process.sh
	bash bench/import-throughput.sh
	bash bench/server-load.sh
	bash bench/schemathesis.sh

clean:
	$(CARGO) clean
