//! Events: what happened to the account's serverless caches and snapshots, replication groups,
//! cache clusters, classic snapshots, parameter and subnet groups, as `DescribeEvents` lists them
//! (newest first), kept for 14 days as ElastiCache does (and at most
//! [`MAX_EVENTS`]).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::operations::{Operation, Output, marker_page, non_empty};
use super::query::Params;
use super::store::{Clock, Page, PageRequest, Store, TokenKind, paginate};
use super::xml::XmlWriter;

/// Events kept; older ones are dropped first.
pub(crate) const MAX_EVENTS: usize = 10_000;
/// How far back `DescribeEvents` can look.
const RETENTION: Duration = Duration::from_secs(14 * 24 * 3600);

/// The `SourceType` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SourceType {
    CacheCluster,
    ReplicationGroup,
    CacheParameterGroup,
    CacheSubnetGroup,
    ServerlessCache,
    ServerlessCacheSnapshot,
}

/// Every `SourceType` the API accepts, recorded by the emulator or not.
const SOURCE_TYPES: [&str; 9] = [
    "cache-cluster",
    "cache-parameter-group",
    "cache-security-group",
    "cache-subnet-group",
    "replication-group",
    "serverless-cache",
    "serverless-cache-snapshot",
    "user",
    "user-group",
];

impl SourceType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SourceType::CacheCluster => "cache-cluster",
            SourceType::ReplicationGroup => "replication-group",
            SourceType::CacheParameterGroup => "cache-parameter-group",
            SourceType::CacheSubnetGroup => "cache-subnet-group",
            SourceType::ServerlessCache => "serverless-cache",
            SourceType::ServerlessCacheSnapshot => "serverless-cache-snapshot",
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Event {
    pub(crate) source_id: String,
    pub(crate) source_type: SourceType,
    pub(crate) message: String,
    pub(crate) date: SystemTime,
}

impl Event {
    fn write(&self, xml: &mut XmlWriter) {
        xml.element("Event", |xml| {
            xml.text("SourceIdentifier", &self.source_id);
            xml.text("SourceType", self.source_type.as_str());
            xml.text("Message", &self.message);
            xml.timestamp("Date", self.date);
        });
    }
}

/// The account's events, oldest first, each with its sequence number.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Events {
    pub(crate) list: VecDeque<(u64, Event)>,
    next: u64,
}

impl Events {
    pub(crate) fn push(
        &mut self,
        source_type: SourceType,
        source_id: &str,
        message: impl Into<String>,
        date: SystemTime,
    ) {
        if self.list.len() == MAX_EVENTS {
            self.list.pop_front();
        }
        let event = Event {
            source_id: source_id.to_owned(),
            source_type,
            message: message.into(),
            date,
        };
        self.list.push_back((self.next, event));
        self.next += 1;
    }
}

/// The filters of `DescribeEvents`.
#[derive(Debug, Clone)]
pub(crate) struct EventFilter {
    source_id: Option<String>,
    source_type: Option<String>,
    start: Option<SystemTime>,
    end: Option<SystemTime>,
    duration: Option<Duration>,
}

/// `2024-01-02T03:04:05Z`, with optional fractional seconds, as the SDKs send timestamps.
fn parse_timestamp(name: &str, raw: &str) -> Result<SystemTime, ApiError> {
    let invalid = || ApiError::invalid(name, format!("{raw:?} is not an ISO 8601 UTC timestamp"));
    let text = raw.strip_suffix('Z').ok_or_else(invalid)?;
    let (date, time) = text.split_once('T').ok_or_else(invalid)?;
    let mut date_parts = date.split('-').map(str::parse::<u64>);
    let (Some(Ok(year)), Some(Ok(month)), Some(Ok(day)), None) = (
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
        date_parts.next(),
    ) else {
        return Err(invalid());
    };
    let (clock, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time_parts = clock.split(':').map(str::parse::<u64>);
    let (Some(Ok(hours)), Some(Ok(minutes)), Some(Ok(seconds)), None) = (
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
        time_parts.next(),
    ) else {
        return Err(invalid());
    };
    let valid = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hours < 24
        && minutes < 60
        && seconds < 61
        && fraction.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return Err(invalid());
    }
    let millis: u64 = format!("{fraction:0<3}")
        .get(..3)
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hours * 3600 + minutes * 60 + seconds;
    Ok(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    (era * 146_097 + day_of_era).saturating_sub(719_468)
}

pub(crate) struct DescribeEvents;

impl Operation for DescribeEvents {
    const NAME: &'static str = "DescribeEvents";
    type Input = (EventFilter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let source_type = match non_empty(params, "SourceType") {
            Some(raw) if SOURCE_TYPES.contains(&raw.as_str()) => Some(raw),
            Some(raw) => {
                return Err(ApiError::invalid(
                    "SourceType",
                    format!("{raw:?} is not one of {}", SOURCE_TYPES.join(", ")),
                ));
            }
            None => None,
        };
        let start = match non_empty(params, "StartTime") {
            Some(raw) => Some(parse_timestamp("StartTime", &raw)?),
            None => None,
        };
        let end = match non_empty(params, "EndTime") {
            Some(raw) => Some(parse_timestamp("EndTime", &raw)?),
            None => None,
        };
        let duration = super::operations::int_in(params, "Duration", 0..=20_160)?
            .map(|minutes| Duration::from_secs(u64::try_from(minutes).unwrap_or(0) * 60));
        if duration.is_some() && (start.is_some() || end.is_some()) {
            return Err(ApiError::combination(
                "Duration cannot be specified together with StartTime or EndTime",
            ));
        }
        if let (Some(start), Some(end)) = (start, end)
            && start > end
        {
            return Err(ApiError::combination("StartTime is after EndTime"));
        }
        let filter = EventFilter {
            source_id: non_empty(params, "SourceIdentifier").map(|id| id.to_ascii_lowercase()),
            source_type,
            start,
            end,
            duration,
        };
        Ok((filter, marker_page(params)?))
    }

    fn apply(
        store: &mut Store,
        (filter, page): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        // Without a window, the last hour; never before the retention period.
        let oldest = clock.wall.checked_sub(RETENTION).unwrap_or(UNIX_EPOCH);
        let start = match (filter.start, filter.duration) {
            (Some(start), _) => start.max(oldest),
            (None, Some(duration)) => clock.wall.checked_sub(duration).unwrap_or(UNIX_EPOCH),
            (None, None) if filter.end.is_none() => clock
                .wall
                .checked_sub(Duration::from_secs(3600))
                .unwrap_or(UNIX_EPOCH),
            (None, None) => oldest,
        };
        let end = filter.end.unwrap_or(clock.wall);
        // Newest first: keyed by the complement of the sequence number.
        let events: BTreeMap<String, Event> = store
            .events
            .list
            .iter()
            .filter(|(_, event)| {
                event.date >= start
                    && event.date <= end
                    && filter
                        .source_type
                        .as_ref()
                        .is_none_or(|kind| kind == event.source_type.as_str())
                    && filter
                        .source_id
                        .as_ref()
                        .is_none_or(|id| id.eq_ignore_ascii_case(&event.source_id))
            })
            .map(|(seq, event)| (format!("{:020}", u64::MAX - seq), event.clone()))
            .collect();
        let page = paginate(&events, TokenKind::Event, &page, |_| true)?;
        Ok(Output::Events(page))
    }
}

/// Writes the `DescribeEvents` result.
pub(crate) fn write_events(xml: &mut XmlWriter, page: &Page<Event>) {
    xml.opt_text("Marker", page.next_token.as_deref());
    xml.element("Events", |xml| {
        for event in &page.items {
            event.write(xml);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::timestamp;

    #[test]
    fn timestamps_parse_back_to_what_the_emulator_writes() {
        for raw in ["2024-01-02T03:04:05.678Z", "1999-12-31T23:59:59.000Z"] {
            let at = parse_timestamp("StartTime", raw).unwrap();
            assert_eq!(timestamp(at), raw);
        }
        let whole = parse_timestamp("StartTime", "2024-03-01T00:00:00Z").unwrap();
        assert_eq!(timestamp(whole), "2024-03-01T00:00:00.000Z");
        for bad in [
            "2024-01-02",
            "2024-13-01T00:00:00Z",
            "yesterday",
            "2024-01-02T03:04:05",
        ] {
            assert!(parse_timestamp("StartTime", bad).is_err(), "{bad}");
        }
    }
}
