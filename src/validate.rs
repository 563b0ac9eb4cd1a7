//! Request validation (DESIGN §4): required fields, ElastiCache name rules, S3 bucket rules,
//! page sizes and enum numbers. Never stricter than AWS: where AWS's rule is not documented,
//! AWS decides. Violations name the proto field, so the caller knows what to fix.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::{LazyLock, Mutex, PoisonError};

use regex::Regex;

use tonic::{Code, Status};

use crate::pb;
use crate::status::{FACADE_DOMAIN, StatusBuilder};

/// One field violation: the proto field path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Proto field path, e.g. `s3_bucket_name` or `cache_usage_limits.data_storage.unit`.
    pub field: String,
    /// What is wrong, in words.
    pub description: String,
}

/// Collects violations; a request is valid when none were found.
#[derive(Debug, Default)]
pub struct Violations(Vec<Violation>);

impl Violations {
    fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(Violation {
            field: field.to_owned(),
            description: description.into(),
        });
    }

    /// The violations found.
    pub fn list(&self) -> &[Violation] {
        &self.0
    }

    fn into_result(self) -> Result<(), Violations> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }

    /// INVALID_ARGUMENT with `BadRequest` listing every violation.
    pub fn into_status(self, request_id: &str) -> Status {
        crate::metrics::refusal("INVALID_ARGUMENT");
        let summary = self
            .0
            .iter()
            .map(|v| format!("{}: {}", v.field, v.description))
            .collect::<Vec<_>>()
            .join("; ");
        StatusBuilder::new(
            Code::InvalidArgument,
            format!("invalid request: {summary}"),
            "INVALID_ARGUMENT",
            FACADE_DOMAIN,
            request_id,
        )
        .details(|d| {
            for v in self.0 {
                d.add_bad_request_violation(v.field, v.description);
            }
        })
        .build()
    }

    fn required(&mut self, field: &str, value: &str) -> bool {
        if value.is_empty() {
            self.add(field, "is required");
            false
        } else {
            true
        }
    }

    /// "is required" unless `present`.
    fn present(&mut self, field: &str, present: bool) {
        if !present {
            self.add(field, "is required");
        }
    }

    /// A length in characters the model bounds.
    fn length(&mut self, field: &str, value: &str, min: i64, max: Option<i64>) {
        let len = i64::try_from(value.chars().count()).unwrap_or(i64::MAX);
        if len < min || max.is_some_and(|m| len > m) {
            match max {
                Some(m) => self.add(field, format!("must be {min} to {m} characters, got {len}")),
                None => self.add(
                    field,
                    format!("must be at least {min} characters, got {len}"),
                ),
            }
        }
    }

    /// A number of list items the model bounds.
    fn count(&mut self, field: &str, count: usize, min: i64, max: Option<i64>) {
        let n = i64::try_from(count).unwrap_or(i64::MAX);
        if n < min || max.is_some_and(|m| n > m) {
            match max {
                Some(m) => self.add(field, format!("must have {min} to {m} items, got {n}")),
                None => self.add(field, format!("must have at least {min} items, got {n}")),
            }
        }
    }

    /// A string the model's pattern (anchored) must match.
    fn pattern(&mut self, field: &str, value: &str, pattern: &'static str) {
        if !pattern_matches(pattern, value) {
            self.add(field, format!("must match {pattern}"));
        }
    }

    /// A timestamp AWS can take: nanos in 0..1e9, years 1 to 9999.
    fn timestamp(&mut self, field: &str, t: &prost_types::Timestamp) {
        const FIRST: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
        const LAST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
        if !(0..1_000_000_000).contains(&t.nanos) {
            self.add(
                field,
                format!("nanos must be 0 to 999999999, got {}", t.nanos),
            );
        } else if !(FIRST..=LAST).contains(&t.seconds) {
            self.add(field, "must be between the years 1 and 9999");
        }
    }

    /// A `request_id`: a UUID in its canonical form (8-4-4-4-12 hex digits).
    fn uuid(&mut self, field: &str, value: &str) {
        let canonical = value.len() == 36
            && uuid::Uuid::try_parse(value)
                .is_ok_and(|u| u.hyphenated().to_string() == value.to_ascii_lowercase());
        if !canonical {
            self.add(field, "must be a UUID (8-4-4-4-12 hex digits)");
        }
    }

    /// An item of a repeated enum: a value AWS defines (not UNSPECIFIED).
    fn enum_item<E: TryFrom<i32>>(&mut self, field: &str, value: i32) {
        if value == 0 || E::try_from(value).is_err() {
            self.add(field, format!("{value} is not a value AWS defines"));
        }
    }

    fn cache_name(&mut self, field: &str, value: &str) {
        if let Err(why) = check_cache_name(value) {
            self.add(field, why);
        }
    }

    /// A Watch's `resume_after`: empty, or a version this service sent (16 hex digits).
    fn resume_after(&mut self, field: &str, value: &str) {
        let version = value.len() == 16 && value.bytes().all(|b| b.is_ascii_hexdigit());
        if !value.is_empty() && !version {
            self.add(
                field,
                "is not a version a watch message carried (16 hex digits)",
            );
        }
    }

    fn snapshot_name(&mut self, field: &str, value: &str) {
        let len = value.chars().count();
        if !(1..=255).contains(&len) {
            self.add(field, format!("must be 1 to 255 characters, got {len}"));
        }
    }

    fn bucket(&mut self, field: &str, value: &str) {
        if let Err(why) = check_bucket_name(value) {
            self.add(field, why);
        }
    }

    fn range(&mut self, field: &str, value: Option<i32>, min: i32, max: Option<i32>) {
        let Some(v) = value else { return };
        let ok = v >= min && max.is_none_or(|m| v <= m);
        if !ok {
            match max {
                Some(m) => self.add(field, format!("must be between {min} and {m}, got {v}")),
                None => self.add(field, format!("must be at least {min}, got {v}")),
            }
        }
    }

    fn enum_value<E: TryFrom<i32>>(&mut self, field: &str, value: Option<i32>) {
        if let Some(v) = value.filter(|v| E::try_from(*v).is_err()) {
            self.add(field, format!("{v} is not a known value"));
        }
    }
}

/// Whether `value` matches one of the model's patterns, each compiled once.
fn pattern_matches(pattern: &'static str, value: &str) -> bool {
    static COMPILED: LazyLock<Mutex<HashMap<&'static str, Regex>>> = LazyLock::new(Mutex::default);
    let mut compiled = COMPILED.lock().unwrap_or_else(PoisonError::into_inner);
    let re = compiled.entry(pattern).or_insert_with(|| {
        // The model's patterns are tested to compile (validate::tests); one that did not would
        // match nothing rather than fail the call.
        Regex::new(pattern).unwrap_or_else(|_| Regex::new("$^").expect("a valid pattern"))
    });
    re.is_match(value)
}

/// The serverless cache name rule: 1–40 characters, a letter first, then letters, digits and
/// single hyphens, no trailing hyphen.
pub fn check_cache_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(1..=40).contains(&len) {
        return Err(format!("must be 1 to 40 characters, got {len}"));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err("must start with a letter".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "may contain only letters, digits and hyphens, found {c:?}"
        ));
    }
    if name.contains("--") {
        return Err("must not contain two consecutive hyphens".into());
    }
    if name.ends_with('-') {
        return Err("must not end with a hyphen".into());
    }
    Ok(())
}

/// S3's general purpose bucket naming rules.
pub fn check_bucket_name(name: &str) -> Result<(), String> {
    const PREFIXES: &[&str] = &["xn--", "sthree-", "amzn-s3-demo-"];
    const SUFFIXES: &[&str] = &["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    let len = name.len();
    if !(3..=63).contains(&len) {
        return Err(format!("must be 3 to 63 characters, got {len}"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-'))
    {
        return Err(format!(
            "may contain only lowercase letters, digits, dots and hyphens, found {c:?}"
        ));
    }
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !name.starts_with(alnum) || !name.ends_with(alnum) {
        return Err("must begin and end with a letter or digit".into());
    }
    if name.contains("..") {
        return Err("must not contain two adjacent dots".into());
    }
    if name.parse::<Ipv4Addr>().is_ok() {
        return Err("must not be formatted as an IP address".into());
    }
    if let Some(p) = PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(format!("must not start with the reserved prefix {p:?}"));
    }
    if let Some(s) = SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(format!("must not end with the reserved suffix {s:?}"));
    }
    Ok(())
}

/// Implemented by every request message.
pub trait Validate {
    /// Every violation in the request, or `Ok` when it may be sent to AWS.
    fn validate(&self) -> Result<(), Violations>;
}

// The served operations' requests, generated from model/ and the overlay's validators.
include!("generated/validate.rs");

#[cfg(test)]
mod tests;
