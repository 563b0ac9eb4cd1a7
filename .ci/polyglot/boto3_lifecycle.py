"""The standalone emulator (`elasticache-grpc emulator`) through boto3, as any AWS client sees it.

  boto3_lifecycle.py --endpoint http://127.0.0.1:PORT --settle-ms 200

Covers the serverless lifecycle, paging, every modelled fault as its boto3 exception class and an
injected throttle via the emulator's control surface (/_emulator/...). Prints one
`ok <name>` / `FAIL <name>: <reason>` line per check; exits 1 on any FAIL.
"""

import datetime
import sys
import time
import uuid

import botocore.exceptions

import boto3lib
from checklib import Checks, CheckError, expect, main_guard, one_line, poll

BUCKET = "corp-cache-backups"
PAGE = 20
PAGING_SNAPSHOTS = 25
TRANSITION_TRIES = 5


def main():
    args = boto3lib.parse_args()
    settle_s = args.settle_ms / 1000.0
    # Generous bound on every wait for a transition (settle time plus slow-CI slack).
    wait_s = max(20.0, 20 * settle_s)

    client = boto3lib.client(args.endpoint)
    errors = client.exceptions
    checks = Checks()
    run_id = uuid.uuid4().hex[:8]
    cache = f"pg-b3-{run_id}"
    snapshot = f"pg-b3-{run_id}-snap"
    copy = f"pg-b3-{run_id}-copy"

    # ---- helpers -------------------------------------------------------------------------------

    control = boto3lib.Control(args.endpoint)
    call_counts = control.call_counts
    raises = boto3lib.raises

    def cache_status(name):
        caches = client.describe_serverless_caches(ServerlessCacheName=name)["ServerlessCaches"]
        expect(len(caches) == 1, f"{len(caches)} caches named {name}")
        return caches[0]["Status"]

    def snapshot_status(name):
        snaps = client.describe_serverless_cache_snapshots(ServerlessCacheSnapshotName=name)["ServerlessCacheSnapshots"]
        expect(len(snaps) == 1, f"{len(snaps)} snapshots named {name}")
        return snaps[0]["Status"]

    def wait_cache(name, status="available"):
        poll(lambda: cache_status(name), lambda s: s == status, wait_s, what=f"cache {name} {status}")

    def wait_snapshot(name, status="available"):
        poll(lambda: snapshot_status(name), lambda s: s == status, wait_s, what=f"snapshot {name} {status}")

    def during_transition(start, then, what):
        """start() puts a resource into a transitional state for settle_s; then() must see it so.

        then() returns normally when it observed the refusal. When it did not, the result only
        counts as a failure if both calls fitted inside the settle time; otherwise the resource may
        legitimately have settled in between (slow CI), and the attempt is repeated.
        """
        for attempt in range(1, TRANSITION_TRIES + 1):
            # start() returns the monotonic time just before it sent the request that began the
            # transition (it may first have to wait for an earlier state to settle).
            target, began = start(attempt)
            try:
                return then(target)
            except CheckError as err:
                elapsed = time.monotonic() - began
                if elapsed < settle_s:
                    raise
                last = err
        raise CheckError(
            f"{what}: the two calls never fitted within the {args.settle_ms} ms settle time "
            f"in {TRANSITION_TRIES} tries; last: {last}"
        )

    # ---- control surface -----------------------------------------------------------------------

    def reset():
        status, body = control.request("POST", "/_emulator/reset", {})
        expect(status == 200, f"POST /_emulator/reset answered {status}: {body!r}")
        counts = call_counts()
        expect("ExportServerlessCacheSnapshot" in counts, f"/_emulator/calls lists {sorted(counts)}")

    checks.run("emulator-control-reset-and-calls", reset)

    # ---- lifecycle -----------------------------------------------------------------------------

    def create_cache():
        response = client.create_serverless_cache(
            ServerlessCacheName=cache,
            Engine="valkey",
            Description="polyglot CI",
            Tags=[{"Key": "team", "Value": "ci"}, {"Key": "run", "Value": run_id}],
        )
        created = response["ServerlessCache"]
        expect(created["ServerlessCacheName"] == cache, f"name {created.get('ServerlessCacheName')!r}")
        expect(created["Status"] == "creating", f"status {created.get('Status')!r}, expected creating")
        expect(isinstance(created.get("CreateTime"), datetime.datetime), f"CreateTime {created.get('CreateTime')!r}")
        expect(created.get("ARN", "").startswith("arn:aws:elasticache:us-east-1:"), f"ARN {created.get('ARN')!r}")
        expect(created.get("Endpoint", {}).get("Port"), f"Endpoint {created.get('Endpoint')!r}")
        request_id = response["ResponseMetadata"].get("RequestId")
        expect(request_id, f"ResponseMetadata has no RequestId: {response['ResponseMetadata']}")
        return created

    created = checks.run("boto3-create-serverless-cache", create_cache)
    if created is not None and "Tags" not in created:
        # AWS's ServerlessCache shape has no Tags member and the emulator serves no
        # ListTagsForResource, so tags can only be checked as accepted, not read back.
        print("note: tags round-trip not checkable (no Tags in the Create output, no ListTagsForResource)", flush=True)

    checks.run("boto3-cache-becomes-available", lambda: wait_cache(cache), needs=["boto3-create-serverless-cache"])

    def create_snapshot():
        response = client.create_serverless_cache_snapshot(ServerlessCacheSnapshotName=snapshot, ServerlessCacheName=cache)
        snap = response["ServerlessCacheSnapshot"]
        expect(snap["ServerlessCacheSnapshotName"] == snapshot, f"name {snap.get('ServerlessCacheSnapshotName')!r}")
        expect(snap["Status"] == "creating", f"status {snap.get('Status')!r}, expected creating")
        expect(snap["ServerlessCacheConfiguration"]["ServerlessCacheName"] == cache, f"configuration {snap.get('ServerlessCacheConfiguration')!r}")
        expect(isinstance(snap.get("BytesUsedForCache"), str), f"BytesUsedForCache {snap.get('BytesUsedForCache')!r}")

    checks.run("boto3-create-snapshot", create_snapshot, needs=["boto3-cache-becomes-available"])
    checks.run("boto3-snapshot-becomes-available", lambda: wait_snapshot(snapshot), needs=["boto3-create-snapshot"])

    def export():
        response = client.export_serverless_cache_snapshot(ServerlessCacheSnapshotName=snapshot, S3BucketName=BUCKET)
        snap = response["ServerlessCacheSnapshot"]
        expect(snap["ServerlessCacheSnapshotName"] == snapshot, f"name {snap.get('ServerlessCacheSnapshotName')!r}")
        expect(snap["Status"] == "exporting", f"status {snap.get('Status')!r}, expected exporting")
        return snap

    checks.run("boto3-export-snapshot-exporting", export, needs=["boto3-snapshot-becomes-available"])

    def describe_shows_exporting():
        def start(_attempt):
            # A fresh export each try, so the time it takes counts towards the settle window.
            wait_snapshot(snapshot)
            began = time.monotonic()
            export()
            return snapshot, began

        def then(name):
            status = snapshot_status(name)
            expect(status == "exporting", f"describe says {status!r} right after the export, expected exporting")

        during_transition(start, then, "describe while exporting")

    checks.run("boto3-describe-shows-exporting", describe_shows_exporting, needs=["boto3-export-snapshot-exporting"])
    checks.run("boto3-export-settles-available", lambda: wait_snapshot(snapshot), needs=["boto3-export-snapshot-exporting"])

    def copy_snapshot():
        response = client.copy_serverless_cache_snapshot(
            SourceServerlessCacheSnapshotName=snapshot, TargetServerlessCacheSnapshotName=copy
        )
        snap = response["ServerlessCacheSnapshot"]
        expect(snap["ServerlessCacheSnapshotName"] == copy, f"name {snap.get('ServerlessCacheSnapshotName')!r}")
        expect(snap["Status"] in ("creating", "available"), f"status {snap.get('Status')!r}")
        wait_snapshot(copy)

    checks.run("boto3-copy-snapshot", copy_snapshot, needs=["boto3-export-settles-available"])

    def delete_snapshot(name):
        response = client.delete_serverless_cache_snapshot(ServerlessCacheSnapshotName=name)
        expect(response["ServerlessCacheSnapshot"]["Status"] == "deleting", f"status {response['ServerlessCacheSnapshot'].get('Status')!r}")

        def gone():
            try:
                client.describe_serverless_cache_snapshots(ServerlessCacheSnapshotName=name)
            except errors.ServerlessCacheSnapshotNotFoundFault:
                return "gone"
            return "still listed"

        poll(gone, lambda r: r == "gone", wait_s, what=f"snapshot {name} gone")

    checks.run("boto3-delete-copy-snapshot", lambda: delete_snapshot(copy), needs=["boto3-copy-snapshot"])
    checks.run("boto3-delete-snapshot", lambda: delete_snapshot(snapshot), needs=["boto3-export-settles-available"])

    # ---- paging --------------------------------------------------------------------------------

    paging_cache = f"pg-b3-{run_id}-paging"
    paging_names = [f"pg-b3-{run_id}-page-{i:02d}" for i in range(PAGING_SNAPSHOTS)]

    def paging_setup():
        client.create_serverless_cache(ServerlessCacheName=paging_cache, Engine="redis")
        wait_cache(paging_cache)
        for name in paging_names:
            client.create_serverless_cache_snapshot(ServerlessCacheSnapshotName=name, ServerlessCacheName=paging_cache)

    checks.run("boto3-paging-setup", paging_setup)

    def paging_next_token():
        seen, sizes, token = [], [], None
        for _ in range(PAGING_SNAPSHOTS):  # bound: never more pages than snapshots
            kwargs = {"ServerlessCacheName": paging_cache, "MaxResults": PAGE}
            if token:
                kwargs["NextToken"] = token
            response = client.describe_serverless_cache_snapshots(**kwargs)
            page = [s["ServerlessCacheSnapshotName"] for s in response["ServerlessCacheSnapshots"]]
            expect(len(page) <= PAGE, f"page of {len(page)} > MaxResults {PAGE}")
            seen += page
            sizes.append(len(page))
            token = response.get("NextToken")
            if not token:
                break
        else:
            raise CheckError(f"still a NextToken after {PAGING_SNAPSHOTS} pages")
        expect(len(sizes) >= 2, f"{PAGING_SNAPSHOTS} snapshots came in one page (sizes {sizes}): no NextToken round trip")
        expect(sizes[0] == PAGE, f"first page has {sizes[0]} items, expected {PAGE}")
        duplicates = sorted({n for n in seen if seen.count(n) > 1})
        expect(not duplicates, f"duplicates across pages: {duplicates}")
        missing = sorted(set(paging_names) - set(seen))
        expect(not missing, f"never listed: {missing}")
        extra = sorted(set(seen) - set(paging_names))
        expect(not extra, f"listed but not of this cache: {extra}")

    checks.run("boto3-paging-next-token", paging_next_token, needs=["boto3-paging-setup"])

    def paging_paginator():
        paginator = client.get_paginator("describe_serverless_cache_snapshots")
        pages = list(paginator.paginate(ServerlessCacheName=paging_cache, PaginationConfig={"PageSize": PAGE, "MaxItems": 1000}))
        names = [s["ServerlessCacheSnapshotName"] for p in pages for s in p["ServerlessCacheSnapshots"]]
        expect(len(pages) >= 2, f"paginator made {len(pages)} page(s)")
        expect(sorted(names) == sorted(paging_names), f"paginator saw {len(names)} names, expected {PAGING_SNAPSHOTS}")

    checks.run("boto3-paging-paginator", paging_paginator, needs=["boto3-paging-setup"])

    # ---- faults as modelled exception classes --------------------------------------------------

    def snapshot_not_found():
        err = raises(
            errors.ServerlessCacheSnapshotNotFoundFault,
            client.export_serverless_cache_snapshot,
            ServerlessCacheSnapshotName=f"pg-b3-{run_id}-missing",
            S3BucketName=BUCKET,
        )
        expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"HTTP {err.response['ResponseMetadata']['HTTPStatusCode']}")
        expect(err.response["Error"].get("Message"), "empty error message")
        expect(err.response["ResponseMetadata"].get("RequestId"), f"no RequestId on the error: {err.response['ResponseMetadata']}")

    checks.run("boto3-fault-snapshot-not-found", snapshot_not_found)

    checks.run(
        "boto3-fault-cache-not-found",
        lambda: raises(errors.ServerlessCacheNotFoundFault, client.describe_serverless_caches, ServerlessCacheName=f"pg-b3-{run_id}-missing"),
    )
    checks.run(
        "boto3-fault-cache-already-exists",
        lambda: raises(errors.ServerlessCacheAlreadyExistsFault, client.create_serverless_cache, ServerlessCacheName=paging_cache, Engine="valkey"),
        needs=["boto3-paging-setup"],
    )
    checks.run(
        "boto3-fault-snapshot-already-exists",
        lambda: raises(
            errors.ServerlessCacheSnapshotAlreadyExistsFault,
            client.create_serverless_cache_snapshot,
            ServerlessCacheSnapshotName=paging_names[0],
            ServerlessCacheName=paging_cache,
        ),
        needs=["boto3-paging-setup"],
    )

    def export_while_creating():
        def start(attempt):
            name = f"pg-b3-{run_id}-creating-{attempt}"
            began = time.monotonic()
            client.create_serverless_cache_snapshot(ServerlessCacheSnapshotName=name, ServerlessCacheName=paging_cache)
            return name, began

        def then(name):
            raises(errors.InvalidServerlessCacheSnapshotStateFault, client.export_serverless_cache_snapshot, ServerlessCacheSnapshotName=name, S3BucketName=BUCKET)

        during_transition(start, then, "export while creating")

    checks.run("boto3-fault-invalid-snapshot-state", export_while_creating, needs=["boto3-paging-setup"])

    def snapshot_of_creating_cache():
        def start(attempt):
            name = f"pg-b3-{run_id}-new-{attempt}"
            began = time.monotonic()
            client.create_serverless_cache(ServerlessCacheName=name, Engine="valkey")
            return name, began

        def then(name):
            raises(
                errors.InvalidServerlessCacheStateFault,
                client.create_serverless_cache_snapshot,
                ServerlessCacheSnapshotName=f"{name}-snap",
                ServerlessCacheName=name,
            )

        during_transition(start, then, "snapshot of a creating cache")

    checks.run("boto3-fault-invalid-cache-state", snapshot_of_creating_cache)

    def invalid_parameter():
        err = raises(errors.InvalidParameterValueException, client.describe_serverless_cache_snapshots, MaxResults=1000)
        expect(err.response["Error"]["Code"] == "InvalidParameterValue", f"code {err.response['Error']['Code']!r}")

    checks.run("boto3-fault-invalid-parameter-value", invalid_parameter)

    def throttled():
        before = call_counts().get("DescribeServerlessCaches", 0)
        status, body = control.request("POST", "/_emulator/faults", {"action": "DescribeServerlessCaches", "kind": "throttle", "times": "1"})
        expect(status == 200, f"POST /_emulator/faults answered {status}: {body!r}")
        try:
            response = client.describe_serverless_caches()
        except botocore.exceptions.ClientError as err:
            code = err.response["Error"].get("Code")
            expect(code == "Throttling", f"ClientError code {code!r}, expected Throttling")
            expect(err.response["ResponseMetadata"].get("RequestId"), "no RequestId on the throttling error")
        else:
            raise CheckError(f"throttle not applied; got {one_line(response, 200)}")
        after = call_counts().get("DescribeServerlessCaches", 0)
        expect(after - before == 1, f"{after - before} DescribeServerlessCaches calls reached the emulator, expected 1 (max_attempts=1)")
        # times=1: the next call goes through.
        client.describe_serverless_caches()

    checks.run("boto3-injected-throttle", throttled)

    def injected_error():
        status, body = control.request(
            "POST", "/_emulator/faults",
            {"action": "DescribeServerlessCacheSnapshots", "kind": "error", "times": "1", "status": "503", "code": "ServiceUnavailable", "message": "injected"},
        )
        expect(status == 200, f"POST /_emulator/faults answered {status}: {body!r}")
        try:
            client.describe_serverless_cache_snapshots()
        except botocore.exceptions.ClientError as err:
            expect(err.response["Error"].get("Code") == "ServiceUnavailable", f"code {err.response['Error'].get('Code')!r}")
            expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 503, f"HTTP {err.response['ResponseMetadata']['HTTPStatusCode']}")
        else:
            raise CheckError("injected error not applied")
        client.describe_serverless_cache_snapshots()

    checks.run("boto3-injected-error", injected_error)

    # ---- delete the cache ----------------------------------------------------------------------

    def delete_cache():
        response = client.delete_serverless_cache(ServerlessCacheName=cache)
        expect(response["ServerlessCache"]["Status"] == "deleting", f"status {response['ServerlessCache'].get('Status')!r}")

        def gone():
            try:
                client.describe_serverless_caches(ServerlessCacheName=cache)
            except errors.ServerlessCacheNotFoundFault:
                return "gone"
            return "still listed"

        poll(gone, lambda r: r == "gone", wait_s, what=f"cache {cache} gone")

    checks.run("boto3-delete-serverless-cache", delete_cache, needs=["boto3-cache-becomes-available"])

    control.request("POST", "/_emulator/reset", {})
    print(f"boto3_lifecycle: {checks.passed} passed, {checks.failed} failed", file=sys.stderr)
    return checks.exit_code()


if __name__ == "__main__":
    main_guard(main)
