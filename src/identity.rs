//! Who is calling (DESIGN §6): callers from the config, found by bearer token (SHA-256 digest,
//! compared in constant time) or by mTLS client-certificate identity, with what each may do.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::config::{CallerConfig, TokenDigest, pattern_matches};

/// The verified client certificate chain of a TLS connection, in the request extensions.
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<Vec<rustls_pki_types::CertificateDer<'static>>>);

/// An authenticated caller, put in the request extensions by the authentication layer.
#[derive(Debug)]
pub struct Caller {
    /// The caller's configured name.
    pub name: String,
    allow: Vec<String>,
    export_buckets: Vec<String>,
    limit: Option<CallerLimit>,
    targets: Vec<String>,
    default_target: Option<String>,
}

/// A caller's GCRA rate limit.
#[derive(Debug)]
pub struct CallerLimit {
    /// Sustained calls per second.
    pub requests_per_second: u32,
    /// Calls at once.
    pub burst: u32,
    /// The limiter.
    pub limiter: DefaultDirectRateLimiter,
}

impl Caller {
    /// A caller from its configuration.
    pub fn new(config: &CallerConfig) -> Self {
        let limit = config
            .requests_per_second
            .and_then(NonZeroU32::new)
            .map(|rps| {
                let burst = config.burst.and_then(NonZeroU32::new).unwrap_or(rps);
                CallerLimit {
                    requests_per_second: rps.get(),
                    burst: burst.get(),
                    limiter: RateLimiter::direct(Quota::per_second(rps).allow_burst(burst)),
                }
            });
        Self {
            name: config.name.clone(),
            allow: config.allow.clone(),
            export_buckets: config.export_buckets.clone(),
            limit,
            targets: config.targets.clone(),
            default_target: config.default_target().map(str::to_owned),
        }
    }

    /// Whether the caller may call `rpc`.
    pub fn may_call(&self, rpc: &str) -> bool {
        self.allow.iter().any(|p| pattern_matches(p, rpc))
    }

    /// Whether the caller may export to `bucket`.
    pub fn may_export_to(&self, bucket: &str) -> bool {
        self.export_buckets.iter().any(|b| b == bucket)
    }

    /// Whether the caller may use the target named `target`.
    pub fn may_use_target(&self, target: &str) -> bool {
        self.targets.iter().any(|t| t == target)
    }

    /// Where the caller's calls go when they name no target.
    pub fn default_target(&self) -> Option<&str> {
        self.default_target.as_deref()
    }

    /// The caller's rate limit, if it has one.
    pub fn limit(&self) -> Option<&CallerLimit> {
        self.limit.as_ref()
    }
}

/// Every configured caller, indexed for authentication.
#[derive(Debug, Default)]
pub struct Callers {
    by_token: Vec<(TokenDigest, Arc<Caller>)>,
    by_identity: HashMap<String, Arc<Caller>>,
}

impl Callers {
    /// The registry of `configs`.
    pub fn new(configs: &[CallerConfig]) -> Self {
        let mut callers = Callers::default();
        for config in configs {
            let caller = Arc::new(Caller::new(config));
            if let Some(digest) = &config.token_sha256 {
                callers.by_token.push((digest.clone(), caller.clone()));
            }
            if let Some(identity) = &config.mtls_identity {
                callers.by_identity.insert(identity.clone(), caller);
            }
        }
        callers
    }

    /// Whether no callers are configured (calls are then unauthenticated).
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty() && self.by_identity.is_empty()
    }

    /// The caller holding `token`. Every digest is compared, in constant time, so the time taken
    /// says nothing about which digest or how much of it matched.
    pub fn by_token(&self, token: &str) -> Option<Arc<Caller>> {
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (digest, caller) in &self.by_token {
            if bool::from(digest.0.ct_eq(&presented)) {
                found = Some(caller.clone());
            }
        }
        found
    }

    /// The caller with this client-certificate identity.
    pub fn by_identity(&self, identity: &str) -> Option<Arc<Caller>> {
        self.by_identity.get(identity).cloned()
    }
}

/// Hex SHA-256 of a token, as `elasticache-grpc hash-token` prints it.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The identity in a DER client certificate: the first URI SAN, else the first DNS SAN, else
/// the subject's CN.
pub fn certificate_identity(der: &[u8]) -> Option<String> {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        let names = &san.value.general_names;
        let uri = names.iter().find_map(|n| match n {
            GeneralName::URI(u) => Some((*u).to_owned()),
            _ => None,
        });
        let dns = || {
            names.iter().find_map(|n| match n {
                GeneralName::DNSName(d) => Some((*d).to_owned()),
                _ => None,
            })
        };
        if let Some(id) = uri.or_else(dns) {
            return Some(id);
        }
    }
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_digest;

    fn config(name: &str, token: &str) -> CallerConfig {
        CallerConfig {
            name: name.into(),
            token_sha256: Some(parse_digest(&hash_token(token)).unwrap()),
            mtls_identity: None,
            allow: vec!["Describe*".into(), "ExportServerlessCacheSnapshot".into()],
            export_buckets: vec!["corp-cache-backups".into()],
            requests_per_second: Some(5),
            burst: Some(2),
            targets: Vec::new(),
            default_target: None,
        }
    }

    #[test]
    fn tokens_find_their_caller_and_nothing_else() {
        let callers = Callers::new(&[config("a", "token-a"), config("b", "token-b")]);
        assert_eq!(callers.by_token("token-a").unwrap().name, "a");
        assert_eq!(callers.by_token("token-b").unwrap().name, "b");
        assert!(callers.by_token("token-c").is_none());
        assert!(callers.by_token("").is_none());
    }

    #[test]
    fn hash_token_is_sha256_hex() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn policy_checks() {
        let c = Caller::new(&config("a", "t"));
        assert!(c.may_call("DescribeServerlessCaches"));
        assert!(c.may_call("ExportServerlessCacheSnapshot"));
        assert!(!c.may_call("DeleteServerlessCache"));
        assert!(c.may_export_to("corp-cache-backups"));
        assert!(!c.may_export_to("corp-cache-backups-2"));
        let limit = c.limit().unwrap();
        assert_eq!(limit.requests_per_second, 5);
        assert!(limit.limiter.check().is_ok());
        assert!(limit.limiter.check().is_ok());
        assert!(limit.limiter.check().is_err(), "burst of 2");
    }

    #[test]
    fn certificate_identity_prefers_uri_then_dns_then_cn() {
        let mk = |sans: Vec<rcgen::SanType>, cn: &str| {
            let mut params = rcgen::CertificateParams::default();
            params.subject_alt_names = sans;
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, cn);
            let key = rcgen::KeyPair::generate().unwrap();
            params.self_signed(&key).unwrap().der().to_vec()
        };
        let uri = mk(
            vec![
                rcgen::SanType::DnsName("svc.example".try_into().unwrap()),
                rcgen::SanType::URI("spiffe://corp.example/sa/x".try_into().unwrap()),
            ],
            "cn-x",
        );
        assert_eq!(
            certificate_identity(&uri).as_deref(),
            Some("spiffe://corp.example/sa/x")
        );
        let dns = mk(
            vec![rcgen::SanType::DnsName("svc.example".try_into().unwrap())],
            "cn-y",
        );
        assert_eq!(certificate_identity(&dns).as_deref(), Some("svc.example"));
        let cn = mk(vec![], "cn-z");
        assert_eq!(certificate_identity(&cn).as_deref(), Some("cn-z"));
        assert_eq!(certificate_identity(b"not a certificate"), None);
    }
}
