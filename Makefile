# Shortcuts; each target is one script under scripts/, which is what CI and the README call.
.PHONY: test run lint bench evals-local security-scan

test:
	bash scripts/test.sh

# The whole suite offline on localhost (API :8080, webhooks :8081); Ctrl-C stops it.
# Extra flags: make run ARGS='--api-port 9080'
run:
	bash scripts/run-local.sh $(ARGS)

# fmt, clippy (incl. its MSRV lint), cargo-deny offline (licences, bans, sources), and the
# dependencies' rust-version against ours.
lint:
	bash scripts/lint.sh
# template.yaml and pipeline.yaml are linted (cfn-lint, sam validate, checkov) by tests in
# `make test` (testkit template_lint, evals pipeline), so CI does not run the scanners twice.

# The pipeline's eval gate against the offline stack (reports in target/evals/local/).
evals-local:
	bash scripts/ci/evals-local.sh

# The pipeline's security-scan stage, with the advisories (ARGS=--offline: without them, as
# `make lint`).
security-scan:
	bash scripts/ci/security-scan.sh $(ARGS)

bench:
	bash scripts/bench.sh
