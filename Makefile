# The one task runner; CI calls `make test` (through .ci/run).
.PHONY: demo serve test build bench-ingest bench-recommend fmt

demo:
	cargo run --release -p tailor -- demo

serve:
	cargo run --release -p tailor -- serve

test:
	./scripts/test.sh

build:
	cargo build --workspace

bench-ingest:
	cargo run --release -p tailor -- bench ingest

bench-recommend:
	cargo run --release -p tailor -- bench recommend

fmt:
	cargo fmt --all
