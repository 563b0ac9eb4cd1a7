//! Every response checked against AWS's model: each element the emulator writes must be a member
//! of its shape by the model's wire name (the member's `locationName`, else the member name), each
//! list item the list member's `locationName` (else `member`), and scalars carry no children.
//! The SDK parses leniently (it skips elements it does not know), so this catches the misnamed
//! ones it would silently drop.

use std::time::Duration;

use serde_json::Value;

use super::{Emulator, EmulatorConfig};

const MODEL: &str = include_str!("../../../model/elasticache-2015-02-02.json");

/// A parsed element: name and children (text is not checked).
#[derive(Debug)]
struct Element {
    name: String,
    children: Vec<Element>,
}

/// Parses the compact XML the emulator writes (no comments, no CDATA; attributes only on the
/// root).
fn parse(xml: &str) -> Element {
    fn element(xml: &str, at: &mut usize) -> Element {
        assert_eq!(&xml[*at..*at + 1], "<", "element expected at {at}");
        let end = *at + xml[*at..].find('>').unwrap();
        let tag = &xml[*at + 1..end];
        let name = tag.split(' ').next().unwrap().to_owned();
        *at = end + 1;
        let mut children = Vec::new();
        loop {
            let next = *at + xml[*at..].find('<').unwrap();
            if xml[next..].starts_with("</") {
                let close = next + xml[next..].find('>').unwrap();
                assert_eq!(&xml[next + 2..close], name, "mismatched close");
                *at = close + 1;
                return Element { name, children };
            }
            *at = next;
            children.push(element(xml, at));
        }
    }
    let start = if xml.starts_with("<?xml") {
        xml.find("?>").unwrap() + 2
    } else {
        0
    };
    element(xml, &mut start.clone())
}

fn shape<'a>(model: &'a Value, name: &str) -> &'a Value {
    &model["shapes"][name]
}

/// Checks `element` against the shape named `shape_name`; `path` names it in failures.
fn check(model: &Value, element: &Element, shape_name: &str, path: &str) {
    let shape = shape(model, shape_name);
    match shape["type"].as_str().unwrap() {
        "structure" => {
            let members = shape["members"].as_object().unwrap();
            for child in &element.children {
                let member = members.iter().find(|(name, member)| {
                    member["locationName"].as_str().unwrap_or(name) == child.name
                });
                let Some((_, member)) = member else {
                    panic!("{path}: <{}> is not a member of {shape_name}", child.name);
                };
                let child_path = format!("{path}.{}", child.name);
                check(model, child, member["shape"].as_str().unwrap(), &child_path);
            }
        }
        "list" => {
            let member = &shape["member"];
            let item = member["locationName"].as_str().unwrap_or("member");
            for child in &element.children {
                assert_eq!(
                    child.name, item,
                    "{path}: items of {shape_name} are <{item}>"
                );
                check(
                    model,
                    child,
                    member["shape"].as_str().unwrap(),
                    &format!("{path}[]"),
                );
            }
        }
        _ => assert!(
            element.children.is_empty(),
            "{path}: {shape_name} is a scalar but has children"
        ),
    }
}

/// Calls `action` with `params` and checks the answer against the operation's output shape.
async fn checked(emulator: &Emulator, model: &Value, action: &str, params: &str) {
    let body = format!("Action={action}&Version=2015-02-02&{params}");
    let response = super::tests::raw_post(emulator.local_addr(), body.as_bytes()).await;
    assert_eq!(response.0, 200, "{action} {params}: {}", response.1);
    let root = parse(&response.1);
    assert_eq!(root.name, format!("{action}Response"));
    let operation = &model["operations"][action];
    let Some(output) = operation["output"].as_object() else {
        assert!(root.children.iter().all(|c| c.name == "ResponseMetadata"));
        return;
    };
    let wrapper = output["resultWrapper"].as_str().unwrap();
    let result = root
        .children
        .iter()
        .find(|c| c.name == wrapper)
        .unwrap_or_else(|| panic!("{action}: no <{wrapper}>"));
    check(model, result, output["shape"].as_str().unwrap(), action);
}

#[tokio::test]
async fn every_response_uses_the_model_wire_names() {
    let model: Value = serde_json::from_str(MODEL).unwrap();
    let config = EmulatorConfig {
        settle_time: Duration::from_secs(3600),
        export_time: Duration::from_secs(3600),
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let settle = || emulator.advance_clock(Duration::from_secs(3600));
    let calls: &[(&str, &str)] = &[
        (
            "CreateReplicationGroup",
            "ReplicationGroupId=plain&ReplicationGroupDescription=d&CacheNodeType=cache.r6g.large\
             &NumCacheClusters=2&AutomaticFailoverEnabled=true&TransitEncryptionEnabled=true\
             &Tags.Tag.1.Key=k&Tags.Tag.1.Value=v",
        ),
        (
            "CreateReplicationGroup",
            "ReplicationGroupId=sharded&ReplicationGroupDescription=d&CacheNodeType=cache.r6g.large\
             &NumNodeGroups=2&ReplicasPerNodeGroup=1",
        ),
        (
            "CreateCacheCluster",
            "CacheClusterId=mem&Engine=memcached&CacheNodeType=cache.t3.micro&NumCacheNodes=2\
             &NotificationTopicArn=arn:aws:sns:us-east-1:123456789012:t",
        ),
        (
            "CreateCacheCluster",
            "CacheClusterId=solo&Engine=redis&CacheNodeType=cache.t3.micro",
        ),
        (
            "CreateServerlessCache",
            "ServerlessCacheName=sl&Engine=valkey",
        ),
        (
            "CreateCacheParameterGroup",
            "CacheParameterGroupName=pg&CacheParameterGroupFamily=redis7&Description=d",
        ),
        (
            "CreateCacheSubnetGroup",
            "CacheSubnetGroupName=sg&CacheSubnetGroupDescription=d\
             &SubnetIds.SubnetIdentifier.1=subnet-0abc",
        ),
    ];
    for (action, params) in calls {
        checked(&emulator, &model, action, params).await;
    }
    settle();
    let calls: &[(&str, &str)] = &[
        ("DescribeReplicationGroups", ""),
        ("DescribeCacheClusters", "ShowCacheNodeInfo=true"),
        (
            "ModifyCacheCluster",
            "CacheClusterId=solo&EngineVersion=7.1&CacheNodeType=cache.m5.large",
        ),
        (
            "ModifyCacheCluster",
            "CacheClusterId=mem&NumCacheNodes=3&ApplyImmediately=true",
        ),
        (
            "ModifyReplicationGroupShardConfiguration",
            "ReplicationGroupId=sharded&NodeGroupCount=3&ApplyImmediately=true",
        ),
        (
            "CreateGlobalReplicationGroup",
            "GlobalReplicationGroupIdSuffix=g&PrimaryReplicationGroupId=plain",
        ),
        (
            "CreateSnapshot",
            "ReplicationGroupId=plain&SnapshotName=snap",
        ),
        ("DescribeReplicationGroups", ""),
        ("DescribeCacheClusters", "ShowCacheNodeInfo=true"),
        ("DescribeSnapshots", "ShowNodeGroupConfig=true"),
        ("DescribeGlobalReplicationGroups", "ShowMemberInfo=true"),
        ("DescribeCacheParameterGroups", ""),
        ("DescribeCacheParameters", "CacheParameterGroupName=pg"),
        (
            "DescribeEngineDefaultParameters",
            "CacheParameterGroupFamily=memcached1.6",
        ),
        (
            "ModifyCacheParameterGroup",
            "CacheParameterGroupName=pg&ParameterNameValues.ParameterNameValue.1.ParameterName=timeout\
             &ParameterNameValues.ParameterNameValue.1.ParameterValue=60",
        ),
        (
            "ResetCacheParameterGroup",
            "CacheParameterGroupName=pg&ResetAllParameters=true",
        ),
        ("DescribeCacheSubnetGroups", ""),
        (
            "ModifyCacheSubnetGroup",
            "CacheSubnetGroupName=sg&CacheSubnetGroupDescription=e",
        ),
        ("DescribeCacheEngineVersions", ""),
        ("DescribeEvents", "Duration=1440"),
        (
            "ListAllowedNodeTypeModifications",
            "ReplicationGroupId=sharded",
        ),
        ("DescribeServiceUpdates", ""),
        ("DescribeUpdateActions", ""),
        ("DescribeReservedCacheNodesOfferings", "MaxRecords=20"),
        ("DescribeCacheSecurityGroups", ""),
        ("DescribeServerlessCaches", ""),
        ("DescribeUsers", ""),
        (
            "ModifyUser",
            "UserId=default&AccessString=on%20~*%20%2B%40all",
        ),
        ("DescribeUserGroups", ""),
        (
            "ListTagsForResource",
            "ResourceName=arn:aws:elasticache:us-east-1:123456789012:replicationgroup:plain",
        ),
        ("DeleteCacheParameterGroup", "CacheParameterGroupName=pg"),
    ];
    for (action, params) in calls {
        checked(&emulator, &model, action, params).await;
    }
    settle();
    let offerings = super::tests::raw_post(
        emulator.local_addr(),
        b"Action=DescribeReservedCacheNodesOfferings&Version=2015-02-02&MaxRecords=20",
    )
    .await
    .1;
    let id = offerings
        .split("<ReservedCacheNodesOfferingId>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_owned();
    let calls = [
        (
            "PurchaseReservedCacheNodesOffering",
            format!("ReservedCacheNodesOfferingId={id}"),
        ),
        ("DescribeReservedCacheNodes", String::new()),
        (
            "CopySnapshot",
            "SourceSnapshotName=snap&TargetSnapshotName=copy".to_owned(),
        ),
        (
            "IncreaseReplicaCount",
            "ReplicationGroupId=sharded&NewReplicaCount=2&ApplyImmediately=true".to_owned(),
        ),
        (
            "TestFailover",
            "ReplicationGroupId=plain&NodeGroupId=0001".to_owned(),
        ),
        (
            "DeleteCacheCluster",
            "CacheClusterId=solo&FinalSnapshotIdentifier=solo-final".to_owned(),
        ),
        ("DeleteSnapshot", "SnapshotName=snap".to_owned()),
        (
            "RebootCacheCluster",
            "CacheClusterId=mem&CacheNodeIdsToReboot.CacheNodeId.1=0001".to_owned(),
        ),
    ];
    for (action, params) in &calls {
        checked(&emulator, &model, action, params).await;
    }
    emulator.shutdown();
}
