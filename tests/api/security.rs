//! Identity, policy, rate limits and load shedding, each proven by counting the calls the
//! emulator received.

use std::time::{Duration, Instant};

use elasticache_grpc::config::{CallerConfig, Settings, Upstream, parse_digest};
use elasticache_grpc::emulator::FaultKind;
use elasticache_grpc::pb;
use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;
use elasticache_grpc::startup::Application;
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::*;

fn export(bucket: &str) -> pb::ExportServerlessCacheSnapshotRequest {
    pb::ExportServerlessCacheSnapshotRequest {
        request_id: None,
        serverless_cache_snapshot_name: "some-snapshot".into(),
        s3_bucket_name: bucket.into(),
    }
}

async fn secured_app() -> TestApp {
    spawn_app_with(|s| {
        s.callers = vec![
            caller(
                "backup-job",
                "backup-secret",
                &["ExportServerlessCacheSnapshot", "Describe*"],
                &["corp-cache-backups"],
            ),
            caller("reporting", "reporting-secret", &["Describe*"], &[]),
        ];
    })
    .await
}

#[tokio::test]
async fn missing_or_unknown_tokens_are_unauthenticated_and_never_reach_aws() {
    let mut app = secured_app().await;
    let none = app
        .client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect_err("no token");
    assert_eq!(none.code(), Code::Unauthenticated);
    assert_eq!(reason(&none), "UNAUTHENTICATED");
    assert_eq!(
        details(&none).error_info().unwrap().domain,
        "elasticache-grpc"
    );

    let wrong = app
        .client
        .describe_serverless_caches(with_token(
            pb::DescribeServerlessCachesRequest::default(),
            "not-a-known-token",
        ))
        .await
        .expect_err("wrong token");
    assert_eq!(wrong.code(), Code::Unauthenticated);
    assert!(
        !wrong.message().contains("not-a-known-token"),
        "tokens never echo"
    );
    assert_eq!(app.emulator.total_calls(), 0);

    // Health stays open for probes.
    let ok = app
        .client
        .describe_serverless_caches(with_token(
            pb::DescribeServerlessCachesRequest::default(),
            "reporting-secret",
        ))
        .await;
    assert!(ok.is_ok(), "{ok:?}");
    assert_eq!(app.emulator.total_calls(), 1);
}

#[tokio::test]
async fn another_callers_rights_are_permission_denied_before_aws() {
    let mut app = secured_app().await;
    let method = app
        .client
        .export_serverless_cache_snapshot(with_token(
            export("corp-cache-backups"),
            "reporting-secret",
        ))
        .await
        .expect_err("reporting may not export");
    assert_eq!(method.code(), Code::PermissionDenied);
    assert_eq!(reason(&method), "METHOD_NOT_ALLOWED");

    let bucket = app
        .client
        .export_serverless_cache_snapshot(with_token(
            export("someone-elses-bucket"),
            "backup-secret",
        ))
        .await
        .expect_err("bucket not on the list");
    assert_eq!(bucket.code(), Code::PermissionDenied);
    assert_eq!(reason(&bucket), "BUCKET_NOT_ALLOWED");
    assert_eq!(app.emulator.total_calls(), 0);

    // The allowed bucket goes through (and AWS says the snapshot does not exist).
    let allowed = app
        .client
        .export_serverless_cache_snapshot(with_token(export("corp-cache-backups"), "backup-secret"))
        .await
        .expect_err("no such snapshot");
    assert_eq!(allowed.code(), Code::NotFound);
    assert_eq!(app.emulator.calls("ExportServerlessCacheSnapshot"), 1);
}

#[tokio::test]
async fn a_burst_over_the_callers_limit_passes_exactly_the_burst_and_retry_info_is_honest() {
    let mut app = spawn_app_with(|s| {
        let mut c = caller("limited", "limited-secret", &["*"], &[]);
        c.requests_per_second = Some(2);
        c.burst = Some(3);
        s.callers = vec![c];
    })
    .await;
    let mut passed = 0;
    let mut refused = Vec::new();
    for _ in 0..8 {
        match app
            .client
            .describe_serverless_caches(with_token(
                pb::DescribeServerlessCachesRequest::default(),
                "limited-secret",
            ))
            .await
        {
            Ok(_) => passed += 1,
            Err(status) => refused.push(status),
        }
    }
    assert_eq!(passed, 3, "exactly the burst passes");
    assert_eq!(refused.len(), 5);
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 3);
    let last = refused.last().unwrap();
    assert_eq!(last.code(), Code::ResourceExhausted);
    assert_eq!(reason(last), "RATE_LIMITED");
    let d = details(last);
    assert_eq!(
        d.quota_failure().unwrap().violations[0].subject,
        "caller:limited"
    );
    let delay = d.retry_info().unwrap().retry_delay.expect("a delay");
    assert!(
        delay > Duration::ZERO && delay <= Duration::from_millis(500),
        "{delay:?}"
    );
    // Honest: after the delay, a call passes.
    tokio::time::sleep(delay + Duration::from_millis(5)).await;
    app.client
        .describe_serverless_caches(with_token(
            pb::DescribeServerlessCachesRequest::default(),
            "limited-secret",
        ))
        .await
        .expect("passes after RetryInfo's delay");
}

#[tokio::test]
async fn the_concurrency_cap_sheds_the_excess_at_once() {
    let app = spawn_app_with(|s| s.max_concurrent_requests = 2).await;
    app.emulator.faults().inject_always(
        Some("DescribeServerlessCaches"),
        FaultKind::Delay(Duration::from_millis(400)),
    );
    let mut tasks = Vec::new();
    for i in 0..6 {
        let mut c = app.client.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let r = c.describe_serverless_caches(distinct_describe(i)).await;
            (r.map(|_| ()), started.elapsed())
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (r, elapsed) = t.await.unwrap();
        match r {
            Ok(()) => ok += 1,
            Err(status) => {
                assert_eq!(status.code(), Code::ResourceExhausted);
                assert_eq!(reason(&status), "OVERLOADED");
                assert!(
                    elapsed < Duration::from_millis(300),
                    "shed at once, not queued: {elapsed:?}"
                );
            }
        }
    }
    assert_eq!(ok, 2);
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 2);
}

#[tokio::test]
async fn the_upstream_budget_never_waits_past_the_deadline() {
    let mut app = spawn_app_with(|s| {
        s.upstream_policy.requests_per_second = 1;
        s.upstream_policy.burst = 1;
    })
    .await;
    app.client
        .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
        .await
        .expect("first call spends the only permit");
    let mut request = tonic::Request::new(pb::DescribeServerlessCachesRequest::default());
    request.set_timeout(Duration::from_millis(200));
    let started = Instant::now();
    let err = app
        .client
        .describe_serverless_caches(request)
        .await
        .expect_err("no permit within 200 ms");
    assert_eq!(err.code(), Code::ResourceExhausted);
    assert_eq!(reason(&err), "UPSTREAM_RATE_LIMITED");
    assert!(details(&err).retry_info().is_some());
    assert!(started.elapsed() < Duration::from_millis(200));
    assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 1);
}

#[tokio::test]
async fn a_retry_storm_is_bounded_by_the_retry_budget() {
    let app = spawn_app_with(|s| {
        s.upstream_policy.requests_per_second = 10_000;
        s.upstream_policy.burst = 10_000;
        s.upstream_policy.max_attempts = 3;
        s.upstream_policy.initial_backoff = Duration::from_millis(1);
        s.upstream_policy.max_backoff = Duration::from_millis(5);
    })
    .await;
    app.emulator
        .faults()
        .inject_always(None, FaultKind::Throttle);
    let requests = 100;
    let mut tasks = Vec::new();
    for i in 0..requests {
        let mut c = app.client.clone();
        tasks.push(tokio::spawn(async move {
            c.describe_serverless_caches(distinct_describe(i as i32))
                .await
                .expect_err("throttled")
                .code()
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Code::ResourceExhausted);
    }
    let upstream = app.emulator.calls("DescribeServerlessCaches");
    // 20% of the requests, plus the budget's floor of 10 per window (one window: the storm is
    // short; README "Retries and deadlines").
    let bound = requests + requests / 5 + 10;
    assert!(
        upstream <= bound,
        "{upstream} upstream calls for {requests} requests"
    );
    assert!(upstream < requests * 3, "not requests × max_attempts");
    assert!(upstream > requests, "some retries did happen");
}

#[tokio::test]
async fn without_callers_a_non_loopback_address_refuses_to_start() {
    let settings = Settings::new(
        ([0, 0, 0, 0], 0).into(),
        Upstream::Endpoint("http://127.0.0.1:9".into()),
    );
    let err = Application::build(settings.clone())
        .await
        .expect_err("fail closed");
    assert!(err.to_string().contains("--allow-unauthenticated"), "{err}");
    // With the explicit flag the same non-loopback address passes the check (checked without
    // binding it: tests bind loopback only).
    let mut allowed = settings.clone();
    allowed.allow_unauthenticated = true;
    assert!(allowed.check().is_ok(), "{:?}", allowed.check());
    // And on loopback no flag is needed.
    let mut loopback = settings;
    loopback.listen = ([127, 0, 0, 1], 0).into();
    assert!(loopback.check().is_ok());
    assert!(Application::build(loopback).await.is_ok());
}

#[tokio::test]
async fn an_empty_bucket_is_required_not_forbidden_and_padded_tokens_authenticate() {
    let mut app = secured_app().await;
    let err = app
        .client
        .export_serverless_cache_snapshot(with_token(export(""), "backup-secret"))
        .await
        .expect_err("no bucket");
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(
        err.message().contains("s3_bucket_name: is required"),
        "{err:?}"
    );
    // The bearer check ignores whitespace around the token, as `hash-token` does.
    let mut padded = tonic::Request::new(pb::DescribeServerlessCachesRequest::default());
    padded.metadata_mut().insert(
        "authorization",
        "Bearer   reporting-secret ".parse().unwrap(),
    );
    app.client
        .describe_serverless_caches(padded)
        .await
        .expect("a padded token is the same token");
    assert_eq!(app.emulator.calls("ExportServerlessCacheSnapshot"), 0);
}

mod mtls {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};

    struct Ca {
        issuer: Issuer<'static, KeyPair>,
        pem: String,
    }

    fn ca(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn leaf(ca: &Ca, sans: Vec<SanType>) -> (String, String) {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.subject_alt_names = sans;
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(dir: &std::path::Path, name: &str, pem: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, pem).unwrap();
        p
    }

    /// A temporary directory with a server certificate (for `localhost`, from `server_ca`) and a
    /// client CA, as the server's TLS settings.
    struct Pki {
        dir: std::path::PathBuf,
        server_ca: Ca,
        client_ca: Ca,
        tls: elasticache_grpc::config::TlsSettings,
    }

    impl Drop for Pki {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn pki(name: &str) -> Pki {
        let dir = std::env::temp_dir().join(unique(name));
        std::fs::create_dir_all(&dir).unwrap();
        let server_ca = ca("server-ca");
        let client_ca = ca("client-ca");
        let server = leaf(
            &server_ca,
            vec![SanType::DnsName("localhost".try_into().unwrap())],
        );
        let tls = elasticache_grpc::config::TlsSettings {
            cert: write(&dir, "server.pem", &server.0),
            key: write(&dir, "server.key", &server.1),
            client_ca: Some(write(&dir, "client-ca.pem", &client_ca.pem)),
        };
        Pki {
            dir,
            server_ca,
            client_ca,
            tls,
        }
    }

    /// A caller identified by its certificate only, allowed `Describe*`.
    fn certificate_caller(name: &str, identity: &str) -> CallerConfig {
        CallerConfig {
            token_sha256: None,
            mtls_identity: Some(identity.into()),
            ..caller(name, "unused", &["Describe*"], &[])
        }
    }

    async fn client(
        addr: std::net::SocketAddr,
        server_ca: &Ca,
        cert: &(String, String),
    ) -> Result<ElastiCacheServiceClient<Channel>, tonic::transport::Error> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&server_ca.pem))
            .identity(Identity::from_pem(&cert.0, &cert.1))
            .domain_name("localhost");
        let channel = Channel::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)?
            .connect()
            .await?;
        Ok(ElastiCacheServiceClient::new(channel))
    }

    #[tokio::test]
    async fn a_client_certificate_identity_is_a_caller_and_another_ca_is_refused() {
        let pki = pki("ecgrpc-mtls");
        let (server_ca, client_ca) = (&pki.server_ca, &pki.client_ca);
        let rogue_ca = ca("rogue-ca");
        let identity = "spiffe://corp.example/ns/reporting/sa/reporting";
        let good = leaf(client_ca, vec![SanType::URI(identity.try_into().unwrap())]);
        let stranger = leaf(
            client_ca,
            vec![SanType::URI(
                "spiffe://corp.example/sa/other".try_into().unwrap(),
            )],
        );
        let rogue = leaf(&rogue_ca, vec![SanType::URI(identity.try_into().unwrap())]);
        let app = spawn_app_with(|s| {
            s.tls = Some(pki.tls.clone());
            s.callers = vec![certificate_caller("reporting", identity)];
        })
        .await;

        let mut ok = client(app.addr, server_ca, &good)
            .await
            .expect("mTLS connects");
        ok.describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .expect("the certificate's identity is a caller");
        let denied = ok
            .delete_serverless_cache(pb::DeleteServerlessCacheRequest {
                request_id: None,
                serverless_cache_name: "x".into(),
                final_snapshot_name: None,
            })
            .await
            .expect_err("not allowed");
        assert_eq!(denied.code(), Code::PermissionDenied);

        let mut unknown = client(app.addr, server_ca, &stranger)
            .await
            .expect("valid cert");
        let err = unknown
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .expect_err("unknown identity");
        assert_eq!(err.code(), Code::Unauthenticated);

        // A certificate from another CA never completes the handshake.
        let refused = match client(app.addr, server_ca, &rogue).await {
            Err(_) => true,
            Ok(mut c) => c
                .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
                .await
                .is_err(),
        };
        assert!(refused, "a certificate from another CA must be refused");
        assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 1);
    }

    /// Client certificates are requested, not required: on one TLS listener a token caller
    /// without a certificate, a health check without one, and a certificate caller all work; a
    /// connection that stops in the middle of its TLS handshake is closed after the timeout.
    #[tokio::test]
    async fn tokens_health_and_certificates_share_one_mtls_listener() {
        use elasticache_grpc::identity::hash_token;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        use tonic_health::pb::HealthCheckRequest;
        use tonic_health::pb::health_check_response::ServingStatus;
        use tonic_health::pb::health_client::HealthClient;

        let pki = pki("ecgrpc-mtls-mixed");
        let identity = "spiffe://corp.example/sa/reporting";
        let cert = leaf(
            &pki.client_ca,
            vec![SanType::URI(identity.try_into().unwrap())],
        );
        let app = spawn_app_with(|s| {
            s.tls = Some(pki.tls.clone());
            s.handshake_timeout = Duration::from_millis(400);
            s.callers = vec![
                certificate_caller("reporting", identity),
                CallerConfig {
                    token_sha256: Some(parse_digest(&hash_token("ops-secret")).unwrap()),
                    ..caller("ops", "unused", &["Describe*"], &[])
                },
            ];
        })
        .await;

        let no_cert = Channel::from_shared(format!("https://{}", app.addr))
            .unwrap()
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&pki.server_ca.pem))
                    .domain_name("localhost"),
            )
            .unwrap()
            .connect()
            .await
            .expect("a client without a certificate connects");
        let mut token_caller = ElastiCacheServiceClient::new(no_cert.clone());
        token_caller
            .describe_serverless_caches(with_token(
                pb::DescribeServerlessCachesRequest::default(),
                "ops-secret",
            ))
            .await
            .expect("a token caller without a certificate");
        let anonymous = token_caller
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .expect_err("neither token nor certificate");
        assert_eq!(anonymous.code(), Code::Unauthenticated);
        let serving = HealthClient::new(no_cert)
            .check(HealthCheckRequest::default())
            .await
            .expect("health without a certificate")
            .into_inner();
        assert_eq!(serving.status(), ServingStatus::Serving);

        let mut cert_caller = client(app.addr, &pki.server_ca, &cert).await.expect("mTLS");
        cert_caller
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest::default())
            .await
            .expect("a certificate caller");
        assert_eq!(app.emulator.calls("DescribeServerlessCaches"), 2);

        // Half a TLS record (a ClientHello header promising bytes that never come).
        let mut stalled = tokio::net::TcpStream::connect(app.addr).await.unwrap();
        stalled
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(3), async {
            loop {
                match stalled.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled TLS handshake was never closed");
        assert!(started.elapsed() < Duration::from_millis(1500));
    }
}
