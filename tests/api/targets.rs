//! Many accounts and regions: named targets (`[targets.<name>]`), each call routed by
//! `x-elasticache-target` or the caller's default; two emulators stand in for two accounts.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use elasticache_grpc::config::{CallerConfig, Settings, TargetConfig};
use elasticache_grpc::emulator::Emulator;
use elasticache_grpc::pb;
use tonic::Code;

use crate::helpers::{
    Served, caller, details, reason, routed, serve, start_emulator, target_on as target,
};

fn caller_of(name: &str, targets: &[&str], default: Option<&str>) -> CallerConfig {
    CallerConfig {
        targets: targets.iter().map(|t| t.to_string()).collect(),
        default_target: default.map(str::to_owned),
        ..caller(name, &format!("{name}-token"), &["*"], &[])
    }
}

/// A facade with targets `eu` and `us` on their own emulators; caller `eu-only` may use `eu`,
/// caller `both` may use both and goes to `us` by default.
async fn two_accounts(customize: impl FnOnce(&mut Settings)) -> (Served, Emulator, Emulator) {
    let eu = start_emulator().await;
    let us = start_emulator().await;
    // The facade's own endpoint is neither: every call must go through a target.
    let nowhere = start_emulator().await;
    let served = serve(&nowhere, |s| {
        s.targets = vec![
            target("eu", "eu-west-1", &eu),
            target("us", "us-east-2", &us),
        ];
        s.callers = vec![
            caller_of("eu-only", &["eu"], None),
            caller_of("both", &["eu", "us"], Some("us")),
        ];
        customize(s);
    })
    .await;
    nowhere.shutdown();
    (served, eu, us)
}

fn describe(
    token: &str,
    target: Option<&str>,
) -> tonic::Request<pb::DescribeServerlessCachesRequest> {
    routed(
        pb::DescribeServerlessCachesRequest::default(),
        token,
        target,
    )
}

#[tokio::test]
async fn the_header_routes_each_call_to_its_target_and_the_default_takes_the_rest() {
    let (mut served, eu, us) = two_accounts(|s| {
        s.metrics_listen = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let calls = |e: &Emulator| e.calls("DescribeServerlessCaches");

    served
        .client
        .describe_serverless_caches(describe("both-token", None))
        .await
        .unwrap();
    assert_eq!(
        (calls(&eu), calls(&us)),
        (0, 1),
        "the default of `both` is us"
    );
    served
        .client
        .describe_serverless_caches(describe("both-token", Some("eu")))
        .await
        .unwrap();
    assert_eq!((calls(&eu), calls(&us)), (1, 1));
    served
        .client
        .describe_serverless_caches(describe("both-token", Some("us")))
        .await
        .unwrap();
    assert_eq!((calls(&eu), calls(&us)), (1, 2));
    served
        .client
        .describe_serverless_caches(describe("eu-only-token", None))
        .await
        .unwrap();
    assert_eq!(
        (calls(&eu), calls(&us)),
        (2, 2),
        "one target: it is the default"
    );

    // A cache made in one account is not in the other.
    let create = pb::CreateServerlessCacheRequest {
        serverless_cache_name: "routed".into(),
        engine: "valkey".into(),
        ..Default::default()
    };
    let request = routed(create, "both-token", Some("eu"));
    served
        .client
        .create_serverless_cache(request)
        .await
        .unwrap();
    assert_eq!(eu.calls("CreateServerlessCache"), 1);
    assert_eq!(us.calls("CreateServerlessCache"), 0);
    let names = |r: pb::DescribeServerlessCachesResponse| {
        r.serverless_caches
            .into_iter()
            .filter_map(|c| c.serverless_cache_name)
            .collect::<Vec<_>>()
    };
    let in_us = served
        .client
        .describe_serverless_caches(describe("both-token", None))
        .await
        .unwrap();
    assert!(names(in_us.into_inner()).is_empty());
    let in_eu = served
        .client
        .describe_serverless_caches(describe("both-token", Some("eu")))
        .await
        .unwrap();
    assert_eq!(names(in_eu.into_inner()), ["routed"]);

    let metrics = crate::helpers::scrape(served.metrics_addr.unwrap()).await;
    for target in ["eu", "us"] {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with("elasticache_upstream_calls_total")
                    && l.contains(&format!("target=\"{target}\""))),
            "no upstream calls of {target} in {metrics}"
        );
    }
}

#[tokio::test]
async fn a_target_the_caller_may_not_use_is_refused_and_nothing_is_sent() {
    let (mut served, eu, us) = two_accounts(|_| {}).await;
    for (token, asked) in [
        ("eu-only-token", "us"),
        ("both-token", "ap"),
        ("eu-only-token", "not a name"),
    ] {
        let status = served
            .client
            .describe_serverless_caches(describe(token, Some(asked)))
            .await
            .expect_err(asked);
        assert_eq!(status.code(), Code::PermissionDenied, "{asked}: {status:?}");
        assert_eq!(reason(&status), "TARGET_NOT_ALLOWED");
        let info = details(&status).error_info().cloned().unwrap();
        assert_eq!(info.domain, "elasticache-grpc");
        let named = if asked == "not a name" {
            "(invalid)"
        } else {
            asked
        };
        assert_eq!(info.metadata.get("target").map(String::as_str), Some(named));
        assert!(details(&status).request_info().is_some());
    }
    assert_eq!(eu.total_calls() + us.total_calls(), 0, "nothing was sent");
}

/// A stand-in for STS on 127.0.0.1:0: answers AssumeRole with credentials that expire after
/// `ttl`, or AccessDenied for a role whose name contains `denied`; counts what it was asked.
struct Sts {
    url: String,
    assumed: Arc<Mutex<Vec<String>>>,
}

impl Sts {
    async fn start(ttl: Duration) -> Sts {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let assumed = Arc::new(Mutex::new(Vec::new()));
        let seen = assumed.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let _ = answer(stream, ttl, &seen).await;
                });
            }
        });
        Sts { url, assumed }
    }

    fn calls(&self) -> usize {
        self.assumed.lock().unwrap().len()
    }
}

async fn answer(
    mut stream: tokio::net::TcpStream,
    ttl: Duration,
    seen: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        // One request per connection: head, then Content-Length bytes of form body.
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        if buf.len() < end + 4 + length {
            continue;
        }
        let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).into_owned();
        seen.lock().unwrap().push(body.clone());
        let (status, xml) = if !body.contains("Action=AssumeRole") {
            ("400 Bad Request", error_xml("InvalidAction"))
        } else if body.contains("denied") {
            ("403 Forbidden", error_xml("AccessDenied"))
        } else {
            let expires = aws_smithy_types::DateTime::from(SystemTime::now() + ttl)
                .fmt(aws_smithy_types::date_time::Format::DateTime)
                .unwrap();
            (
                "200 OK",
                format!(
                    "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
                 <AssumeRoleResult><AssumedRoleUser><AssumedRoleId>AROATEST:s</AssumedRoleId>\
                 <Arn>arn:aws:sts::111111111111:assumed-role/r/s</Arn></AssumedRoleUser>\
                 <Credentials><AccessKeyId>ASIATEST</AccessKeyId>\
                 <SecretAccessKey>assumed-secret</SecretAccessKey>\
                 <SessionToken>assumed-token</SessionToken>\
                 <Expiration>{expires}</Expiration></Credentials></AssumeRoleResult>\
                 <ResponseMetadata><RequestId>sts-1</RequestId></ResponseMetadata>\
                 </AssumeRoleResponse>"
                ),
            )
        };
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/xml\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{xml}",
            xml.len()
        );
        stream.write_all(response.as_bytes()).await?;
        return stream.shutdown().await;
    }
}

fn error_xml(code: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
         <Type>Sender</Type><Code>{code}</Code><Message>no</Message></Error>\
         <RequestId>sts-e</RequestId></ErrorResponse>"
    )
}

fn with_role(mut target: TargetConfig, role: &str, sts: &Sts) -> TargetConfig {
    target.role_arn = Some(format!("arn:aws:iam::111111111111:role/{role}"));
    target.external_id = Some("corp-facade".into());
    target.sts_endpoint_url = Some(sts.url.clone());
    target
}

#[tokio::test]
async fn a_role_is_assumed_once_for_many_calls_and_again_near_expiry() {
    // 12 s credentials: the identity cache refreshes them 5–10 s before they expire.
    let sts = Sts::start(Duration::from_secs(12)).await;
    let eu = start_emulator().await;
    let mut served = serve(&eu, |s| {
        s.targets = vec![with_role(target("eu", "eu-west-1", &eu), "reader", &sts)];
    })
    .await;
    assert_eq!(sts.calls(), 0, "nothing is assumed at start");
    for _ in 0..5 {
        served
            .client
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .unwrap();
    }
    assert_eq!(eu.calls("DescribeServerlessCaches"), 5);
    assert_eq!(sts.calls(), 1, "assumed once for five calls");
    let asked = sts.assumed.lock().unwrap()[0].clone();
    assert!(
        asked.contains("RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Freader"),
        "{asked}"
    );
    assert!(asked.contains("ExternalId=corp-facade"), "{asked}");
    assert!(
        asked.contains("RoleSessionName=elasticache-grpc"),
        "{asked}"
    );

    // Past the refresh point (at most 7 s after the first call), the next call refreshes.
    tokio::time::sleep(Duration::from_millis(7500)).await;
    for _ in 0..3 {
        served
            .client
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .unwrap();
    }
    assert_eq!(sts.calls(), 2, "refreshed once near expiry");
}

#[tokio::test]
async fn a_role_that_cannot_be_assumed_fails_its_target_only() {
    let sts = Sts::start(Duration::from_secs(3600)).await;
    let eu = start_emulator().await;
    let us = start_emulator().await;
    let mut served = serve(&eu, |s| {
        s.targets = vec![
            with_role(target("locked", "eu-west-1", &eu), "denied", &sts),
            with_role(target("open", "us-east-2", &us), "reader", &sts),
        ];
        s.callers = vec![caller_of("both", &["locked", "open"], Some("open"))];
    })
    .await;
    let status = served
        .client
        .describe_serverless_caches(describe("both-token", Some("locked")))
        .await
        .expect_err("the role cannot be assumed");
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "TARGET_CREDENTIALS_UNAVAILABLE");
    let info = details(&status).error_info().cloned().unwrap();
    assert_eq!(
        info.metadata.get("target").map(String::as_str),
        Some("locked")
    );
    assert!(
        !status.message().contains("denied"),
        "no role in the message"
    );
    assert_eq!(
        eu.total_calls(),
        0,
        "nothing was sent to the locked account"
    );

    served
        .client
        .describe_serverless_caches(describe("both-token", None))
        .await
        .expect("the other target keeps working");
    assert_eq!(us.calls("DescribeServerlessCaches"), 1);
}

#[tokio::test]
async fn request_ids_are_kept_per_target() {
    let (mut served, eu, us) = two_accounts(|_| {}).await;
    let delete = |target: &str| {
        routed(
            pb::DeleteServerlessCacheRequest {
                serverless_cache_name: "absent".into(),
                request_id: Some("5b0e3d1c-0000-4000-8000-000000000001".into()),
                ..Default::default()
            },
            "both-token",
            Some(target),
        )
    };
    for target in ["eu", "us", "eu"] {
        let status = served
            .client
            .delete_serverless_cache(delete(target))
            .await
            .expect_err("no such cache");
        assert_eq!(status.code(), Code::NotFound, "{target}: {status:?}");
    }
    // One request_id in two accounts is two calls; the repeat in eu is replayed.
    assert_eq!(eu.calls("DeleteServerlessCache"), 1);
    assert_eq!(us.calls("DeleteServerlessCache"), 1);
}

#[tokio::test]
async fn the_header_routes_connect_calls_too() {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let (served, eu, us) = two_accounts(|_| {}).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", served.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let call = |target: &'static str| {
        let request = http::Request::builder()
            .method(http::Method::POST)
            .uri(format!(
                "http://{}/elasticache.v1.ElastiCacheService/DescribeServerlessCaches",
                served.addr
            ))
            .header("content-type", "application/json")
            .header("connect-protocol-version", "1")
            .header("authorization", "Bearer eu-only-token")
            .header("x-elasticache-target", target)
            .body(tonic::body::Body::new(http_body_util::Full::new(
                bytes::Bytes::from_static(b"{}"),
            )))
            .unwrap();
        channel.clone().oneshot(request)
    };
    let ok = call("eu").await.unwrap();
    assert_eq!(ok.status(), http::StatusCode::OK);
    let refused = call("us").await.unwrap();
    assert_eq!(refused.status(), http::StatusCode::FORBIDDEN);
    let body = refused.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(body.contains("TARGET_NOT_ALLOWED"), "{body}");
    assert_eq!(eu.calls("DescribeServerlessCaches"), 1);
    assert_eq!(us.total_calls(), 0);
}

/// One emulator playing two accounts (`--emulator-accounts`): target `dev` is the default
/// account in us-east-1 with the facade's own credentials, `prod` a role in the second account
/// in eu-west-1, assumed through the emulator's own STS. Each sees only its account's resources,
/// with its account and region in their ARNs, and the role is assumed once for all the calls.
#[tokio::test]
async fn one_emulator_plays_two_accounts_in_two_regions_through_assume_role() {
    let emulator = Emulator::start(
        ([127, 0, 0, 1], 0).into(),
        elasticache_grpc::emulator::EmulatorConfig {
            settle_time: crate::helpers::SETTLE,
            export_time: crate::helpers::SETTLE,
            account_id: "111111111111".into(),
            accounts: vec!["222222222222".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let no_endpoint = |name: &str, region: &str| TargetConfig {
        endpoint_url: None,
        ..target(name, region, &emulator)
    };
    let mut served = serve(&emulator, |s| {
        s.targets = vec![
            no_endpoint("dev", "us-east-1"),
            TargetConfig {
                role_arn: Some("arn:aws:iam::222222222222:role/cache-admin".into()),
                ..no_endpoint("prod", "eu-west-1")
            },
            TargetConfig {
                role_arn: Some("arn:aws:iam::333333333333:role/cache-admin".into()),
                ..no_endpoint("elsewhere", "eu-west-1")
            },
        ];
        s.callers = vec![
            caller_of("dev-team", &["dev"], None),
            caller_of("platform", &["dev", "prod", "elsewhere"], Some("dev")),
        ];
    })
    .await;
    for (token, target) in [("dev-team-token", None), ("platform-token", Some("prod"))] {
        let create = pb::CreateServerlessCacheRequest {
            serverless_cache_name: "orders".into(),
            engine: "valkey".into(),
            ..Default::default()
        };
        served
            .client
            .create_serverless_cache(routed(create, token, target))
            .await
            .unwrap_or_else(|s| panic!("{target:?}: {s:?}"));
    }
    let arns = |response: pb::DescribeServerlessCachesResponse| {
        response
            .serverless_caches
            .into_iter()
            .filter_map(|c| c.arn)
            .collect::<Vec<_>>()
    };
    for _ in 0..4 {
        let prod = served
            .client
            .describe_serverless_caches(routed(
                pb::DescribeServerlessCachesRequest::default(),
                "platform-token",
                Some("prod"),
            ))
            .await
            .unwrap();
        assert_eq!(
            arns(prod.into_inner()),
            ["arn:aws:elasticache:eu-west-1:222222222222:serverlesscache:orders"]
        );
    }
    let dev = served
        .client
        .describe_serverless_caches(routed(
            pb::DescribeServerlessCachesRequest::default(),
            "platform-token",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(
        arns(dev.into_inner()),
        ["arn:aws:elasticache:us-east-1:111111111111:serverlesscache:orders"]
    );
    assert_eq!(
        emulator.calls("AssumeRole"),
        1,
        "the role is assumed once for five calls"
    );

    // The caller allowed one target cannot reach the other account.
    let status = served
        .client
        .describe_serverless_caches(routed(
            pb::DescribeServerlessCachesRequest::default(),
            "dev-team-token",
            Some("prod"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(reason(&status), "TARGET_NOT_ALLOWED");

    // A role in an account the emulator does not play cannot be assumed: that target only fails.
    let status = served
        .client
        .describe_serverless_caches(routed(
            pb::DescribeServerlessCachesRequest::default(),
            "platform-token",
            Some("elsewhere"),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert_eq!(reason(&status), "TARGET_CREDENTIALS_UNAVAILABLE");
    assert_eq!(
        emulator.calls("DescribeServerlessCaches"),
        5,
        "nothing was sent for `elsewhere`"
    );
}

/// The binary itself with `--emulator --emulator-accounts` and a targets config: a call to the
/// role's target lands in the second account, and its JSON audit line names the target in
/// `target_name` while `target` stays the log line's own (`audit`), once.
#[tokio::test]
async fn the_binary_with_emulator_accounts_routes_and_audits_each_target() {
    use crate::helpers::{Binary, unique};
    let dir = std::env::temp_dir().join(unique("ecgrpc-targets-bin"));
    std::fs::create_dir_all(&dir).unwrap();
    let config = dir.join("targets.toml");
    std::fs::write(
        &config,
        format!(
            "[targets.dev]\nregion = \"us-east-1\"\n\n\
             [targets.prod]\nregion = \"eu-west-1\"\n\
             role_arn = \"arn:aws:iam::222222222222:role/cache-admin\"\n\n\
             [[callers]]\nname = \"platform\"\ntoken_sha256 = \"{}\"\nallow = [\"*\"]\n\
             targets = [\"dev\", \"prod\"]\ndefault_target = \"dev\"\n",
            elasticache_grpc::identity::hash_token("platform-token")
        ),
    )
    .unwrap();
    let binary = Binary::spawn(
        None,
        &[
            "--emulator",
            "--emulator-accounts",
            "111111111111,222222222222",
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--s3-dir",
            dir.join("s3").to_str().unwrap(),
        ],
        &[],
    );
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", binary.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = pb::elasti_cache_service_client::ElastiCacheServiceClient::new(channel);
    let create = pb::CreateServerlessCacheRequest {
        serverless_cache_name: "orders".into(),
        engine: "valkey".into(),
        ..Default::default()
    };
    let mut request = routed(create, "platform-token", Some("prod"));
    request
        .metadata_mut()
        .insert("x-request-id", "audited-prod".parse().unwrap());
    let created = client.create_serverless_cache(request).await.unwrap();
    assert_eq!(
        created.into_inner().serverless_cache.and_then(|c| c.arn),
        Some("arn:aws:elasticache:eu-west-1:222222222222:serverlesscache:orders".into())
    );
    let dev = client
        .describe_serverless_caches(routed(
            pb::DescribeServerlessCachesRequest::default(),
            "platform-token",
            None,
        ))
        .await
        .unwrap();
    assert!(
        dev.into_inner().serverless_caches.is_empty(),
        "dev is another account"
    );

    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let line =
        loop {
            if let Some(line) = binary.log().lines().find(|l| {
                l.contains("\"request_id\":\"audited-prod\"") && l.contains("mutating call")
            }) {
                break line.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no audit line:\n{}",
                binary.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
    assert_eq!(line.matches("\"target\":").count(), 1, "{line}");
    let audit: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(audit["target"], "audit", "{line}");
    assert_eq!(audit["target_name"], "prod", "{line}");
    assert_eq!(audit["outcome"], "ok", "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}
