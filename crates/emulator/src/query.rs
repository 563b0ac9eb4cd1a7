//! Decoding of AWS Query requests: `application/x-www-form-urlencoded` parameters, with lists
//! flattened as `Prefix.Member.N` and structures as `Prefix.Field`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::error::{ApiError, Fault};
use super::xml::is_xml_char;

/// The parameters of one request, by name.
#[derive(Debug, Default)]
pub(crate) struct Params {
    values: HashMap<String, String>,
}

/// A resource tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tag {
    pub(crate) key: String,
    pub(crate) value: Option<String>,
}

impl Params {
    /// Decodes a form-encoded body (or query string). Bytes that do not decode to UTF-8 make a
    /// `MalformedQueryString`; characters XML cannot carry make an `InvalidParameterValue`, so
    /// every value can be echoed back in a response.
    pub(crate) fn parse(input: &[u8]) -> Result<Self, ApiError> {
        let mut values = HashMap::new();
        for pair in input.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if let Some(bad) = value.chars().find(|&c| !is_xml_char(c)) {
                return Err(ApiError::invalid(
                    &name,
                    format!("character U+{:04X} is not allowed", u32::from(bad)),
                ));
            }
            values.insert(name, value);
        }
        Ok(Self { values })
    }

    /// The raw value of a parameter.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required string; absent or empty is a `MissingParameter`.
    pub(crate) fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An optional integer parameter.
    pub(crate) fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|raw| {
                raw.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::invalid(name, format!("{raw:?} is not an integer")))
            })
            .transpose()
    }

    /// An optional boolean parameter.
    pub(crate) fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        self.get(name)
            .map(|raw| match raw {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(ApiError::invalid(name, format!("{raw:?} is not a boolean"))),
            })
            .transpose()
    }

    /// Whether any parameter starts with `prefix.` (a structure or list was sent).
    pub(crate) fn has_struct(&self, prefix: &str) -> bool {
        self.values.contains_key(prefix) || self.members(prefix).next().is_some()
    }

    /// A list sent as `Name.Member.1`, `Name.Member.2`, …; `Some(vec![])` when the client sent
    /// an explicitly empty list (`Name=`), `None` when absent.
    pub(crate) fn list(&self, name: &str, member: &str) -> Result<Option<Vec<String>>, ApiError> {
        let prefix = format!("{name}.{member}");
        let mut items = BTreeMap::new();
        for (rest, value) in self.members(&prefix) {
            let index = parse_index(&prefix, rest)?;
            items.insert(index, value.to_owned());
        }
        if items.is_empty() && !self.values.contains_key(name) {
            return Ok(None);
        }
        Ok(Some(items.into_values().collect()))
    }

    /// The indices `N`, in order, of a list of structures sent as `prefix.N.Field…`
    /// (e.g. `Filters.member.N.Name`); empty when the list is absent.
    pub(crate) fn indices(&self, prefix: &str) -> Result<Vec<u32>, ApiError> {
        let mut indices = BTreeSet::new();
        for (rest, _) in self.members(prefix) {
            let index = rest.split_once('.').map_or(rest, |(index, _)| index);
            indices.insert(parse_index(prefix, index)?);
        }
        Ok(indices.into_iter().collect())
    }

    /// The `Tags.Tag.N.Key` / `Tags.Tag.N.Value` list.
    pub(crate) fn tags(&self) -> Result<Vec<Tag>, ApiError> {
        const PREFIX: &str = "Tags.Tag";
        let mut entries: BTreeMap<u32, (Option<&str>, Option<&str>)> = BTreeMap::new();
        for (rest, value) in self.members(PREFIX) {
            let (index, field) = rest.split_once('.').unwrap_or((rest, ""));
            let index = parse_index(PREFIX, index)?;
            let entry = entries.entry(index).or_default();
            match field {
                "Key" => entry.0 = Some(value),
                "Value" => entry.1 = Some(value),
                _ => {
                    return Err(ApiError::invalid(
                        &format!("{PREFIX}.{index}.{field}"),
                        "unknown tag member",
                    ));
                }
            }
        }
        entries
            .into_iter()
            .map(|(index, (key, value))| match key {
                Some(key) if !key.is_empty() => Ok(Tag {
                    key: key.to_owned(),
                    value: value.map(str::to_owned),
                }),
                _ => Err(ApiError::missing(&format!("{PREFIX}.{index}.Key"))),
            })
            .collect()
    }

    /// `(rest, value)` for every parameter named `prefix.rest`.
    fn members<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.values.iter().filter_map(move |(name, value)| {
            let rest = name.strip_prefix(prefix)?.strip_prefix('.')?;
            Some((rest, value.as_str()))
        })
    }
}

/// Percent-decodes one form component (`+` is a space). A `%` not followed by two hex digits is
/// kept as is, as browsers and the AWS front end do.
fn decode(raw: &[u8]) -> Result<String, ApiError> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => bytes.push(b' '),
            b'%' => match (raw.get(i + 1).and_then(hex), raw.get(i + 2).and_then(hex)) {
                (Some(high), Some(low)) => {
                    bytes.push(high << 4 | low);
                    i += 2;
                }
                _ => bytes.push(b'%'),
            },
            other => bytes.push(other),
        }
        i += 1;
    }
    String::from_utf8(bytes).map_err(|_| {
        ApiError::new(
            Fault::MalformedQueryString,
            "The query string is not valid UTF-8 once decoded",
        )
    })
}

fn hex(digit: &u8) -> Option<u8> {
    char::from(*digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// List indices start at 1; anything else is a client bug worth reporting.
fn parse_index(prefix: &str, raw: &str) -> Result<u32, ApiError> {
    raw.parse::<u32>()
        .ok()
        .filter(|&index| index >= 1 && raw.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| ApiError::invalid(&format!("{prefix}.{raw}"), "bad list index"))
}
