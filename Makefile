# Shortcuts; each target is one script under scripts/, which is what CI and the README call.
.PHONY: test run lint bench

test:
	bash scripts/test.sh

# The whole suite offline on localhost (API :8080, webhooks :8081); Ctrl-C stops it.
# Extra flags: make run ARGS='--api-port 9080'
run:
	bash scripts/run-local.sh $(ARGS)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings

bench:
	bash scripts/bench.sh
