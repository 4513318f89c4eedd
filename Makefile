# Shortcuts; each target is one script under scripts/, which is what CI and the README call.
.PHONY: test run lint bench

test:
	bash scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
