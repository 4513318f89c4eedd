"""Turns one `perf report --sort dso,symbol` (flat, self time) into the markdown that
scripts/profile.sh writes: the gateway's CPU per request, its samples grouped by where they
are, and the top symbols.

usage: profile_summary.py ROUTE CPU_JSON REPORT_TXT
"""

import json
import re
import sys

# First match wins; matched against "dso symbol".
GROUPS = [
    ("kernel (syscalls, scheduling, network stack)", r"\[kernel|\[k\]"),
    ("allocator (malloc, free, realloc)", r"malloc|free|realloc|calloc|_int_|tcache|arena|cfree"),
    ("memcpy / memmove / memset", r"mem(cpy|move|set|cmp)|__memcpy|__memmove"),
    ("JSON (serde_json, serde)", r"serde_json|serde::|::serde|_serde|serialize|deserialize"),
    ("SigV4, hashing, hex (aws-sigv4, sha2, hmac, ring/aws-lc)", r"sigv4|sha2|sha256|hmac|hex::|aws_lc|ring::|Sha256|sign"),
    ("AWS SDK (smithy runtime, clients)", r"aws_smithy|aws_sdk|aws_runtime|aws_config|aws_types"),
    ("tokio runtime", r"tokio"),
    ("hyper / h1 / http", r"hyper|httparse|http::|h2::|http_body"),
    ("tracing", r"tracing"),
    ("the gateway's code (gateway, api, gateway_aws, axum)", r"gateway|api::|axum|tower"),
    ("libc other", r"libc"),
]


def main():
    route, cpu_json, report = sys.argv[1], sys.argv[2], sys.argv[3]
    cpu = json.loads(cpu_json)
    rows = []
    for line in open(report, encoding="utf-8", errors="replace"):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
        if m:
            rows.append((float(m.group(1)), m.group(2), m.group(3), m.group(4).strip()))
    groups = {name: 0.0 for name, _ in GROUPS}
    groups["other"] = 0.0
    for pct, dso, kind, sym in rows:
        text = f"{dso} {'[k]' if kind == 'k' else ''} {sym}"
        for name, pattern in GROUPS:
            if re.search(pattern, text, re.IGNORECASE):
                groups[name] += pct
                break
        else:
            groups["other"] += pct
    print(f"#### {route}: {cpu['cpu_us_per_request']} µs of gateway CPU per request ({cpu['requests']} requests)\n")
    print("| where | share of samples | µs per request |")
    print("| --- | ---: | ---: |")
    for name, pct in sorted(groups.items(), key=lambda kv: -kv[1]):
        if pct >= 0.5:
            print(f"| {name} | {pct:.1f}% | {pct * cpu['cpu_us_per_request'] / 100:.0f} |")
    print("\nTop symbols by self time:\n")
    print("| share | where | symbol |")
    print("| ---: | --- | --- |")
    for pct, dso, kind, sym in rows[:15]:
        sym = sym if len(sym) < 110 else sym[:107] + "…"
        print(f"| {pct:.1f}% | {dso} | `{sym}` |")
    print()


if __name__ == "__main__":
    main()
