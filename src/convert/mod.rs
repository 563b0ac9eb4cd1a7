//! Conversions between the proto messages and the SDK's types, both ways, field by field.
//!
//! Requests are applied to the SDK's fluent builder ([`ToSdk`]); outputs become responses through
//! `From`. "Absent" stays absent: an unset proto `optional` becomes `None`, an SDK `None` leaves
//! the proto field unset, and an empty `repeated` field is not sent at all.
//! Enum numbers are checked by validation first, so here an unknown number is simply absent.

use aws_sdk_elasticache::types as sdk;
use aws_smithy_types::DateTime;

use crate::pb;

/// Applies a proto request to the SDK fluent builder `B` of its operation.
pub trait ToSdk<B> {
    /// Sets every member of `builder` from `self`.
    fn to_sdk(self, builder: B) -> B;
}

/// `None` for an empty list: AWS treats an absent list and an empty one alike, and the Query
/// protocol cannot express an empty one.
pub(crate) fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

/// `Some` for a required string (validation has refused it empty).
pub(crate) fn required(s: String) -> Option<String> {
    Some(s)
}

pub(crate) fn timestamp(t: DateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.secs(),
        // Always below 1e9, so it fits.
        nanos: i32::try_from(t.subsec_nanos()).unwrap_or(0),
    }
}

/// Maps an AWS enum to its proto enum and back. AWS values this version does not know become
/// `UNSPECIFIED` (present, but unknown), which stays distinct from an absent field.
macro_rules! enum_mapping {
    ($to_sdk:ident, $from_sdk:ident, $sdk:ident, $pb:ident {
        $($sdk_variant:ident <=> $pb_variant:ident),* $(,)?
    }) => {
        #[allow(dead_code)] // not every AWS enum appears in an input
        pub(crate) fn $to_sdk(value: i32) -> Option<sdk::$sdk> {
            match pb::$pb::try_from(value).ok()? {
                $(pb::$pb::$pb_variant => Some(sdk::$sdk::$sdk_variant),)*
                pb::$pb::Unspecified => None,
            }
        }

        #[allow(dead_code)] // nor in an output
        pub(crate) fn $from_sdk(value: &sdk::$sdk) -> pb::$pb {
            match value {
                $(sdk::$sdk::$sdk_variant => pb::$pb::$pb_variant,)*
                _ => pb::$pb::Unspecified,
            }
        }
    };
}

// Every conversion of the served operations, generated from model/.
include!("../generated/convert.rs");

#[cfg(test)]
pub(crate) mod fixtures;
#[cfg(test)]
mod tests;
