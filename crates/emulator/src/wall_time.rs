//! Monotonic moments on the wall clock. The state machine keeps its deadlines as `Instant`s,
//! which mean nothing outside the process that read them, so events are dated and the state file
//! records deadlines through one moment read on both clocks: a deadline 3 s away when the
//! emulator stops is 3 s (less the time it was down) away when it starts again.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The one moment read on both clocks, for the whole process.
fn anchor() -> (Instant, SystemTime) {
    static ANCHOR: OnceLock<(Instant, SystemTime)> = OnceLock::new();
    *ANCHOR.get_or_init(|| (Instant::now(), SystemTime::now()))
}

/// The wall-clock time of a monotonic moment.
pub(crate) fn wall(at: Instant) -> SystemTime {
    let (instant, wall) = anchor();
    let converted = match at.checked_duration_since(instant) {
        Some(after) => wall.checked_add(after),
        None => wall.checked_sub(instant.duration_since(at)),
    };
    converted.unwrap_or(wall)
}

/// The monotonic moment of a wall-clock time; `None` past what an `Instant` can hold. A time too
/// far back for one (before the machine booted) is read as the earliest moment this process
/// knows, which is just as much in the past for the state machine.
pub(crate) fn instant(at: SystemTime) -> Option<Instant> {
    let (instant, wall) = anchor();
    match at.duration_since(wall) {
        Ok(ahead) => instant.checked_add(ahead),
        Err(behind) => Some(instant.checked_sub(behind.duration()).unwrap_or(instant)),
    }
}

/// `#[serde(with = "…")]` for a pending transition's deadline: written as the wall-clock time it
/// is due, read back as a moment of this process.
pub(crate) mod deadline {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(at: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        at.map(wall).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Instant>, D::Error> {
        match Option::<SystemTime>::deserialize(d)? {
            None => Ok(None),
            Some(at) => instant(at).map(Some).ok_or_else(|| {
                let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
                D::Error::custom(format!(
                    "the deadline {secs} s after 1970 is too far in the future"
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn moments_survive_the_round_trip_through_the_wall_clock() {
        let now = Instant::now();
        for at in [
            now,
            now + Duration::from_secs(3),
            now + Duration::from_nanos(1),
        ] {
            assert_eq!(instant(wall(at)), Some(at));
        }
        let past = SystemTime::now() - Duration::from_secs(10);
        let back = instant(past).unwrap();
        assert!(back <= Instant::now());
        // Before the machine booted: still in the past, never a panic.
        assert!(instant(UNIX_EPOCH).unwrap() <= Instant::now());
    }
}
