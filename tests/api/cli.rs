//! The binary's own behaviour: `hash-token`, and a bad config file refused with exit code 64.

use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_elasticache-grpc");

#[test]
fn hash_token_prints_the_sha256_of_stdin() {
    let mut child = Command::new(BIN)
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("binary runs");
    child.stdin.take().unwrap().write_all(b"test\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
}

#[test]
fn a_bad_config_file_exits_64_naming_file_key_and_reason() {
    let path = std::env::temp_dir().join(format!("ecgrpc-bad-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[[callers]]\nname = \"x\"\ntoken_sha256 = \"not-hex\"\nallow = [\"*\"]\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--config",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("binary runs");
    let _ = std::fs::remove_file(&path);
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
    assert!(stderr.contains("callers[0].token_sha256"), "{stderr}");
    assert!(stderr.contains("64 hexadecimal digits"), "{stderr}");
}

#[test]
fn no_callers_on_a_public_address_refuses_to_start_with_64() {
    let out = Command::new(BIN)
        .args(["--listen", "0.0.0.0:0"])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "x")
        .env("AWS_SECRET_ACCESS_KEY", "y")
        .output()
        .expect("binary runs");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-unauthenticated"));
}
