#!/usr/bin/env python3
"""The Connect protocol with curl: the service answers curl without any gRPC stack.

    connect_curl_check.py --addr 127.0.0.1:PORT

Runs curl against the facade as the README shows it — plain `curl`, which speaks HTTP/1.1 on
plaintext — and again with `--http2-prior-knowledge`, and checks the JSON it prints: a Describe
with GET, an Export of a missing snapshot with `-X POST -H 'content-type: application/json'` (the
decoded ErrorInfo, ResourceInfo and RequestInfo in `debug`), a request missing a field (a
BadRequest naming it), and a Describe while the upstream throttles (RetryInfo; the throttle is
injected into the facade's embedded emulator, `--emulator URL`). Plain gRPC over HTTP/1.1 must get
505 with a grpc-status that says why.
"""

import argparse
import json
import shutil
import subprocess
import sys

from checklib import Checks, expect, main_guard

SERVICE = "elasticache.v1.ElastiCacheService"


# curl's HTTP version options per run, and the version curl must report having used.
VERSIONS = {"http1.1": ([], "1.1"), "http2": (["--http2-prior-knowledge"], "2")}
version = "http1.1"


def curl(*args):
    """(HTTP status, parsed JSON body) of one curl call, in the current `version`."""
    options, expected = VERSIONS[version]
    out = subprocess.run(
        ["curl", "-sS", *options, "--max-time", "10", "-w", "\n%{http_version} %{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    expect(out.returncode == 0, f"curl exited {out.returncode}: {out.stderr.strip()}")
    body, _, trailer = out.stdout.rpartition("\n")
    used, _, code = trailer.partition(" ")
    expect(used == expected, f"curl spoke HTTP/{used}, expected HTTP/{expected}")
    try:
        parsed = json.loads(body)
    except ValueError as err:
        raise AssertionError(f"HTTP {code}, not JSON ({err}): {body[:300]!r}") from err
    return int(code), parsed


def detail(error, type_name):
    found = [d for d in error.get("details", []) if d.get("type") == type_name]
    expect(found, f"no {type_name} in {json.dumps(error)[:400]}")
    expect(found[0].get("value"), f"{type_name} has no base64 value")
    return found[0].get("debug", {})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", required=True)
    parser.add_argument("--emulator", help="the facade's embedded emulator, for fault injection")
    args = parser.parse_args()
    base = f"http://{args.addr}/{SERVICE}"
    checks = Checks()

    checks.run("curl-installed", lambda: expect(shutil.which("curl"), "curl is not on PATH"))
    global version
    for version in VERSIONS:
        run_version(checks, base, args, suffix="" if version == "http1.1" else f"-{version}")

    def plain_grpc_over_http1():
        out = subprocess.run(
            ["curl", "-sS", "-i", "--max-time", "10", "-H", "content-type: application/grpc",
             "--data-binary", "@-", f"{base}/DescribeServerlessCaches"],
            input=b"\0\0\0\0\0", capture_output=True, timeout=30, check=False,
        )
        expect(out.returncode == 0, f"curl exited {out.returncode}: {out.stderr.strip()}")
        head = out.stdout.decode(errors="replace").split("\r\n\r\n")[0].lower()
        expect(head.startswith("http/1.1 505"), f"status line {head.splitlines()[:1]}")
        expect("grpc-status: 12" in head, f"headers {head}")
        expect("grpc-message: grpc%20needs%20http/2" in head, f"headers {head}")

    checks.run("curl-plain-grpc-over-http1-is-505", plain_grpc_over_http1, needs=["curl-installed"])
    print(f"connect_curl_check: {checks.passed} passed, {checks.failed} failed", file=sys.stderr)
    return checks.exit_code()


def run_version(checks, base, args, suffix):
    """The Connect checks in the current `version`; check names end in `suffix`."""

    def get_describe():
        code, body = curl(f"{base}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D")
        expect(code == 200, f"HTTP {code}: {body}")
        expect(isinstance(body.get("serverlessCaches", []), list), f"no serverlessCaches list: {body}")

    checks.run(f"curl-connect-get-describe{suffix}", get_describe, needs=["curl-installed"])

    def post_missing_snapshot():
        code, body = curl(
            "-X", "POST", "-H", "content-type: application/json",
            "-d", json.dumps({"serverlessCacheSnapshotName": "curl-missing", "s3BucketName": "corp-cache-backups"}),
            f"{base}/ExportServerlessCacheSnapshot",
        )
        expect(code == 404, f"HTTP {code}, expected 404: {body}")
        expect(body.get("code") == "not_found", f"code {body.get('code')!r}")
        info = detail(body, "google.rpc.ErrorInfo")
        expect(info.get("reason") == "SERVERLESS_CACHE_SNAPSHOT_NOT_FOUND", f"ErrorInfo {info}")
        resource = detail(body, "google.rpc.ResourceInfo")
        expect(resource.get("resourceName") == "curl-missing", f"ResourceInfo {resource}")
        expect(detail(body, "google.rpc.RequestInfo").get("requestId"), "no request id")

    checks.run(f"curl-connect-post-not-found-details{suffix}", post_missing_snapshot, needs=["curl-installed"])

    def post_missing_field():
        code, body = curl(
            "-H", "content-type: application/json",
            "-d", json.dumps({"serverlessCacheSnapshotName": "curl-missing"}),
            f"{base}/ExportServerlessCacheSnapshot",
        )
        expect(code == 400, f"HTTP {code}, expected 400: {body}")
        expect(body.get("code") == "invalid_argument", f"code {body.get('code')!r}")
        violations = detail(body, "google.rpc.BadRequest").get("fieldViolations", [])
        expect([v.get("field") for v in violations] == ["s3_bucket_name"], f"violations {violations}")

    checks.run(f"curl-connect-post-missing-field{suffix}", post_missing_field, needs=["curl-installed"])

    def throttled_upstream():
        expect(args.emulator, "the facade's emulator endpoint was not found in its log")
        # Throttle exactly the attempts of one Describe (3 by default), so nothing after it sees it.
        inject = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-d", "action=DescribeServerlessCaches&kind=throttle&times=3",
             f"{args.emulator}/_emulator/faults"],
            capture_output=True, text=True, timeout=30, check=False,
        )
        expect(inject.returncode == 0 and inject.stdout.strip() == "ok", f"fault injection: {inject.stdout} {inject.stderr}")
        code, body = curl(
            "-H", "content-type: application/json", "-d", "{}", f"{base}/DescribeServerlessCaches"
        )
        expect(code == 429, f"HTTP {code}, expected 429: {body}")
        expect(body.get("code") == "resource_exhausted", f"code {body.get('code')!r}")
        retry = detail(body, "google.rpc.RetryInfo")
        expect(str(retry.get("retryDelay", "")).endswith("s"), f"RetryInfo {retry}")
        info = detail(body, "google.rpc.ErrorInfo")
        expect(info.get("reason") == "THROTTLING", f"ErrorInfo {info}")

    checks.run(f"curl-connect-throttled-retry-info{suffix}", throttled_upstream, needs=["curl-installed"])


if __name__ == "__main__":
    main_guard(main)
