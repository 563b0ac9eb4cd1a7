//! The caller's `grpc-timeout` bounds the whole call; when it sends none, the configured default
//! applies. Past it, the caller gets DEADLINE_EXCEEDED.

use std::time::Duration;

use tonic::metadata::MetadataMap;

use crate::headers::GRPC_TIMEOUT;

/// How much before the caller's deadline the facade answers. A client starts its deadline timer
/// before the request leaves and gives up when it fires (tonic clients then report a bare
/// CANCELLED); answering a little earlier is what lets the caller see the facade's
/// DEADLINE_EXCEEDED with its details. 5 ms covers loopback and in-cluster round trips.
pub(crate) const MARGIN: Duration = Duration::from_millis(5);

/// The time this call may take: the caller's `grpc-timeout` less [`MARGIN`], else `default`.
pub(crate) fn budget(metadata: &MetadataMap, default: Duration) -> Duration {
    timeout_of(metadata).map_or(default, |t| t.saturating_sub(MARGIN))
}

/// The timeout the caller asked for in `grpc-timeout`, if it sent a valid one.
pub(crate) fn timeout_of(metadata: &MetadataMap) -> Option<Duration> {
    parse_grpc_timeout(metadata.as_ref().get(&GRPC_TIMEOUT)?.to_str().ok()?)
}

/// Parses the gRPC wire format: at most 8 digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit() {
        assert_eq!(parse_grpc_timeout("300m"), Some(Duration::from_millis(300)));
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("5M"), Some(Duration::from_secs(300)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse_grpc_timeout("9n"), Some(Duration::from_nanos(9)));
    }

    #[test]
    fn budget_is_the_callers_timeout_less_the_margin_or_the_default() {
        let mut md = MetadataMap::new();
        assert_eq!(
            budget(&md, Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        md.insert("grpc-timeout", "300m".parse().unwrap());
        assert_eq!(
            budget(&md, Duration::from_millis(30)),
            Duration::from_millis(295)
        );
        md.insert("grpc-timeout", "2m".parse().unwrap());
        assert_eq!(budget(&md, Duration::from_secs(30)), Duration::ZERO);
    }

    #[test]
    fn refuses_malformed_values() {
        for bad in ["", "m", "10", "10x", "-1m", "123456789m", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad}");
        }
    }
}
