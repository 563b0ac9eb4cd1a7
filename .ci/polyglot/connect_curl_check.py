#!/usr/bin/env python3
"""The Connect protocol with curl: the service answers curl without any gRPC stack.

    connect_curl_check.py --addr 127.0.0.1:PORT

Runs curl (HTTP/2 with prior knowledge: the service speaks HTTP/2 only) against the facade and
checks the JSON it prints: a Describe with GET, an Export of a missing snapshot with POST JSON (the
decoded ErrorInfo, ResourceInfo and RequestInfo in `debug`), a request missing a field (a
BadRequest naming it), and a Describe while the upstream throttles (RetryInfo; the throttle is
injected into the facade's embedded emulator, `--emulator URL`).
"""

import argparse
import json
import shutil
import subprocess
import sys

from checklib import Checks, expect, main_guard

SERVICE = "elasticache.v1.ElastiCacheService"


def curl(*args):
    """(HTTP status, parsed JSON body) of one curl call."""
    out = subprocess.run(
        ["curl", "-sS", "--http2-prior-knowledge", "--max-time", "10", "-w", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    expect(out.returncode == 0, f"curl exited {out.returncode}: {out.stderr.strip()}")
    body, _, code = out.stdout.rpartition("\n")
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

    def get_describe():
        code, body = curl(f"{base}/DescribeServerlessCaches?connect=v1&encoding=json&message=%7B%7D")
        expect(code == 200, f"HTTP {code}: {body}")
        expect(isinstance(body.get("serverlessCaches", []), list), f"no serverlessCaches list: {body}")

    checks.run("curl-connect-get-describe", get_describe, needs=["curl-installed"])

    def post_missing_snapshot():
        code, body = curl(
            "-H", "content-type: application/json",
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

    checks.run("curl-connect-post-not-found-details", post_missing_snapshot, needs=["curl-installed"])

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

    checks.run("curl-connect-post-missing-field", post_missing_field, needs=["curl-installed"])

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

    checks.run("curl-connect-throttled-retry-info", throttled_upstream, needs=["curl-installed"])
    print(f"connect_curl_check: {checks.passed} passed, {checks.failed} failed", file=sys.stderr)
    return checks.exit_code()


if __name__ == "__main__":
    main_guard(main)
