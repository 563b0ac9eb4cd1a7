//! Property tests: arbitrary requests through the real handler and a mocked SDK client. Never a
//! panic; an invalid request is INVALID_ARGUMENT and never reaches the SDK; a valid one reaches it
//! as a faithful SDK input.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_elasticache::config::retry::RetryConfig;
use aws_sdk_elasticache::operation::create_serverless_cache::{
    CreateServerlessCacheInput, CreateServerlessCacheOutput,
};
use aws_sdk_elasticache::operation::describe_serverless_cache_snapshots::{
    DescribeServerlessCacheSnapshotsInput, DescribeServerlessCacheSnapshotsOutput,
};
use aws_sdk_elasticache::operation::export_serverless_cache_snapshot::{
    ExportServerlessCacheSnapshotInput, ExportServerlessCacheSnapshotOutput,
};
use aws_smithy_mocks::{RuleMode, mock, mock_client};
use proptest::prelude::*;
use tonic::{Code, Request};

use super::*;
use crate::validate::Validate;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Strings that hit the interesting cases: empty, ASCII names, long ones, any Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[a-z][a-z0-9-]{0,45}",
        "[a-z0-9.-]{1,70}",
        ".{0,300}",
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn enum_number() -> impl Strategy<Value = Option<i32>> {
    proptest::option::of(prop_oneof![0..5i32, any::<i32>()])
}

prop_compose! {
    fn export_request()(name in text(), bucket in text()) -> pb::ExportServerlessCacheSnapshotRequest {
        pb::ExportServerlessCacheSnapshotRequest { request_id: None, serverless_cache_snapshot_name: name, s3_bucket_name: bucket }
    }
}

prop_compose! {
    fn describe_request()(
        cache in opt_text(), snap in opt_text(), kind in opt_text(), token in opt_text(),
        max in proptest::option::of(any::<i32>()),
    ) -> pb::DescribeServerlessCacheSnapshotsRequest {
        pb::DescribeServerlessCacheSnapshotsRequest {
            serverless_cache_name: cache, serverless_cache_snapshot_name: snap,
            snapshot_type: kind, next_token: token, max_results: max,
        }
    }
}

prop_compose! {
    fn create_cache_request()(
        name in text(), engine in text(), description in opt_text(),
        groups in proptest::collection::vec(text(), 0..3),
        tags in proptest::collection::vec((opt_text(), opt_text()), 0..3),
        retention in proptest::option::of(any::<i32>()),
        network in enum_number(), connection in enum_number(), unit in enum_number(),
        max in proptest::option::of(any::<i32>()),
    ) -> pb::CreateServerlessCacheRequest {
        pb::CreateServerlessCacheRequest {
            serverless_cache_name: name,
            engine,
            description,
            security_group_ids: groups,
            tags: tags.into_iter().map(|(key, value)| pb::Tag { key, value }).collect(),
            snapshot_retention_limit: retention,
            network_type: network,
            connection_type: connection,
            cache_usage_limits: Some(pb::CacheUsageLimits {
                data_storage: Some(pb::DataStorage { maximum: max, minimum: None, unit }),
                ecpu_per_second: None,
            }),
            ..Default::default()
        }
    }
}

/// Runs `message` through the handler against a client whose every call is captured.
macro_rules! check {
    ($message:expr, $method:ident, $input:ty, $output:expr, $faithful:expr) => {{
        let message = $message;
        let captured: Arc<Mutex<Option<$input>>> = Arc::default();
        let sink = captured.clone();
        let rule = mock!(aws_sdk_elasticache::Client::$method)
            .match_requests(move |input: &$input| {
                *sink.lock().unwrap() = Some(input.clone());
                true
            })
            .then_output(|| $output);
        let client = mock_client!(aws_sdk_elasticache, RuleMode::MatchAny, [&rule], |c| c
            .retry_config(RetryConfig::disabled()));
        let svc = ElastiCacheGrpc::with_retry(
            client,
            Duration::from_secs(5),
            crate::upstream::RetryPolicy::none(),
        );
        let valid = message.validate().is_ok();
        let result = runtime().block_on(svc.handle(Request::new(message.clone())));
        if valid {
            prop_assert!(result.is_ok(), "valid request refused: {:?}", result.err());
            let input = captured.lock().unwrap().take();
            prop_assert!(input.is_some(), "valid request never reached the SDK");
            let faithful: fn(&_, &$input) -> bool = $faithful;
            prop_assert!(
                faithful(&message, &input.unwrap()),
                "SDK input differs from {:?}",
                message
            );
        } else {
            let status = result.err().expect("an invalid request must fail");
            prop_assert_eq!(status.code(), Code::InvalidArgument);
            prop_assert_eq!(rule.num_calls(), 0);
        }
    }};
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    #[test]
    fn export_requests(message in export_request()) {
        check!(
            message,
            export_serverless_cache_snapshot,
            ExportServerlessCacheSnapshotInput,
            ExportServerlessCacheSnapshotOutput::builder().build(),
            |m: &pb::ExportServerlessCacheSnapshotRequest, i| {
                i.serverless_cache_snapshot_name() == Some(m.serverless_cache_snapshot_name.as_str())
                    && i.s3_bucket_name() == Some(m.s3_bucket_name.as_str())
            }
        );
    }

    #[test]
    fn describe_snapshot_requests(message in describe_request()) {
        check!(
            message,
            describe_serverless_cache_snapshots,
            DescribeServerlessCacheSnapshotsInput,
            DescribeServerlessCacheSnapshotsOutput::builder().build(),
            |m: &pb::DescribeServerlessCacheSnapshotsRequest, i| {
                i.serverless_cache_name() == m.serverless_cache_name.as_deref()
                    && i.serverless_cache_snapshot_name() == m.serverless_cache_snapshot_name.as_deref()
                    && i.snapshot_type() == m.snapshot_type.as_deref()
                    && i.next_token() == m.next_token.as_deref()
                    && i.max_results() == m.max_results
            }
        );
    }

    #[test]
    fn create_cache_requests(message in create_cache_request()) {
        check!(
            message,
            create_serverless_cache,
            CreateServerlessCacheInput,
            CreateServerlessCacheOutput::builder().build(),
            |m: &pb::CreateServerlessCacheRequest, i| {
                let tags_match = if m.tags.is_empty() {
                    i.tags.is_none()
                } else {
                    i.tags().len() == m.tags.len()
                        && i.tags().iter().zip(&m.tags).all(|(t, p)| {
                            t.key() == p.key.as_deref() && t.value() == p.value.as_deref()
                        })
                };
                let groups_match = if m.security_group_ids.is_empty() {
                    i.security_group_ids.is_none()
                } else {
                    i.security_group_ids() == m.security_group_ids.as_slice()
                };
                let unit = m.cache_usage_limits.as_ref()
                    .and_then(|l| l.data_storage.as_ref())
                    .and_then(|d| d.unit);
                let sdk_unit = i.cache_usage_limits()
                    .and_then(|l| l.data_storage())
                    .and_then(|d| d.unit().cloned());
                let unit_match = match unit {
                    Some(1) => sdk_unit == Some(aws_sdk_elasticache::types::DataStorageUnit::Gb),
                    _ => sdk_unit.is_none(),
                };
                i.serverless_cache_name() == Some(m.serverless_cache_name.as_str())
                    && i.engine() == Some(m.engine.as_str())
                    && i.description() == m.description.as_deref()
                    && i.snapshot_retention_limit() == m.snapshot_retention_limit
                    && tags_match
                    && groups_match
                    && unit_match
                    && i.network_type().is_some() == matches!(m.network_type, Some(1..=3))
                    && i.connection_type().is_some() == matches!(m.connection_type, Some(1..=2))
            }
        );
    }
}
