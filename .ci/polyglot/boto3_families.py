"""The standalone emulator (`elasticache-grpc emulator`) through boto3: one lifecycle per family.

  boto3_families.py --endpoint http://127.0.0.1:PORT --settle-ms 200

Drives, as an AWS client would, a realistic lifecycle of each node-based family the emulator
serves: replication groups (with their subnet and parameter groups, replicas, failover,
resharding, snapshots, final snapshots and a restore), cache clusters, parameter groups, subnet
groups, users and user groups, global datastores, tags on every taggable kind, events, service
updates, reserved nodes and engine versions. Transitions are awaited with botocore's own waiters
where botocore has one (cache_cluster_available / _deleted, replication_group_available /
_deleted) and polled otherwise; a transitional status is observed deterministically by holding
the resource through the control surface (/_emulator/hold, /_emulator/release). Prints one
`ok <name>` / `FAIL <name>: <reason>` line per check; exits 1 on any FAIL.
"""

import datetime
import math
import re
import sys
import uuid

import botocore.exceptions

import boto3lib
from checklib import Checks, CheckError, expect, main_guard, one_line, poll

REGION = "us-east-1"
VALKEY_NODE_TYPE = "cache.r7g.large"  # global datastores need an M5/R5-or-later node type
SMALL_NODE_TYPE = "cache.t3.micro"
PASSWORD = "polyglot-ci-password-0123"


def main():
    args = boto3lib.parse_args()
    settle_s = args.settle_ms / 1000.0
    # Generous bound on every wait for a transition (settle time plus slow-CI slack).
    wait_s = max(20.0, 20 * settle_s)
    # botocore's waiters poll every `Delay` seconds: a fraction of the settle time, bounded by wait_s.
    waiter_delay = max(0.05, settle_s / 4)
    waiter_config = {"Delay": waiter_delay, "MaxAttempts": math.ceil(wait_s / waiter_delay) + 1}

    client = boto3lib.client(args.endpoint, REGION)
    errors = client.exceptions
    checks = Checks()
    run_id = uuid.uuid4().hex[:6]
    p = f"b3f{run_id}"  # every name of this run starts so (ids are at most 40 characters)

    # Replication groups and what they use.
    subnets = f"{p}-subnets"
    params = f"{p}-params"
    rg_a = f"{p}-rg"  # cluster mode disabled: 1 primary + 1 replica
    rg_b = f"{p}-rgc"  # cluster mode enabled: 2 node groups
    rg_c = f"{p}-rgr"  # restored from rg_a's snapshot
    snap = f"{p}-snap"
    final = f"{p}-final"
    # Cache clusters.
    memcached = f"{p}-mc"
    redis = f"{p}-rc"
    redis_final = f"{p}-rc-final"
    # Parameter and subnet groups of their own family, and the cluster that uses both.
    params2 = f"{p}-pg2"
    subnets2 = f"{p}-sn2"
    user_of_groups = f"{p}-pc"
    # Users and user groups.
    user1, user2, own_default = f"{p}-app", f"{p}-ops", f"{p}-dflt"
    user_group = f"{p}-ug"
    tagged_user, tagged_cluster = f"{p}-tagged", f"{p}-tc"
    # Global datastore and reserved nodes.
    global_suffix = f"{p}gds"
    reservation = f"{p}-ri"

    state = {}  # what later checks need from earlier ones (the account id, the datastore id)

    # ---- helpers -------------------------------------------------------------------------------

    control = boto3lib.Control(args.endpoint)
    call_counts, hold, release, held = control.call_counts, control.hold, control.release, control.held

    def raises(exc_class, fn, **kwargs):
        return boto3lib.raises(exc_class, fn, request_id=True, **kwargs)

    def arn_of(kind, name):
        return f"arn:aws:elasticache:{REGION}:{state['account']}:{kind}:{name}"

    def learn_account(arn, kind, name):
        match = re.fullmatch(rf"arn:aws:elasticache:{REGION}:(\d{{12}}):{kind}:{re.escape(name)}", arn or "")
        expect(match, f"ARN {arn!r} is not arn:aws:elasticache:{REGION}:<12 digits>:{kind}:{name}")
        state.setdefault("account", match.group(1))
        expect(match.group(1) == state["account"], f"ARN {arn!r} names another account than {state['account']}")

    def group(group_id):
        groups = client.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"]
        expect(len(groups) == 1, f"{len(groups)} replication groups named {group_id}")
        return groups[0]

    def cluster(cluster_id, nodes=False):
        clusters = client.describe_cache_clusters(CacheClusterId=cluster_id, ShowCacheNodeInfo=nodes)["CacheClusters"]
        expect(len(clusters) == 1, f"{len(clusters)} cache clusters named {cluster_id}")
        return clusters[0]

    def snapshot(name):
        snaps = client.describe_snapshots(SnapshotName=name, ShowNodeGroupConfig=True)["Snapshots"]
        expect(len(snaps) == 1, f"{len(snaps)} snapshots named {name}")
        return snaps[0]

    def wait(waiter_name, **kwargs):
        """botocore's waiter `waiter_name`, polling every waiter_delay seconds up to wait_s."""
        try:
            client.get_waiter(waiter_name).wait(WaiterConfig=waiter_config, **kwargs)
        except botocore.exceptions.WaiterError as err:
            raise CheckError(f"waiter {waiter_name} {kwargs}: {err}; last response: {one_line(err.last_response, 300)}") from None

    def waiter_keeps_waiting(waiter_name, **kwargs):
        """The waiter, given two quick attempts, must not succeed: the resource is held."""
        try:
            client.get_waiter(waiter_name).wait(WaiterConfig={"Delay": 0.05, "MaxAttempts": 2}, **kwargs)
        except botocore.exceptions.WaiterError as err:
            expect("Max attempts exceeded" in str(err), f"waiter {waiter_name} stopped for another reason: {err}")
            return err.last_response
        raise CheckError(f"waiter {waiter_name} succeeded while the resource was held in its transitional status")

    def wait_group(group_id):
        wait("replication_group_available", ReplicationGroupId=group_id)
        status = group(group_id)["Status"]
        expect(status == "available", f"{group_id} is {status!r} after the waiter")

    def wait_cluster(cluster_id):
        wait("cache_cluster_available", CacheClusterId=cluster_id)

    def snapshot_status(name):
        return snapshot(name)["SnapshotStatus"]

    def wait_snapshot(name, status="available"):
        poll(lambda: snapshot_status(name), lambda s: s == status, wait_s, what=f"snapshot {name} {status}")

    def gone(describe, exc_class, what, **kwargs):
        """Polls describe(**kwargs) until it raises exc_class."""

        def probe():
            try:
                describe(**kwargs)
            except exc_class:
                return "gone"
            return "still listed"

        poll(probe, lambda r: r == "gone", wait_s, what=f"{what} gone")

    def all_items(operation, key, **kwargs):
        paginator = client.get_paginator(operation)
        return [item for page in paginator.paginate(**kwargs) for item in page[key]]

    def tags_of(arn):
        return {t["Key"]: t["Value"] for t in client.list_tags_for_resource(ResourceName=arn)["TagList"]}

    def roles(group_description):
        return {m["CacheClusterId"]: m.get("CurrentRole") for ng in group_description["NodeGroups"] for m in ng["NodeGroupMembers"]}

    # ---- control surface -----------------------------------------------------------------------

    def reset():
        status, body = control.request("POST", "/_emulator/reset", {})
        expect(status == 200, f"POST /_emulator/reset answered {status}: {body!r}")
        counts = call_counts()
        for action in ("CreateReplicationGroup", "CreateGlobalReplicationGroup", "PurchaseReservedCacheNodesOffering"):
            expect(action in counts, f"/_emulator/calls does not list {action}: {sorted(counts)}")

    checks.run("boto3-families-control-reset", reset)

    # ---- 1. replication groups -----------------------------------------------------------------

    def create_subnet_group():
        response = client.create_cache_subnet_group(
            CacheSubnetGroupName=subnets,
            CacheSubnetGroupDescription="polyglot CI: replication groups",
            SubnetIds=["subnet-0a1b2c3d4e5f6aaa1", "subnet-0a1b2c3d4e5f6aaa2"],
            Tags=[{"Key": "family", "Value": "replication-groups"}],
        )
        created = response["CacheSubnetGroup"]
        expect(created["CacheSubnetGroupName"] == subnets, f"name {created.get('CacheSubnetGroupName')!r}")
        ids = sorted(s["SubnetIdentifier"] for s in created["Subnets"])
        expect(ids == ["subnet-0a1b2c3d4e5f6aaa1", "subnet-0a1b2c3d4e5f6aaa2"], f"subnets {ids}")
        zones = [s["SubnetAvailabilityZone"]["Name"] for s in created["Subnets"]]
        expect(all(re.fullmatch(rf"{REGION}[a-f]", z) for z in zones), f"subnet zones {zones}")
        expect(created.get("VpcId", "").startswith("vpc-"), f"VpcId {created.get('VpcId')!r}")
        learn_account(created.get("ARN"), "subnetgroup", subnets)

    checks.run("boto3-rg-create-subnet-group", create_subnet_group)

    def create_parameter_group():
        response = client.create_cache_parameter_group(
            CacheParameterGroupName=params,
            CacheParameterGroupFamily="valkey8",
            Description="polyglot CI: replication groups",
            Tags=[{"Key": "family", "Value": "replication-groups"}],
        )
        created = response["CacheParameterGroup"]
        expect(created["CacheParameterGroupName"] == params, f"name {created.get('CacheParameterGroupName')!r}")
        expect(created["CacheParameterGroupFamily"] == "valkey8", f"family {created.get('CacheParameterGroupFamily')!r}")
        expect(created["IsGlobal"] is False, f"IsGlobal {created.get('IsGlobal')!r}")
        learn_account(created.get("ARN"), "parametergroup", params)

    checks.run("boto3-rg-create-parameter-group", create_parameter_group)

    def create_group_a():
        hold(rg_a)  # released by boto3-rg-available-via-waiter
        response = client.create_replication_group(
            ReplicationGroupId=rg_a,
            ReplicationGroupDescription="polyglot CI: primary and replica",
            Engine="valkey",
            CacheNodeType=VALKEY_NODE_TYPE,
            NumCacheClusters=2,
            AutomaticFailoverEnabled=True,
            CacheParameterGroupName=params,
            CacheSubnetGroupName=subnets,
            Tags=[{"Key": "family", "Value": "replication-groups"}],
        )
        created = response["ReplicationGroup"]
        expect(created["ReplicationGroupId"] == rg_a, f"id {created.get('ReplicationGroupId')!r}")
        expect(created["Status"] == "creating", f"status {created.get('Status')!r}, expected creating")
        expect(created["MemberClusters"] == [f"{rg_a}-001", f"{rg_a}-002"], f"MemberClusters {created.get('MemberClusters')}")
        expect(len(created["NodeGroups"]) == 1, f"{len(created['NodeGroups'])} node groups, expected 1")
        expect(created["ClusterEnabled"] is False, f"ClusterEnabled {created.get('ClusterEnabled')!r}")
        expect(created.get("ClusterMode") == "disabled", f"ClusterMode {created.get('ClusterMode')!r}")
        expect(created["AutomaticFailover"] == "enabled", f"AutomaticFailover {created.get('AutomaticFailover')!r}")
        expect(created["CacheNodeType"] == VALKEY_NODE_TYPE, f"CacheNodeType {created.get('CacheNodeType')!r}")
        expect(created.get("Engine") == "valkey", f"Engine {created.get('Engine')!r}")
        expect(isinstance(created.get("ReplicationGroupCreateTime"), datetime.datetime), "no ReplicationGroupCreateTime")
        learn_account(created.get("ARN"), "replicationgroup", rg_a)

    checks.run(
        "boto3-rg-create-cluster-mode-disabled", create_group_a, needs=["boto3-rg-create-subnet-group", "boto3-rg-create-parameter-group"]
    )

    def group_a_held_creating():
        described = group(rg_a)
        expect(described["Status"] == "creating", f"describe says {described['Status']!r} while held, expected creating")
        expect(described["NodeGroups"][0]["Status"] == "creating", f"node group {described['NodeGroups'][0].get('Status')!r}")
        for member in described["MemberClusters"]:
            status = cluster(member)["CacheClusterStatus"]
            expect(status == "creating", f"member {member} is {status!r} while its group is held creating")
        last = waiter_keeps_waiting("replication_group_available", ReplicationGroupId=rg_a)
        expect(last["ReplicationGroups"][0]["Status"] == "creating", f"waiter's last response: {one_line(last, 200)}")

    checks.run("boto3-rg-held-stays-creating", group_a_held_creating, needs=["boto3-rg-create-cluster-mode-disabled"])

    def group_a_available():
        release(rg_a)
        wait_group(rg_a)
        described = group(rg_a)
        expect(described["NodeGroups"][0]["Status"] == "available", f"node group {described['NodeGroups'][0].get('Status')!r}")
        for member in described["MemberClusters"]:
            wait_cluster(member)
            member_cluster = cluster(member)
            expect(
                member_cluster["ReplicationGroupId"] == rg_a, f"{member} ReplicationGroupId {member_cluster.get('ReplicationGroupId')!r}"
            )
            expect(
                member_cluster["CacheParameterGroup"]["CacheParameterGroupName"] == params,
                f"{member} parameter group {member_cluster['CacheParameterGroup']}",
            )
            expect(
                member_cluster["CacheSubnetGroupName"] == subnets, f"{member} subnet group {member_cluster.get('CacheSubnetGroupName')!r}"
            )
            expect(
                member_cluster["Engine"] == "valkey" and member_cluster["EngineVersion"].startswith("8."),
                f"{member} engine {member_cluster['Engine']} {member_cluster['EngineVersion']}",
            )

    checks.run("boto3-rg-available-via-waiter", group_a_available, needs=["boto3-rg-create-cluster-mode-disabled"])
    control.request("POST", "/_emulator/release", {"name": rg_a})  # whatever happened above

    def create_group_b():
        response = client.create_replication_group(
            ReplicationGroupId=rg_b,
            ReplicationGroupDescription="polyglot CI: two shards",
            Engine="redis",
            EngineVersion="7.1",
            CacheNodeType=SMALL_NODE_TYPE,
            NumNodeGroups=2,
            ReplicasPerNodeGroup=1,
            CacheParameterGroupName="default.redis7.cluster.on",
        )
        created = response["ReplicationGroup"]
        expect(created["Status"] == "creating", f"status {created.get('Status')!r}, expected creating")
        expect(created["ClusterEnabled"] is True, f"ClusterEnabled {created.get('ClusterEnabled')!r}")
        expect(created.get("ClusterMode") == "enabled", f"ClusterMode {created.get('ClusterMode')!r}")
        node_groups = [(ng["NodeGroupId"], ng.get("Slots")) for ng in created["NodeGroups"]]
        expect(node_groups == [("0001", "0-8191"), ("0002", "8192-16383")], f"node groups and slots {node_groups}")
        expected_members = sorted(f"{rg_b}-{ng}-{k:03}" for ng in ("0001", "0002") for k in (1, 2))
        expect(sorted(created["MemberClusters"]) == expected_members, f"MemberClusters {created['MemberClusters']}")
        endpoint = created.get("ConfigurationEndpoint") or {}
        expect(".clustercfg." in endpoint.get("Address", "") and endpoint.get("Port") == 6379, f"ConfigurationEndpoint {endpoint}")
        expect(created["AutomaticFailover"] == "enabled", f"AutomaticFailover {created.get('AutomaticFailover')!r}")
        wait_group(rg_b)

    checks.run("boto3-rg-create-cluster-mode-enabled", create_group_b)

    def describe_members_and_node_groups():
        a = group(rg_a)
        node_group = a["NodeGroups"][0]
        expect(node_group["NodeGroupId"] == "0001", f"node group id {node_group.get('NodeGroupId')!r}")
        for endpoint in ("PrimaryEndpoint", "ReaderEndpoint"):
            expect(node_group.get(endpoint, {}).get("Port") == 6379, f"{endpoint} {node_group.get(endpoint)}")
        expect(roles(a) == {f"{rg_a}-001": "primary", f"{rg_a}-002": "replica"}, f"roles {roles(a)}")
        b = group(rg_b)
        expect(len(b["MemberClusters"]) == 4, f"{rg_b} has {len(b['MemberClusters'])} member clusters")
        for ng in b["NodeGroups"]:
            members = [m["CacheClusterId"] for m in ng["NodeGroupMembers"]]
            expect(
                members == [f"{rg_b}-{ng['NodeGroupId']}-001", f"{rg_b}-{ng['NodeGroupId']}-002"],
                f"node group {ng['NodeGroupId']} members {members}",
            )
        listed = {g["ReplicationGroupId"] for g in all_items("describe_replication_groups", "ReplicationGroups")}
        expect({rg_a, rg_b} <= listed, f"DescribeReplicationGroups lists {sorted(listed)}")

    checks.run(
        "boto3-rg-describe-members-and-node-groups",
        describe_members_and_node_groups,
        needs=["boto3-rg-available-via-waiter", "boto3-rg-create-cluster-mode-enabled"],
    )

    def modify_group_a():
        with held(rg_a):
            response = client.modify_replication_group(
                ReplicationGroupId=rg_a,
                ReplicationGroupDescription="polyglot CI: modified",
                SnapshotRetentionLimit=5,
                SnapshotWindow="05:00-06:00",
                ApplyImmediately=True,
            )
            modified = response["ReplicationGroup"]
            expect(modified["Status"] == "modifying", f"status {modified.get('Status')!r}, expected modifying")
            status = group(rg_a)["Status"]
            expect(status == "modifying", f"describe says {status!r} while held, expected modifying")
            # A group that is modifying takes no other change.
            raises(
                errors.InvalidReplicationGroupStateFault,
                client.increase_replica_count,
                ReplicationGroupId=rg_a,
                NewReplicaCount=2,
                ApplyImmediately=True,
            )
        wait_group(rg_a)
        described = group(rg_a)
        expect(described["SnapshotRetentionLimit"] == 5, f"SnapshotRetentionLimit {described.get('SnapshotRetentionLimit')!r}")
        expect(described["SnapshotWindow"] == "05:00-06:00", f"SnapshotWindow {described.get('SnapshotWindow')!r}")
        expect(described["Description"] == "polyglot CI: modified", f"Description {described.get('Description')!r}")
        member_limit = cluster(f"{rg_a}-001").get("SnapshotRetentionLimit")
        expect(member_limit == 5, f"member cluster SnapshotRetentionLimit {member_limit!r}")

    checks.run("boto3-rg-modify-modifying-then-available", modify_group_a, needs=["boto3-rg-available-via-waiter"])

    def increase_replicas():
        response = client.increase_replica_count(ReplicationGroupId=rg_a, NewReplicaCount=2, ApplyImmediately=True)
        increased = response["ReplicationGroup"]
        expect(increased["Status"] == "modifying", f"status {increased.get('Status')!r}, expected modifying")
        expected = [f"{rg_a}-001", f"{rg_a}-002", f"{rg_a}-003"]
        expect(sorted(increased["MemberClusters"]) == expected, f"MemberClusters {increased['MemberClusters']}")
        wait_group(rg_a)
        wait_cluster(f"{rg_a}-003")
        expect(roles(group(rg_a)).get(f"{rg_a}-003") == "replica", f"roles {roles(group(rg_a))}")

    checks.run("boto3-rg-increase-replica-count", increase_replicas, needs=["boto3-rg-available-via-waiter"])

    def decrease_replicas():
        response = client.decrease_replica_count(ReplicationGroupId=rg_a, ReplicasToRemove=[f"{rg_a}-003"], ApplyImmediately=True)
        decreased = response["ReplicationGroup"]
        expect(decreased["Status"] == "modifying", f"status {decreased.get('Status')!r}, expected modifying")
        expect(sorted(decreased["MemberClusters"]) == [f"{rg_a}-001", f"{rg_a}-002"], f"MemberClusters {decreased['MemberClusters']}")
        wait_group(rg_a)
        wait("cache_cluster_deleted", CacheClusterId=f"{rg_a}-003")
        raises(errors.CacheClusterNotFoundFault, client.describe_cache_clusters, CacheClusterId=f"{rg_a}-003")

    checks.run("boto3-rg-decrease-replica-count", decrease_replicas, needs=["boto3-rg-increase-replica-count"])

    def test_failover():
        response = client.test_failover(ReplicationGroupId=rg_a, NodeGroupId="0001")
        failing_over = response["ReplicationGroup"]
        expect(failing_over["Status"] in ("modifying", "available"), f"status {failing_over.get('Status')!r}")
        wait_group(rg_a)
        after = roles(group(rg_a))
        expect(after == {f"{rg_a}-001": "replica", f"{rg_a}-002": "primary"}, f"roles after the failover {after}")
        raises(errors.NodeGroupNotFoundFault, client.test_failover, ReplicationGroupId=rg_a, NodeGroupId="0009")

    checks.run("boto3-rg-test-failover", test_failover, needs=["boto3-rg-available-via-waiter"])

    def scale_out():
        response = client.modify_replication_group_shard_configuration(ReplicationGroupId=rg_b, NodeGroupCount=3, ApplyImmediately=True)
        resharding = response["ReplicationGroup"]
        expect(resharding["Status"] == "modifying", f"status {resharding.get('Status')!r}, expected modifying")
        migration = resharding.get("PendingModifiedValues", {}).get("Resharding", {}).get("SlotMigration", {})
        expect(migration.get("ProgressPercentage") == 0.0, f"PendingModifiedValues {resharding.get('PendingModifiedValues')}")
        expect(len(resharding["NodeGroups"]) == 3, f"{len(resharding['NodeGroups'])} node groups, expected 3")
        wait_group(rg_b)
        described = group(rg_b)
        slots = [(ng["NodeGroupId"], ng.get("Slots")) for ng in described["NodeGroups"]]
        expect(slots == [("0001", "0-5460"), ("0002", "5461-10921"), ("0003", "10922-16383")], f"slots after scale-out {slots}")
        expect(len(described["MemberClusters"]) == 6, f"{len(described['MemberClusters'])} member clusters, expected 6")
        wait_cluster(f"{rg_b}-0003-001")
        expect(
            described.get("PendingModifiedValues", {}).get("Resharding") is None,
            f"still resharding: {described.get('PendingModifiedValues')}",
        )

    checks.run("boto3-rg-shard-configuration-scale-out", scale_out, needs=["boto3-rg-create-cluster-mode-enabled"])

    def scale_in():
        response = client.modify_replication_group_shard_configuration(
            ReplicationGroupId=rg_b, NodeGroupCount=2, NodeGroupsToRemove=["0003"], ApplyImmediately=True
        )
        expect(response["ReplicationGroup"]["Status"] == "modifying", f"status {response['ReplicationGroup'].get('Status')!r}")
        wait_group(rg_b)
        described = group(rg_b)
        slots = [(ng["NodeGroupId"], ng.get("Slots")) for ng in described["NodeGroups"]]
        expect(slots == [("0001", "0-8191"), ("0002", "8192-16383")], f"slots after scale-in {slots}")
        for member in (f"{rg_b}-0003-001", f"{rg_b}-0003-002"):
            wait("cache_cluster_deleted", CacheClusterId=member)

    checks.run("boto3-rg-shard-configuration-scale-in", scale_in, needs=["boto3-rg-shard-configuration-scale-out"])

    def create_group_snapshot():
        with held(snap):
            response = client.create_snapshot(
                ReplicationGroupId=rg_a, SnapshotName=snap, Tags=[{"Key": "family", "Value": "replication-groups"}]
            )
            created = response["Snapshot"]
            expect(created["SnapshotName"] == snap, f"name {created.get('SnapshotName')!r}")
            expect(created["SnapshotStatus"] == "creating", f"status {created.get('SnapshotStatus')!r}, expected creating")
            expect(created["SnapshotSource"] == "manual", f"SnapshotSource {created.get('SnapshotSource')!r}")
            expect(created["ReplicationGroupId"] == rg_a, f"ReplicationGroupId {created.get('ReplicationGroupId')!r}")
            expect(created.get("NumNodeGroups") == 1, f"NumNodeGroups {created.get('NumNodeGroups')!r}")
            expect(
                created["Engine"] == "valkey" and created["CacheNodeType"] == VALKEY_NODE_TYPE,
                f"engine {created.get('Engine')}, node type {created.get('CacheNodeType')}",
            )
            expect([n["NodeGroupId"] for n in created["NodeSnapshots"]] == ["0001"], f"NodeSnapshots {created.get('NodeSnapshots')}")
            learn_account(created.get("ARN"), "snapshot", snap)
            status = group(rg_a)["Status"]
            expect(status == "snapshotting", f"the group is {status!r} while its snapshot is being taken, expected snapshotting")
            expect(snapshot_status(snap) == "creating", "the held snapshot is no longer creating")
        wait_snapshot(snap)
        wait_group(rg_a)

    checks.run("boto3-rg-create-snapshot", create_group_snapshot, needs=["boto3-rg-available-via-waiter"])

    def delete_group_a():
        response = client.delete_replication_group(ReplicationGroupId=rg_a, FinalSnapshotIdentifier=final)
        expect(
            response["ReplicationGroup"]["Status"] == "deleting",
            f"status {response['ReplicationGroup'].get('Status')!r}, expected deleting",
        )
        wait("replication_group_deleted", ReplicationGroupId=rg_a)
        raises(errors.ReplicationGroupNotFoundFault, client.describe_replication_groups, ReplicationGroupId=rg_a)
        for member in (f"{rg_a}-001", f"{rg_a}-002"):
            raises(errors.CacheClusterNotFoundFault, client.describe_cache_clusters, CacheClusterId=member)
        wait_snapshot(final)
        listed = sorted(s["SnapshotName"] for s in all_items("describe_snapshots", "Snapshots", ReplicationGroupId=rg_a))
        expect(listed == sorted([snap, final]), f"snapshots of {rg_a} after its deletion: {listed}")
        for name in (snap, final):
            kept = snapshot(name)
            expect(kept["SnapshotStatus"] == "available", f"{name} is {kept.get('SnapshotStatus')!r}")
            expect(kept["ReplicationGroupId"] == rg_a, f"{name} ReplicationGroupId {kept.get('ReplicationGroupId')!r}")

    checks.run("boto3-rg-delete-with-final-snapshot", delete_group_a, needs=["boto3-rg-create-snapshot"])

    def restore_group():
        response = client.create_replication_group(
            ReplicationGroupId=rg_c,
            ReplicationGroupDescription="polyglot CI: restored",
            SnapshotName=snap,
            NumCacheClusters=2,
            AutomaticFailoverEnabled=True,
            Tags=[{"Key": "restored-from", "Value": snap}],
        )
        created = response["ReplicationGroup"]
        expect(created["Status"] == "creating", f"status {created.get('Status')!r}, expected creating")
        expect(
            created["CacheNodeType"] == VALKEY_NODE_TYPE,
            f"CacheNodeType {created.get('CacheNodeType')!r}, the snapshot's is {VALKEY_NODE_TYPE}",
        )
        expect(created.get("Engine") == "valkey", f"Engine {created.get('Engine')!r}, the snapshot's is valkey")
        wait_group(rg_c)
        described = group(rg_c)
        expect(sorted(described["MemberClusters"]) == [f"{rg_c}-001", f"{rg_c}-002"], f"MemberClusters {described['MemberClusters']}")
        member = cluster(f"{rg_c}-001")
        expect(member["EngineVersion"] == snapshot(snap)["EngineVersion"], f"EngineVersion {member.get('EngineVersion')!r}")

    checks.run("boto3-rg-restore-from-snapshot", restore_group, needs=["boto3-rg-delete-with-final-snapshot"])

    def delete_group_b():
        response = client.delete_replication_group(ReplicationGroupId=rg_b)
        expect(response["ReplicationGroup"]["Status"] == "deleting", f"status {response['ReplicationGroup'].get('Status')!r}")
        wait("replication_group_deleted", ReplicationGroupId=rg_b)
        raises(errors.ReplicationGroupNotFoundFault, client.describe_replication_groups, ReplicationGroupId=rg_b)

    checks.run("boto3-rg-delete-cluster-mode-enabled", delete_group_b, needs=["boto3-rg-create-cluster-mode-enabled"])

    # ---- 2. cache clusters ---------------------------------------------------------------------

    control.request("POST", "/_emulator/reset", {})

    def create_memcached():
        response = client.create_cache_cluster(
            CacheClusterId=memcached,
            Engine="memcached",
            CacheNodeType=SMALL_NODE_TYPE,
            NumCacheNodes=2,
            Tags=[{"Key": "family", "Value": "cache-clusters"}],
        )
        created = response["CacheCluster"]
        expect(created["CacheClusterStatus"] == "creating", f"status {created.get('CacheClusterStatus')!r}, expected creating")
        expect(
            created["Engine"] == "memcached" and created["NumCacheNodes"] == 2,
            f"engine {created.get('Engine')}, {created.get('NumCacheNodes')} nodes",
        )
        expect(
            created.get("ConfigurationEndpoint", {}).get("Port") == 11211, f"ConfigurationEndpoint {created.get('ConfigurationEndpoint')}"
        )
        expect(
            created["CacheParameterGroup"]["CacheParameterGroupName"] == "default.memcached1.6",
            f"parameter group {created.get('CacheParameterGroup')}",
        )
        learn_account(created.get("ARN"), "cluster", memcached)
        wait_cluster(memcached)
        nodes = cluster(memcached, nodes=True)["CacheNodes"]
        expect(
            [(n["CacheNodeId"], n["CacheNodeStatus"]) for n in nodes] == [("0001", "available"), ("0002", "available")], f"nodes {nodes}"
        )
        expect(all(n["Endpoint"]["Port"] == 11211 for n in nodes), f"node endpoints {[n.get('Endpoint') for n in nodes]}")

    checks.run("boto3-cc-create-memcached", create_memcached)

    def create_redis():
        response = client.create_cache_cluster(
            CacheClusterId=redis,
            Engine="redis",
            CacheNodeType=SMALL_NODE_TYPE,
            Tags=[{"Key": "family", "Value": "cache-clusters"}],
        )
        created = response["CacheCluster"]
        expect(created["CacheClusterStatus"] == "creating", f"status {created.get('CacheClusterStatus')!r}, expected creating")
        expect(created["NumCacheNodes"] == 1, f"NumCacheNodes {created.get('NumCacheNodes')!r}")
        expect("ReplicationGroupId" not in created, f"a standalone cluster with ReplicationGroupId {created.get('ReplicationGroupId')!r}")
        wait_cluster(redis)
        described = cluster(redis, nodes=True)
        expect(described["CacheNodes"][0]["Endpoint"]["Port"] == 6379, f"node {described['CacheNodes'][0]}")
        expect(
            described["CacheParameterGroup"]["CacheParameterGroupName"].startswith("default.redis"),
            f"parameter group {described['CacheParameterGroup']}",
        )
        standalone = {
            c["CacheClusterId"] for c in all_items("describe_cache_clusters", "CacheClusters", ShowCacheClustersNotInReplicationGroups=True)
        }
        expect({memcached, redis} <= standalone, f"standalone clusters {sorted(standalone)}")
        expect(f"{rg_c}-001" not in standalone, f"a member cluster listed as standalone: {sorted(standalone)}")

    checks.run("boto3-cc-create-redis-standalone", create_redis)

    def add_memcached_node():
        with held(memcached):
            response = client.modify_cache_cluster(CacheClusterId=memcached, NumCacheNodes=3, ApplyImmediately=True)
            expect(
                response["CacheCluster"]["CacheClusterStatus"] == "modifying",
                f"status {response['CacheCluster'].get('CacheClusterStatus')!r}",
            )
            nodes = {n["CacheNodeId"]: n["CacheNodeStatus"] for n in cluster(memcached, nodes=True)["CacheNodes"]}
            expect(nodes == {"0001": "available", "0002": "available", "0003": "creating"}, f"nodes while modifying {nodes}")
        wait_cluster(memcached)
        described = cluster(memcached, nodes=True)
        expect(described["NumCacheNodes"] == 3, f"NumCacheNodes {described.get('NumCacheNodes')!r}")
        statuses = [n["CacheNodeStatus"] for n in described["CacheNodes"]]
        expect(statuses == ["available"] * 3, f"node statuses {statuses}")

    checks.run("boto3-cc-modify-memcached-add-node", add_memcached_node, needs=["boto3-cc-create-memcached"])

    def reboot_memcached():
        with held(memcached):
            response = client.reboot_cache_cluster(CacheClusterId=memcached, CacheNodeIdsToReboot=["0001"])
            status = response["CacheCluster"]["CacheClusterStatus"]
            during = {n["CacheNodeId"]: n["CacheNodeStatus"] for n in cluster(memcached, nodes=True)["CacheNodes"]}
        wait_cluster(memcached)
        after = [n["CacheNodeStatus"] for n in cluster(memcached, nodes=True)["CacheNodes"]]
        expect(status == "rebooting cache cluster nodes", f"status {status!r}, expected rebooting cache cluster nodes")
        expect(after == ["available"] * 3, f"node statuses after the reboot {after}")
        # "Reboots some, or all, of the cache nodes": only the node named in CacheNodeIdsToReboot
        # reboots (all of them are named to reboot the whole cluster); the others keep serving.
        expect(during == {"0001": "rebooting", "0002": "available", "0003": "available"}, f"nodes while rebooting only 0001: {during}")

    checks.run("boto3-cc-reboot", reboot_memcached, needs=["boto3-cc-modify-memcached-add-node"])
    control.request("POST", "/_emulator/release", {"name": memcached})  # whatever happened above

    def member_not_deleted_alone():
        err = raises(errors.InvalidCacheClusterStateFault, client.delete_cache_cluster, CacheClusterId=f"{rg_c}-001")
        expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 400, f"HTTP {err.response['ResponseMetadata']['HTTPStatusCode']}")
        status = cluster(f"{rg_c}-001")["CacheClusterStatus"]
        expect(status == "available", f"the member is {status!r} after the refused delete")

    checks.run("boto3-cc-member-cannot-be-deleted-alone", member_not_deleted_alone, needs=["boto3-rg-restore-from-snapshot"])

    def delete_memcached():
        response = client.delete_cache_cluster(CacheClusterId=memcached)
        expect(
            response["CacheCluster"]["CacheClusterStatus"] == "deleting", f"status {response['CacheCluster'].get('CacheClusterStatus')!r}"
        )
        wait("cache_cluster_deleted", CacheClusterId=memcached)
        raises(errors.CacheClusterNotFoundFault, client.describe_cache_clusters, CacheClusterId=memcached)

    checks.run("boto3-cc-delete-memcached", delete_memcached, needs=["boto3-cc-create-memcached"])

    def delete_redis_with_final_snapshot():
        response = client.delete_cache_cluster(CacheClusterId=redis, FinalSnapshotIdentifier=redis_final)
        expect(
            response["CacheCluster"]["CacheClusterStatus"] == "deleting", f"status {response['CacheCluster'].get('CacheClusterStatus')!r}"
        )
        wait("cache_cluster_deleted", CacheClusterId=redis)
        wait_snapshot(redis_final)
        kept = snapshot(redis_final)
        expect(kept["CacheClusterId"] == redis, f"CacheClusterId {kept.get('CacheClusterId')!r}")
        expect(
            kept.get("NumCacheNodes") == 1 and kept["Engine"] == "redis", f"{kept.get('NumCacheNodes')} nodes, engine {kept.get('Engine')}"
        )

    checks.run("boto3-cc-delete-with-final-snapshot", delete_redis_with_final_snapshot, needs=["boto3-cc-create-redis-standalone"])

    # ---- 3. parameter groups and 4. subnet groups ----------------------------------------------

    control.request("POST", "/_emulator/reset", {})

    def parameters_of(name, **kwargs):
        return {param["ParameterName"]: param for param in all_items("describe_cache_parameters", "Parameters", CacheParameterGroupName=name, **kwargs)}

    def default_group_parameters():
        valkey = parameters_of("default.valkey8")
        for name in ("maxmemory-policy", "cluster-enabled", "timeout", "appendonly"):
            expect(name in valkey, f"default.valkey8 has no {name}: {sorted(valkey)}")
        expect(valkey["maxmemory-policy"].get("ParameterValue") == "volatile-lru", f"maxmemory-policy {valkey['maxmemory-policy']}")
        expect(valkey["cluster-enabled"].get("ParameterValue") == "no", f"cluster-enabled {valkey['cluster-enabled']}")
        sources = {param.get("Source") for param in valkey.values()}
        expect(sources == {"system"}, f"sources of a default group {sources}")
        cluster_on = parameters_of("default.valkey8.cluster.on")
        expect(
            cluster_on["cluster-enabled"].get("ParameterValue") == "yes",
            f"default.valkey8.cluster.on cluster-enabled {cluster_on['cluster-enabled']}",
        )
        first_page = client.describe_cache_parameters(CacheParameterGroupName="default.valkey8")
        specific = [param["ParameterName"] for param in first_page.get("CacheNodeTypeSpecificParameters", [])]
        expect(specific == ["maxmemory"], f"CacheNodeTypeSpecificParameters {specific}")
        memcached_parameters = parameters_of("default.memcached1.6")
        expect(
            "max_item_size" in memcached_parameters and "maxmemory-policy" not in memcached_parameters,
            f"default.memcached1.6 has {sorted(memcached_parameters)}",
        )

    checks.run("boto3-pg-default-group-has-engine-parameters", default_group_parameters)

    def create_params2():
        response = client.create_cache_parameter_group(
            CacheParameterGroupName=params2, CacheParameterGroupFamily="redis7", Description="polyglot CI: parameter groups"
        )
        expect(response["CacheParameterGroup"]["CacheParameterGroupName"] == params2, f"name {response['CacheParameterGroup']}")
        described = client.describe_cache_parameter_groups(CacheParameterGroupName=params2)["CacheParameterGroups"]
        expect(
            [(g["CacheParameterGroupName"], g["CacheParameterGroupFamily"]) for g in described] == [(params2, "redis7")],
            f"described {described}",
        )
        expect(
            parameters_of(params2)["maxmemory-policy"].get("ParameterValue") == "volatile-lru",
            "a new group does not start from the family defaults",
        )

    checks.run("boto3-pg-create", create_params2)

    def modify_params2():
        response = client.modify_cache_parameter_group(
            CacheParameterGroupName=params2,
            ParameterNameValues=[
                {"ParameterName": "maxmemory-policy", "ParameterValue": "allkeys-lru"},
                {"ParameterName": "timeout", "ParameterValue": "300"},
            ],
        )
        expect(response["CacheParameterGroupName"] == params2, f"answered {response.get('CacheParameterGroupName')!r}")
        described = parameters_of(params2)
        expect(described["maxmemory-policy"].get("ParameterValue") == "allkeys-lru", f"maxmemory-policy {described['maxmemory-policy']}")
        expect(described["timeout"].get("ParameterValue") == "300", f"timeout {described['timeout']}")
        expect(described["timeout"].get("Source") == "user", f"timeout Source {described['timeout'].get('Source')!r}")
        user_set = sorted(parameters_of(params2, Source="user"))
        expect(user_set == ["maxmemory-policy", "timeout"], f"Source=user lists {user_set}")
        raises(
            errors.InvalidParameterValueException,
            client.modify_cache_parameter_group,
            CacheParameterGroupName=params2,
            ParameterNameValues=[{"ParameterName": "maxmemory-policy", "ParameterValue": "most-of-the-time"}],
        )

    checks.run("boto3-pg-modify-then-describe", modify_params2, needs=["boto3-pg-create"])

    def reset_params2():
        response = client.reset_cache_parameter_group(CacheParameterGroupName=params2, ParameterNameValues=[{"ParameterName": "timeout"}])
        expect(response["CacheParameterGroupName"] == params2, f"answered {response.get('CacheParameterGroupName')!r}")
        described = parameters_of(params2)
        expect(
            described["timeout"].get("ParameterValue") == "0" and described["timeout"].get("Source") == "system",
            f"timeout after its reset {described['timeout']}",
        )
        expect(
            described["maxmemory-policy"].get("ParameterValue") == "allkeys-lru",
            f"maxmemory-policy reset too: {described['maxmemory-policy']}",
        )
        client.reset_cache_parameter_group(CacheParameterGroupName=params2, ResetAllParameters=True)
        expect(parameters_of(params2, Source="user") == {}, "user values left after ResetAllParameters")
        expect(
            parameters_of(params2)["maxmemory-policy"].get("ParameterValue") == "volatile-lru", "maxmemory-policy not back to its default"
        )

    checks.run("boto3-pg-reset-restores-defaults", reset_params2, needs=["boto3-pg-modify-then-describe"])

    checks.run(
        "boto3-pg-default-group-cannot-be-modified",
        lambda: raises(
            errors.InvalidCacheParameterGroupStateFault,
            client.modify_cache_parameter_group,
            CacheParameterGroupName="default.redis7",
            ParameterNameValues=[{"ParameterName": "timeout", "ParameterValue": "60"}],
        ),
    )

    def engine_defaults():
        defaults = client.describe_engine_default_parameters(CacheParameterGroupFamily="redis7")["EngineDefaults"]
        expect(defaults["CacheParameterGroupFamily"] == "redis7", f"family {defaults.get('CacheParameterGroupFamily')!r}")
        values = {param["ParameterName"]: param.get("ParameterValue") for param in defaults["Parameters"]}
        expect(values.get("maxmemory-policy") == "volatile-lru" and values.get("timeout") == "0", f"redis7 defaults {values}")
        memcached_defaults = client.describe_engine_default_parameters(CacheParameterGroupFamily="memcached1.6")["EngineDefaults"]
        names = {param["ParameterName"] for param in memcached_defaults["Parameters"]}
        expect("max_item_size" in names, f"memcached1.6 defaults {sorted(names)}")

    checks.run("boto3-pg-describe-engine-default-parameters", engine_defaults)

    def engine_versions():
        valkey = [
            (v["EngineVersion"], v["CacheParameterGroupFamily"])
            for v in client.describe_cache_engine_versions(Engine="valkey")["CacheEngineVersions"]
        ]
        expect(("8.0", "valkey8") in valkey and ("7.2", "valkey7") in valkey, f"valkey versions {valkey}")
        newest = client.describe_cache_engine_versions(Engine="redis", DefaultOnly=True)["CacheEngineVersions"]
        expect(len(newest) == 1 and newest[0]["Engine"] == "redis", f"DefaultOnly redis {newest}")
        of_family = client.describe_cache_engine_versions(CacheParameterGroupFamily="memcached1.6")["CacheEngineVersions"]
        expect(of_family and all(v["Engine"] == "memcached" for v in of_family), f"memcached1.6 versions {of_family}")

    checks.run("boto3-pg-describe-cache-engine-versions", engine_versions)

    def create_subnets2():
        response = client.create_cache_subnet_group(
            CacheSubnetGroupName=subnets2, CacheSubnetGroupDescription="polyglot CI: one subnet", SubnetIds=["subnet-0a1b2c3d4e5f6bbb1"]
        )
        expect(
            [s["SubnetIdentifier"] for s in response["CacheSubnetGroup"]["Subnets"]] == ["subnet-0a1b2c3d4e5f6bbb1"],
            f"subnets {response['CacheSubnetGroup']['Subnets']}",
        )

    checks.run("boto3-sn-create", create_subnets2)

    def modify_subnets2():
        new_ids = ["subnet-0a1b2c3d4e5f6bbb1", "subnet-0a1b2c3d4e5f6bbb2", "subnet-0a1b2c3d4e5f6bbb3"]
        response = client.modify_cache_subnet_group(
            CacheSubnetGroupName=subnets2, CacheSubnetGroupDescription="polyglot CI: three subnets", SubnetIds=new_ids
        )
        modified = response["CacheSubnetGroup"]
        expect(
            modified["CacheSubnetGroupDescription"] == "polyglot CI: three subnets",
            f"description {modified.get('CacheSubnetGroupDescription')!r}",
        )
        described = client.describe_cache_subnet_groups(CacheSubnetGroupName=subnets2)["CacheSubnetGroups"]
        expect(len(described) == 1, f"{len(described)} subnet groups named {subnets2}")
        expect(sorted(s["SubnetIdentifier"] for s in described[0]["Subnets"]) == new_ids, f"subnets {described[0]['Subnets']}")
        expect(described[0]["CacheSubnetGroupDescription"] == "polyglot CI: three subnets", "description not kept")
        listed = {g["CacheSubnetGroupName"] for g in all_items("describe_cache_subnet_groups", "CacheSubnetGroups")}
        expect({"default", subnets, subnets2} <= listed, f"DescribeCacheSubnetGroups lists {sorted(listed)}")

    checks.run("boto3-sn-modify-and-describe", modify_subnets2, needs=["boto3-sn-create"])

    def groups_in_use():
        client.create_cache_cluster(
            CacheClusterId=user_of_groups,
            Engine="redis",
            EngineVersion="7.1",
            CacheNodeType=SMALL_NODE_TYPE,
            CacheParameterGroupName=params2,
            CacheSubnetGroupName=subnets2,
        )
        wait_cluster(user_of_groups)
        described = cluster(user_of_groups)
        expect(
            described["CacheParameterGroup"]["CacheParameterGroupName"] == params2, f"parameter group {described['CacheParameterGroup']}"
        )
        expect(described["CacheSubnetGroupName"] == subnets2, f"subnet group {described.get('CacheSubnetGroupName')!r}")

    checks.run("boto3-pg-sn-used-by-a-cluster", groups_in_use, needs=["boto3-pg-create", "boto3-sn-create"])

    def parameter_group_in_use():
        raises(errors.InvalidCacheParameterGroupStateFault, client.delete_cache_parameter_group, CacheParameterGroupName=params2)
        expect(client.describe_cache_parameter_groups(CacheParameterGroupName=params2)["CacheParameterGroups"], "the group went away")

    checks.run("boto3-pg-in-use-cannot-be-deleted", parameter_group_in_use, needs=["boto3-pg-sn-used-by-a-cluster"])

    def subnet_group_in_use():
        raises(errors.CacheSubnetGroupInUse, client.delete_cache_subnet_group, CacheSubnetGroupName=subnets2)
        expect(client.describe_cache_subnet_groups(CacheSubnetGroupName=subnets2)["CacheSubnetGroups"], "the group went away")

    checks.run("boto3-sn-in-use-cannot-be-deleted", subnet_group_in_use, needs=["boto3-pg-sn-used-by-a-cluster"])

    def remove_the_user():
        client.delete_cache_cluster(CacheClusterId=user_of_groups)
        wait("cache_cluster_deleted", CacheClusterId=user_of_groups)

    checks.run("boto3-pg-sn-user-deleted", remove_the_user, needs=["boto3-pg-sn-used-by-a-cluster"])

    def delete_params2():
        client.delete_cache_parameter_group(CacheParameterGroupName=params2)
        raises(errors.CacheParameterGroupNotFoundFault, client.describe_cache_parameter_groups, CacheParameterGroupName=params2)

    checks.run("boto3-pg-deleted-once-unused", delete_params2, needs=["boto3-pg-sn-user-deleted"])

    def delete_subnets2():
        client.delete_cache_subnet_group(CacheSubnetGroupName=subnets2)
        raises(errors.CacheSubnetGroupNotFoundFault, client.describe_cache_subnet_groups, CacheSubnetGroupName=subnets2)

    checks.run("boto3-sn-deleted-once-unused", delete_subnets2, needs=["boto3-pg-sn-user-deleted"])

    # ---- 5. users and user groups --------------------------------------------------------------

    control.request("POST", "/_emulator/reset", {})

    def user(user_id):
        users = client.describe_users(UserId=user_id)["Users"]
        expect(len(users) == 1, f"{len(users)} users with id {user_id}")
        return users[0]

    def user_group_of(group_id):
        groups = client.describe_user_groups(UserGroupId=group_id)["UserGroups"]
        expect(len(groups) == 1, f"{len(groups)} user groups with id {group_id}")
        return groups[0]

    def wait_user_group(group_id):
        """A user group settles `active` (ElastiCache shows `creating` / `modifying` first)."""
        return poll(lambda: user_group_of(group_id), lambda g: g["Status"] == "active", wait_s, what=f"user group {group_id} active")

    def default_user():
        found = user("default")
        expect(found["UserName"] == "default", f"UserName {found.get('UserName')!r}")
        expect(found["AccessString"] == "on ~* +@all", f"AccessString {found.get('AccessString')!r}")
        expect(found["Authentication"]["Type"] == "no-password", f"Authentication {found.get('Authentication')}")
        expect(found["Status"] == "active" and found["Engine"] == "redis", f"status {found.get('Status')}, engine {found.get('Engine')}")

    checks.run("boto3-users-default-user", default_user)

    def create_users():
        response = client.create_user(
            UserId=user1,
            UserName=f"{user1}-name",
            Engine="redis",
            Passwords=[PASSWORD],
            AccessString="on ~app:* +@read",
            Tags=[{"Key": "family", "Value": "users"}],
        )
        expect(
            response["UserId"] == user1 and response["UserName"] == f"{user1}-name",
            f"created {response.get('UserId')!r} {response.get('UserName')!r}",
        )
        expect(response["Status"] == "active", f"status {response.get('Status')!r}")
        expect(response["Authentication"] == {"Type": "password", "PasswordCount": 1}, f"Authentication {response.get('Authentication')}")
        expect(response["AccessString"] == "on ~app:* +@read", f"AccessString {response.get('AccessString')!r}")
        learn_account(response.get("ARN"), "user", user1)
        second = client.create_user(
            UserId=user2, UserName=f"{user2}-name", Engine="redis", NoPasswordRequired=True, AccessString="on ~* +@read"
        )
        expect(second["Authentication"]["Type"] == "no-password", f"Authentication {second.get('Authentication')}")

    checks.run("boto3-users-create-user", create_users)

    def modify_user():
        response = client.modify_user(UserId=user1, AccessString="on ~app:* +@read +@write")
        expect(response["AccessString"] == "on ~app:* +@read +@write", f"answered AccessString {response.get('AccessString')!r}")
        expect(user(user1)["AccessString"] == "on ~app:* +@read +@write", "DescribeUsers shows the old access string")

    checks.run("boto3-users-modify-access-string", modify_user, needs=["boto3-users-create-user"])

    def create_user_group():
        response = client.create_user_group(UserGroupId=user_group, Engine="redis", UserIds=["default", user1])
        expect(response["UserGroupId"] == user_group, f"id {response.get('UserGroupId')!r}")
        expect(response["Status"] in ("creating", "active"), f"status {response.get('Status')!r}")
        learn_account(response.get("ARN"), "usergroup", user_group)
        settled = wait_user_group(user_group)
        expect(sorted(settled["UserIds"]) == sorted(["default", user1]), f"UserIds {settled.get('UserIds')}")
        expect(user(user1)["UserGroupIds"] == [user_group], f"{user1} UserGroupIds {user(user1).get('UserGroupIds')}")
        raises(errors.DefaultUserRequired, client.create_user_group, UserGroupId=f"{user_group}-x", Engine="redis", UserIds=[user1])

    checks.run("boto3-users-create-user-group", create_user_group, needs=["boto3-users-create-user"])

    def modify_user_group():
        client.modify_user_group(UserGroupId=user_group, UserIdsToAdd=[user2])
        added = wait_user_group(user_group)
        expect(sorted(added["UserIds"]) == sorted(["default", user1, user2]), f"UserIds after adding {user2}: {added.get('UserIds')}")
        client.modify_user_group(UserGroupId=user_group, UserIdsToRemove=[user1])
        removed = wait_user_group(user_group)
        expect(sorted(removed["UserIds"]) == sorted(["default", user2]), f"UserIds after removing {user1}: {removed.get('UserIds')}")
        expect(user(user1)["UserGroupIds"] == [], f"{user1} still in {user(user1).get('UserGroupIds')}")

    checks.run("boto3-users-modify-user-group-add-remove", modify_user_group, needs=["boto3-users-create-user-group"])

    def default_user_rules():
        # Every group needs a user named default: it can be replaced, not removed.
        raises(errors.DefaultUserRequired, client.modify_user_group, UserGroupId=user_group, UserIdsToRemove=["default"])
        raises(errors.DefaultUserAssociatedToUserGroupFault, client.delete_user, UserId="default")
        raises(
            errors.DuplicateUserNameFault,
            client.create_user,
            UserId=f"{user2}-twin",
            UserName=f"{user2}-name",
            Engine="redis",
            NoPasswordRequired=True,
            AccessString="off",
        )
        client.create_user(UserId=own_default, UserName="default", Engine="redis", Passwords=[PASSWORD], AccessString="on ~* +@all")
        client.modify_user_group(UserGroupId=user_group, UserIdsToAdd=[own_default], UserIdsToRemove=["default"])
        replaced = wait_user_group(user_group)
        expect(
            sorted(replaced["UserIds"]) == sorted([own_default, user2]),
            f"UserIds after replacing the default user: {replaced.get('UserIds')}",
        )
        raises(errors.DefaultUserAssociatedToUserGroupFault, client.delete_user, UserId=own_default)

    checks.run("boto3-users-default-user-rules", default_user_rules, needs=["boto3-users-modify-user-group-add-remove"])

    def delete_user_group():
        response = client.delete_user_group(UserGroupId=user_group)
        expect(response["Status"] == "deleting", f"status {response.get('Status')!r}, expected deleting")
        gone(client.describe_user_groups, errors.UserGroupNotFoundFault, f"user group {user_group}", UserGroupId=user_group)

    checks.run("boto3-users-delete-user-group", delete_user_group, needs=["boto3-users-create-user-group"])

    def delete_users():
        for user_id in (user1, user2, own_default):
            response = client.delete_user(UserId=user_id)
            expect(response["Status"] == "deleting", f"{user_id}: status {response.get('Status')!r}, expected deleting")
            gone(client.describe_users, errors.UserNotFoundFault, f"user {user_id}", UserId=user_id)
        expect(user("default")["Status"] == "active", "the default user went away with the others")

    checks.run("boto3-users-delete-users", delete_users, needs=["boto3-users-delete-user-group"])

    # ---- 6. global datastores ------------------------------------------------------------------

    control.request("POST", "/_emulator/reset", {})

    def global_group(show=False):
        groups = client.describe_global_replication_groups(GlobalReplicationGroupId=state["global"], ShowMemberInfo=show)[
            "GlobalReplicationGroups"
        ]
        expect(len(groups) == 1, f"{len(groups)} global datastores with id {state['global']}")
        return groups[0]

    def wait_global():
        poll(lambda: global_group()["Status"], lambda s: s == "available", wait_s, what="global datastore available")

    def create_global():
        response = client.create_global_replication_group(
            GlobalReplicationGroupIdSuffix=global_suffix,
            GlobalReplicationGroupDescription="polyglot CI: global",
            PrimaryReplicationGroupId=rg_c,
        )
        created = response["GlobalReplicationGroup"]
        global_id = created["GlobalReplicationGroupId"]
        expect(re.fullmatch(rf"[a-z]{{5}}-{global_suffix}", global_id), f"id {global_id!r} is not <5-letter prefix>-{global_suffix}")
        state["global"] = global_id
        expect(created["Status"] == "creating", f"status {created.get('Status')!r}, expected creating")
        expect(
            created["ARN"] == f"arn:aws:elasticache::{state['account']}:globalreplicationgroup:{global_id}", f"ARN {created.get('ARN')!r}"
        )
        expect(
            created["Engine"] == "valkey" and created["CacheNodeType"] == VALKEY_NODE_TYPE,
            f"engine {created.get('Engine')}, node type {created.get('CacheNodeType')}",
        )
        expect(created["ClusterEnabled"] is False, f"ClusterEnabled {created.get('ClusterEnabled')!r}")
        wait_global()

    checks.run("boto3-global-create", create_global, needs=["boto3-rg-restore-from-snapshot"])

    def describe_global():
        with_members = global_group(show=True)
        members = [(m["ReplicationGroupId"], m["Role"], m["ReplicationGroupRegion"], m["Status"]) for m in with_members.get("Members", [])]
        expect(members == [(rg_c, "PRIMARY", REGION, "associated")], f"Members {with_members.get('Members')}")
        expect(
            with_members["GlobalReplicationGroupDescription"] == "polyglot CI: global",
            f"description {with_members.get('GlobalReplicationGroupDescription')!r}",
        )
        expect(not global_group(show=False).get("Members"), "Members listed without ShowMemberInfo")
        info = group(rg_c).get("GlobalReplicationGroupInfo", {})
        expect(
            info == {"GlobalReplicationGroupId": state["global"], "GlobalReplicationGroupMemberRole": "PRIMARY"},
            f"GlobalReplicationGroupInfo {info}",
        )

    checks.run("boto3-global-describe-show-member-info", describe_global, needs=["boto3-global-create"])

    def modify_global():
        response = client.modify_global_replication_group(
            GlobalReplicationGroupId=state["global"],
            GlobalReplicationGroupDescription="polyglot CI: global, modified",
            ApplyImmediately=True,
        )
        expect(response["GlobalReplicationGroup"]["Status"] == "modifying", f"status {response['GlobalReplicationGroup'].get('Status')!r}")
        wait_global()
        expect(global_group()["GlobalReplicationGroupDescription"] == "polyglot CI: global, modified", "description not changed")

    checks.run("boto3-global-modify", modify_global, needs=["boto3-global-create"])

    def primary_not_deleted():
        raises(errors.InvalidReplicationGroupStateFault, client.delete_replication_group, ReplicationGroupId=rg_c)
        expect(group(rg_c)["Status"] == "available", "the primary changed after the refused delete")

    checks.run("boto3-global-primary-cannot-be-deleted", primary_not_deleted, needs=["boto3-global-create"])

    def failover_not_emulated():
        # One region is emulated: there is no secondary to fail over to (the crate doc's table).
        raises(
            errors.InvalidParameterValueException,
            client.failover_global_replication_group,
            GlobalReplicationGroupId=state["global"],
            PrimaryRegion="us-west-2",
            PrimaryReplicationGroupId=f"{rg_c}-west",
        )

    checks.run("boto3-global-failover-documented-refusal", failover_not_emulated, needs=["boto3-global-create"])

    def delete_global():
        response = client.delete_global_replication_group(GlobalReplicationGroupId=state["global"], RetainPrimaryReplicationGroup=True)
        expect(response["GlobalReplicationGroup"]["Status"] == "deleting", f"status {response['GlobalReplicationGroup'].get('Status')!r}")
        gone(
            client.describe_global_replication_groups,
            errors.GlobalReplicationGroupNotFoundFault,
            "global datastore",
            GlobalReplicationGroupId=state["global"],
        )
        primary = group(rg_c)
        expect(primary["Status"] == "available", f"the retained primary is {primary['Status']!r}")
        expect("GlobalReplicationGroupInfo" not in primary, f"the primary still names {primary.get('GlobalReplicationGroupInfo')}")

    checks.run("boto3-global-delete-retain-primary", delete_global, needs=["boto3-global-create"])

    # ---- 7. tags on every kind -----------------------------------------------------------------

    control.request("POST", "/_emulator/reset", {})

    def tag_round_trip(arn, initial):
        before = tags_of(arn)
        expect(before == initial, f"tags of {arn} before: {before}, expected {initial}")
        added = client.add_tags_to_resource(
            ResourceName=arn, Tags=[{"Key": "owner", "Value": "polyglot"}, {"Key": "cost-center", "Value": "42"}]
        )
        expect(
            {t["Key"]: t["Value"] for t in added["TagList"]} == {**initial, "owner": "polyglot", "cost-center": "42"},
            f"AddTagsToResource answered {added['TagList']}",
        )
        client.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": "cost-center", "Value": "43"}])
        expect(tags_of(arn) == {**initial, "owner": "polyglot", "cost-center": "43"}, f"after overwriting a value: {tags_of(arn)}")
        removed = client.remove_tags_from_resource(ResourceName=arn, TagKeys=["owner", "cost-center"])
        expect({t["Key"]: t["Value"] for t in removed["TagList"]} == initial, f"RemoveTagsFromResource answered {removed['TagList']}")
        expect(tags_of(arn) == initial, f"tags after removing: {tags_of(arn)}")

    checks.run(
        "boto3-tags-replication-group",
        lambda: tag_round_trip(arn_of("replicationgroup", rg_c), {"restored-from": snap}),
        needs=["boto3-rg-restore-from-snapshot"],
    )

    def group_tags_reach_members():
        # botocore's model: "Tags on replication groups will be replicated to all nodes" and "When
        # you add or remove tags on replication groups, those actions will be replicated to all
        # nodes in the replication group."
        members = [arn_of("cluster", f"{rg_c}-{k:03}") for k in (1, 2)]
        for arn in members:
            expect(tags_of(arn) == {"restored-from": snap}, f"{arn} lists {tags_of(arn)}, not its group's creation tags")
        client.add_tags_to_resource(ResourceName=arn_of("replicationgroup", rg_c), Tags=[{"Key": "shared", "Value": "yes"}])
        try:
            for arn in members:
                expect(tags_of(arn).get("shared") == "yes", f"{arn} lists {tags_of(arn)} after tagging its group")
        finally:
            client.remove_tags_from_resource(ResourceName=arn_of("replicationgroup", rg_c), TagKeys=["shared"])
        for arn in members:
            expect("shared" not in tags_of(arn), f"{arn} lists {tags_of(arn)} after untagging its group")

    checks.run("boto3-tags-replication-group-replicated-to-members", group_tags_reach_members, needs=["boto3-rg-restore-from-snapshot"])

    def cluster_tags():
        client.create_cache_cluster(
            CacheClusterId=tagged_cluster, Engine="valkey", CacheNodeType=SMALL_NODE_TYPE, Tags=[{"Key": "family", "Value": "tags"}]
        )
        wait_cluster(tagged_cluster)
        try:
            tag_round_trip(arn_of("cluster", tagged_cluster), {"family": "tags"})
        finally:
            client.delete_cache_cluster(CacheClusterId=tagged_cluster)
            wait("cache_cluster_deleted", CacheClusterId=tagged_cluster)

    checks.run("boto3-tags-cache-cluster", cluster_tags)
    checks.run(
        "boto3-tags-snapshot",
        lambda: tag_round_trip(arn_of("snapshot", snap), {"family": "replication-groups"}),
        needs=["boto3-rg-create-snapshot"],
    )
    checks.run(
        "boto3-tags-parameter-group",
        lambda: tag_round_trip(arn_of("parametergroup", params), {"family": "replication-groups"}),
        needs=["boto3-rg-create-parameter-group"],
    )
    checks.run(
        "boto3-tags-subnet-group",
        lambda: tag_round_trip(arn_of("subnetgroup", subnets), {"family": "replication-groups"}),
        needs=["boto3-rg-create-subnet-group"],
    )

    def user_tags():
        client.create_user(
            UserId=tagged_user,
            UserName=tagged_user,
            Engine="valkey",
            NoPasswordRequired=True,
            AccessString="on ~* +@read",
            Tags=[{"Key": "family", "Value": "tags"}],
        )
        try:
            tag_round_trip(arn_of("user", tagged_user), {"family": "tags"})
            raises(
                errors.TagNotFoundFault, client.remove_tags_from_resource, ResourceName=arn_of("user", tagged_user), TagKeys=["never-set"]
            )
        finally:
            client.delete_user(UserId=tagged_user)

    checks.run("boto3-tags-user", user_tags, needs=["boto3-users-create-user"])

    # ---- 8. events -----------------------------------------------------------------------------

    def events(**kwargs):
        found = all_items("describe_events", "Events", Duration=60, **kwargs)
        dates = [e["Date"] for e in found]
        expect(dates == sorted(dates, reverse=True), "events are not newest first")
        expect(
            all(e["SourceType"] == kwargs["SourceType"] for e in found),
            f"SourceType {kwargs['SourceType']} lists {sorted({e['SourceType'] for e in found})}",
        )
        if "SourceIdentifier" in kwargs:
            expect(
                all(e["SourceIdentifier"] == kwargs["SourceIdentifier"] for e in found),
                f"other sources: {sorted({e['SourceIdentifier'] for e in found})}",
            )
        return [e["Message"] for e in found]

    def has(messages, *words):
        """Some message has every word (case-insensitive): the lifecycle step happened."""
        return any(all(w.lower() in m.lower() for w in words) for m in messages)

    def replication_group_events():
        messages = events(SourceType="replication-group", SourceIdentifier=rg_a)
        expect(has(messages, "created"), f"no creation event of {rg_a} in {messages}")
        expect(has(messages, "deleted"), f"no deletion event of {rg_a} in {messages}")
        # TestFailover's documentation names these replication group messages.
        expect(
            "Test Failover API called for node group 0001" in messages, f"no 'Test Failover API called for node group 0001' in {messages}"
        )
        completed = f"Failover from primary node {rg_a}-001 to replica node {rg_a}-002 completed"
        expect(completed in messages, f"no {completed!r} (the message TestFailover's documentation names) in {messages}")
        resharding = events(SourceType="replication-group", SourceIdentifier=rg_b)
        expect(has(resharding, "resharding"), f"no resharding event of {rg_b} in {resharding}")

    checks.run(
        "boto3-events-replication-group",
        replication_group_events,
        needs=["boto3-rg-delete-with-final-snapshot", "boto3-rg-shard-configuration-scale-in"],
    )

    def cache_cluster_events():
        messages = events(SourceType="cache-cluster", SourceIdentifier=memcached)
        expect("Cache cluster created" in messages, f"no 'Cache cluster created' of {memcached} in {messages}")
        expect(has(messages, "reboot") or has(messages, "restart"), f"no reboot event of {memcached} in {messages}")
        expect(has(messages, "deleted"), f"no deletion event of {memcached} in {messages}")

    checks.run("boto3-events-cache-cluster", cache_cluster_events, needs=["boto3-cc-delete-memcached"])

    def node_events():
        # As in botocore's DescribeEvents example: one "Added cache node NNNN in availability zone
        # <zone>" per node a cluster gets (at creation and when nodes are added).
        messages = events(SourceType="cache-cluster", SourceIdentifier=memcached)
        for node in ("0001", "0002", "0003"):
            pattern = rf"Added cache node {node} in availability zone {REGION}[a-f]"
            expect(any(re.fullmatch(pattern, m) for m in messages), f"no {pattern!r} in {messages}")

    checks.run("boto3-events-cache-nodes-added", node_events, needs=["boto3-cc-modify-memcached-add-node"])

    def snapshot_event():
        # As in botocore's DescribeEvents example: the snapshot of a replication group succeeds as
        # an event of the member cluster it was taken from.
        wanted = f"Snapshot succeeded for snapshot with ID '{snap}' of replication group with ID '{rg_a}'"
        found = [e for e in all_items("describe_events", "Events", Duration=60) if e["Message"] == wanted]
        expect(found, f"no event {wanted!r}")
        sources = [(e["SourceType"], e["SourceIdentifier"]) for e in found]
        expect(
            len(found) == 1 and sources[0][0] == "cache-cluster" and re.fullmatch(rf"{re.escape(rg_a)}-00\d", sources[0][1]),
            f"the snapshot event's source is {sources}, expected one cache-cluster {rg_a}-00N",
        )

    checks.run("boto3-events-snapshot-succeeded", snapshot_event, needs=["boto3-rg-create-snapshot"])

    def events_by_source_type():
        messages = events(SourceType="cache-parameter-group", SourceIdentifier=params2)
        for step in ("created", "modified", "deleted"):
            expect(has(messages, params2, step), f"no {step} event of {params2} in {messages}")
        everything = all_items("describe_events", "Events", Duration=60)
        kinds = {e["SourceType"] for e in everything}
        expect(
            {"replication-group", "cache-cluster", "cache-parameter-group", "cache-subnet-group"} <= kinds,
            f"unfiltered events have source types {sorted(kinds)}",
        )

    checks.run("boto3-events-filtered-by-source-type", events_by_source_type, needs=["boto3-pg-deleted-once-unused"])

    # ---- 9. service updates, reserved nodes ----------------------------------------------------

    def service_updates():
        expect(client.describe_service_updates()["ServiceUpdates"] == [], "the emulator publishes service updates")
        expect(
            client.describe_service_updates(ServiceUpdateStatus=["available"])["ServiceUpdates"] == [], "available service updates listed"
        )
        expect(client.describe_update_actions()["UpdateActions"] == [], "update actions listed")
        expect(
            client.describe_update_actions(ReplicationGroupIds=[rg_c], UpdateActionStatus=["not-applied"])["UpdateActions"] == [],
            "update actions of a group listed",
        )
        err = raises(
            errors.ServiceUpdateNotFoundFault,
            client.batch_apply_update_action,
            ServiceUpdateName="elasticache-20240101-001",
            ReplicationGroupIds=[rg_c],
        )
        expect(err.response["ResponseMetadata"]["HTTPStatusCode"] == 404, f"HTTP {err.response['ResponseMetadata']['HTTPStatusCode']}")

    checks.run("boto3-service-updates-none-published", service_updates)

    def offerings():
        every = all_items("describe_reserved_cache_nodes_offerings", "ReservedCacheNodesOfferings")
        expect(len(every) == 144, f"{len(every)} offerings, the crate doc says 144")
        expect(len({o["ReservedCacheNodesOfferingId"] for o in every}) == len(every), "offering ids repeat")
        one = client.describe_reserved_cache_nodes_offerings(
            CacheNodeType="cache.r6g.large", ProductDescription="redis", Duration="1", OfferingType="No Upfront"
        )["ReservedCacheNodesOfferings"]
        expect(len(one) == 1, f"{len(one)} offerings for cache.r6g.large redis 1 year No Upfront")
        offering = one[0]
        expect(offering["Duration"] == 31536000 and offering["FixedPrice"] == 0.0, f"offering {offering}")
        charges = offering.get("RecurringCharges", [])
        expect(
            len(charges) == 1 and charges[0]["RecurringChargeFrequency"] == "Hourly" and charges[0]["RecurringChargeAmount"] > 0,
            f"RecurringCharges {charges}",
        )
        state["offering"] = offering["ReservedCacheNodesOfferingId"]

    checks.run("boto3-reserved-describe-offerings", offerings)

    def purchase():
        response = client.purchase_reserved_cache_nodes_offering(
            ReservedCacheNodesOfferingId=state["offering"],
            ReservedCacheNodeId=reservation,
            CacheNodeCount=2,
            Tags=[{"Key": "family", "Value": "reserved"}],
        )
        node = response["ReservedCacheNode"]
        expect(node["ReservedCacheNodeId"] == reservation, f"id {node.get('ReservedCacheNodeId')!r}")
        expect(node["ReservedCacheNodesOfferingId"] == state["offering"], f"offering {node.get('ReservedCacheNodesOfferingId')!r}")
        expect(
            node["State"] == "active" and node["CacheNodeCount"] == 2, f"state {node.get('State')!r}, {node.get('CacheNodeCount')} nodes"
        )
        expect(node["CacheNodeType"] == "cache.r6g.large" and node["Duration"] == 31536000, f"reservation {node}")
        expect(isinstance(node.get("StartTime"), datetime.datetime), f"StartTime {node.get('StartTime')!r}")
        learn_account(node.get("ReservationARN"), "reserved-instance", reservation)
        raises(
            errors.ReservedCacheNodeAlreadyExistsFault,
            client.purchase_reserved_cache_nodes_offering,
            ReservedCacheNodesOfferingId=state["offering"],
            ReservedCacheNodeId=reservation,
        )
        raises(
            errors.ReservedCacheNodesOfferingNotFoundFault,
            client.purchase_reserved_cache_nodes_offering,
            ReservedCacheNodesOfferingId="00000000-0000-0000-0000-000000000000",
        )

    checks.run("boto3-reserved-purchase-offering", purchase, needs=["boto3-reserved-describe-offerings"])

    def describe_reserved():
        found = client.describe_reserved_cache_nodes(ReservedCacheNodeId=reservation)["ReservedCacheNodes"]
        expect(
            [(n["ReservedCacheNodeId"], n["CacheNodeCount"], n["State"]) for n in found] == [(reservation, 2, "active")],
            f"described {found}",
        )
        listed = {
            n["ReservedCacheNodeId"]
            for n in all_items("describe_reserved_cache_nodes", "ReservedCacheNodes", CacheNodeType="cache.r6g.large")
        }
        expect(reservation in listed, f"DescribeReservedCacheNodes lists {sorted(listed)}")
        raises(errors.ReservedCacheNodeNotFoundFault, client.describe_reserved_cache_nodes, ReservedCacheNodeId=f"{reservation}-missing")

    checks.run("boto3-reserved-describe-reserved-nodes", describe_reserved, needs=["boto3-reserved-purchase-offering"])

    def reserved_tags():
        # PurchaseReservedCacheNodesOffering takes Tags, and a reservation's ARN is taggable.
        arn = arn_of("reserved-instance", reservation)
        expect(tags_of(arn) == {"family": "reserved"}, f"tags of {arn}: {tags_of(arn)}")

    checks.run("boto3-reserved-tags-listed", reserved_tags, needs=["boto3-reserved-purchase-offering"])

    # ---- cleanup -------------------------------------------------------------------------------

    def cleanup():
        client.delete_replication_group(ReplicationGroupId=rg_c)
        wait("replication_group_deleted", ReplicationGroupId=rg_c)
        for name in (snap, final, redis_final):
            client.delete_snapshot(SnapshotName=name)
        for name in (snap, final, redis_final):
            gone(client.describe_snapshots, errors.SnapshotNotFoundFault, f"snapshot {name}", SnapshotName=name)
        client.delete_cache_parameter_group(CacheParameterGroupName=params)
        client.delete_cache_subnet_group(CacheSubnetGroupName=subnets)

    checks.run("boto3-families-cleanup", cleanup, needs=["boto3-rg-restore-from-snapshot", "boto3-cc-delete-with-final-snapshot"])

    control.request("POST", "/_emulator/reset", {})
    print(f"boto3_families: {checks.passed} passed, {checks.failed} failed", file=sys.stderr)
    return checks.exit_code()


if __name__ == "__main__":
    main_guard(main)
