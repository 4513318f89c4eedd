"""Drives one route of a running api-local with keep-alive requests while `perf record` samples
it, and reports the gateway's CPU per request from /proc (user + sys ticks).

Used by scripts/profile.sh; not a benchmark (gateway-bench measures latency): it only has to
keep the gateway busy for the profiler, one request at a time, and count its CPU.

usage: profile_load.py HOST:PORT PID ROUTE REQUESTS
ROUTE: converse | converse-stream | chat | chat-stream | converse-controls
"""

import http.client
import json
import os
import sys

MODEL = "anthropic.claude-haiku-4-5-20251001-v1%3A0"
CONVERSE = {
    "messages": [{"role": "user", "content": [{"text": "What is the capital of France? Answer in one sentence."}]}],
    "inferenceConfig": {"maxTokens": 200},
}


def chat(stream):
    body = {
        "model": "haiku",
        "max_tokens": 200,
        "messages": [{"role": "user", "content": "What is the capital of France? Answer in one sentence."}],
    }
    if stream:
        body["stream"] = True
    return body


ROUTES = {
    "converse": (f"/model/{MODEL}/converse", CONVERSE),
    "converse-stream": (f"/model/{MODEL}/converse-stream", CONVERSE),
    "chat": ("/v1/chat/completions", chat(False)),
    "chat-stream": ("/v1/chat/completions", chat(True)),
}


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 of stat; after the ")" split they are 11 and 12.
    return int(fields[11]) + int(fields[12])


def main():
    addr, pid, route, requests = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    path, body = ROUTES[route]
    headers = {"content-type": "application/json"}
    if os.environ.get("PROFILE_API_KEY"):
        headers["authorization"] = "Bearer " + os.environ["PROFILE_API_KEY"]
    conn = http.client.HTTPConnection(host, int(port))
    payload = json.dumps(body)
    before = cpu_ticks(pid)
    for i in range(requests):
        # A distinct prompt per request when controls are on, so the response cache misses.
        if os.environ.get("PROFILE_DISTINCT"):
            payload = json.dumps(body).replace("France?", f"France ({i})?")
        conn.request("POST", path, payload, headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            sys.exit(f"profile_load: {route} answered {response.status}")
    after = cpu_ticks(pid)
    tick_us = 1_000_000 / os.sysconf("SC_CLK_TCK")
    print(json.dumps({"route": route, "requests": requests,
                      "cpu_us_per_request": round((after - before) * tick_us / requests, 1)}))


if __name__ == "__main__":
    main()
