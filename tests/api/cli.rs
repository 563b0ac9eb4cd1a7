//! The binary's own behaviour: `hash-token`, bad configurations refused with exit code 64, the
//! standalone emulator's address rule, and the emulator's S3 folders and state file.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::BIN;

#[test]
fn hash_token_prints_the_sha256_of_stdin() {
    assert_eq!(
        hash_token_of(b"test\n"),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

#[test]
fn a_bad_config_file_exits_64_naming_file_key_and_reason() {
    let (code, stderr, file) = start_with_config(
        "bad",
        "[[callers]]\nname = \"x\"\ntoken_sha256 = \"not-hex\"\nallow = [\"*\"]\n",
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains(&file), "{stderr}");
    assert!(stderr.contains("callers[0].token_sha256"), "{stderr}");
    assert!(stderr.contains("64 hexadecimal digits"), "{stderr}");
}

#[test]
fn no_callers_on_a_public_address_refuses_to_start_with_64() {
    let (code, stderr) = run(&["--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--allow-unauthenticated"), "{stderr}");
}

/// Runs the binary to completion with test AWS settings; its exit code and stderr.
fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .output()
        .expect("binary runs");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts the binary on loopback with `config` as its config file; exit code, stderr and the
/// file's path (already removed).
fn start_with_config(name: &str, config: &str) -> (Option<i32>, String, String) {
    let path = std::env::temp_dir().join(format!("ecgrpc-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let file = path.to_str().unwrap().to_owned();
    let (code, stderr) = run(&["--config", &file, "--listen", "127.0.0.1:0"]);
    let _ = std::fs::remove_file(&path);
    (code, stderr, file)
}

/// What `hash-token` prints for `stdin`.
fn hash_token_of(stdin: &[u8]) -> String {
    let mut child = Command::new(BIN)
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn two_callers_with_one_token_exit_64_naming_both() {
    let digest = "ab".repeat(32);
    let (code, stderr, _) = start_with_config(
        "dup",
        &format!(
            "[[callers]]\nname = \"reader\"\ntoken_sha256 = \"{digest}\"\nallow = [\"Describe*\"]\n\
             [[callers]]\nname = \"admin\"\ntoken_sha256 = \"{digest}\"\nallow = [\"*\"]\n"
        ),
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("\"reader\""), "{stderr}");
    assert!(stderr.contains("\"admin\""), "{stderr}");
    assert!(stderr.contains("callers[1].token_sha256"), "{stderr}");
}

#[test]
fn an_mtls_caller_without_a_client_ca_is_named_once_with_the_file() {
    let (code, stderr, file) = start_with_config(
        "mtls-only",
        "[[callers]]\nname = \"reporting\"\nmtls_identity = \"spiffe://corp/reporting\"\nallow = [\"Describe*\"]\n",
    );
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains(&file), "{stderr}");
    assert!(stderr.contains("--tls-client-ca"), "{stderr}");
    assert_eq!(
        stderr.matches("\"reporting\"").count(),
        1,
        "said once: {stderr}"
    );
}

#[test]
fn a_message_limit_too_small_for_any_response_exits_64() {
    let (code, stderr) = run(&["--listen", "127.0.0.1:0", "--max-message-bytes", "0"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("max_message_bytes"), "{stderr}");
}

#[test]
fn hash_token_and_the_bearer_check_agree_about_whitespace() {
    assert_eq!(
        hash_token_of(b"  padded-token \t\n"),
        elasticache_grpc::identity::hash_token("padded-token")
    );
}

#[test]
fn the_standalone_emulator_refuses_a_non_loopback_address_unless_told() {
    let (code, stderr) = run(&["emulator", "--listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--allow-remote"), "{stderr}");
    assert!(stderr.contains("no authentication"), "{stderr}");
}

/// The standalone emulator's S3: `--s3-bucket` folders made in `--s3-dir` at start; an export
/// there writes its object, and one to any other bucket answers AWS's fault.
#[tokio::test]
async fn the_emulators_s3_buckets_are_folders_an_export_writes_into() {
    let dir = std::env::temp_dir().join(format!("ecgrpc-s3-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .args(["emulator", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--settle-ms", "0", "--s3-dir", dir.to_str().unwrap()])
        .args(["--s3-bucket", "team-backups"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary runs");
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            started.elapsed().as_secs() < 20,
            "the emulator never listened"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(dir.join("team-backups").is_dir());
    let sdk = elasticache_grpc::startup::static_client(&format!("http://127.0.0.1:{port}"));
    sdk.create_serverless_cache()
        .serverless_cache_name("s3-src")
        .engine("valkey")
        .send()
        .await
        .unwrap();
    sdk.create_serverless_cache_snapshot()
        .serverless_cache_name("s3-src")
        .serverless_cache_snapshot_name("s3-snap")
        .send()
        .await
        .unwrap();
    let missing = sdk
        .export_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("s3-snap")
        .s3_bucket_name("no-such-bucket")
        .send()
        .await
        .unwrap_err();
    let code = aws_sdk_elasticache::error::ProvideErrorMetadata::code(&missing).map(str::to_owned);
    sdk.export_serverless_cache_snapshot()
        .serverless_cache_snapshot_name("s3-snap")
        .s3_bucket_name("team-backups")
        .send()
        .await
        .unwrap();
    let written: Vec<String> = std::fs::read_dir(dir.join("team-backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        code.is_some(),
        "a missing bucket is an AWS fault: {missing:?}"
    );
    assert!(
        written.iter().any(|f| f.starts_with("s3-snap")),
        "objects written: {written:?}"
    );
}

/// `--emulator --state-file`: what was made over gRPC is still there after the process is killed
/// and started again on the same file.
#[tokio::test]
async fn the_embedded_emulators_state_file_survives_a_kill_and_restart() {
    use elasticache_grpc::pb;
    use elasticache_grpc::pb::elasti_cache_service_client::ElastiCacheServiceClient;

    use crate::helpers::Binary;

    let dir = std::env::temp_dir().join(format!("ecgrpc-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("state.json");
    let args = ["--emulator", "--state-file", path.to_str().unwrap()];
    let describe = |addr: std::net::SocketAddr| async move {
        let mut client = ElastiCacheServiceClient::connect(format!("http://{addr}"))
            .await
            .unwrap();
        client
            .describe_serverless_caches(pb::DescribeServerlessCachesRequest {
                serverless_cache_name: Some("kept-across-restarts".to_owned()),
                ..Default::default()
            })
            .await
            .map(|response| response.into_inner().serverless_caches)
    };

    let first = Binary::spawn(None, &args, &[]);
    let mut client = ElastiCacheServiceClient::connect(format!("http://{}", first.addr))
        .await
        .unwrap();
    let created = client
        .create_serverless_cache(pb::CreateServerlessCacheRequest {
            serverless_cache_name: "kept-across-restarts".into(),
            engine: "valkey".into(),
            ..Default::default()
        })
        .await
        .expect("created")
        .into_inner()
        .serverless_cache
        .expect("the cache");
    // Killed, not stopped: what a create answered is on disk already.
    let mut child = first.into_child();
    child.kill().unwrap();
    child.wait().unwrap();

    let second = Binary::spawn(None, &args, &[]);
    let found = describe(second.addr)
        .await
        .expect("found after the restart");
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].arn, created.arn);
    assert_eq!(found[0].create_time, created.create_time);
}

/// `emulator --state-file` on a file that is not a state file stops at start, naming it; the
/// file is left as it was.
#[test]
fn a_corrupt_state_file_stops_the_standalone_emulator_naming_it() {
    let path =
        std::env::temp_dir().join(format!("ecgrpc-corrupt-state-{}.json", std::process::id()));
    std::fs::write(&path, "{\"version\": 1,").unwrap();
    let file = path.to_str().unwrap().to_owned();
    let (code, stderr) = run(&["emulator", "--listen", "127.0.0.1:0", "--state-file", &file]);
    let after = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains(&file), "{stderr}");
    assert!(stderr.contains("not an emulator state file"), "{stderr}");
    assert_eq!(after, "{\"version\": 1,");
}

#[test]
fn emulator_accounts_are_account_ids_and_need_the_emulator() {
    let (code, stderr) = run(&["--emulator", "--emulator-accounts", "111111111111,12345"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("\"12345\" is not an AWS account id"),
        "{stderr}"
    );
    let (code, stderr) = run(&[
        "--emulator-accounts",
        "111111111111",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, Some(64), "{stderr}");
    assert!(stderr.contains("--emulator-accounts"), "{stderr}");
    assert!(stderr.contains("add --emulator"), "{stderr}");
}
