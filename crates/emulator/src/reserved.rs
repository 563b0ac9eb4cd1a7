//! Reserved cache nodes: a catalog of offerings (node type × engine × term × payment option) and
//! the reservations the account purchases from it, `active` at once (the emulator takes no
//! payment).

use std::collections::BTreeMap;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, Fault};
use super::operations::{Operation, Output, int_in, marker_page, non_empty, tags};
use super::query::{Params, Tag};
use super::store::{Clock, Page, PageRequest, Store, TokenKind, paginate};
use super::xml::XmlWriter;

/// Reserved nodes an account may hold.
pub(crate) const MAX_RESERVED_NODES: usize = 300;

const YEAR: u32 = 31_536_000;
const HOURS_PER_YEAR: f64 = 8760.0;

/// The node types offered and their on-demand hourly price (USD).
const PRICES: [(&str, f64); 8] = [
    ("cache.t4g.micro", 0.016),
    ("cache.t3.micro", 0.017),
    ("cache.t3.small", 0.034),
    ("cache.t3.medium", 0.068),
    ("cache.m5.large", 0.156),
    ("cache.m6g.large", 0.149),
    ("cache.r6g.large", 0.206),
    ("cache.r7g.large", 0.219),
];
const PRODUCTS: [&str; 3] = ["redis", "valkey", "memcached"];
const OFFERING_TYPES: [&str; 3] = ["No Upfront", "Partial Upfront", "All Upfront"];

/// A reserved node offering.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Offering {
    id: String,
    node_type: &'static str,
    duration: u32,
    fixed_price: f64,
    hourly_charge: f64,
    product: &'static str,
    offering_type: &'static str,
}

impl Eq for Offering {}

/// Every offering, in a stable order with stable ids.
fn offerings() -> Vec<Offering> {
    let mut all = Vec::new();
    for (node_type, hourly) in PRICES {
        for product in PRODUCTS {
            // Valkey is priced 20% below Redis OSS.
            let hourly = if product == "valkey" {
                hourly * 0.8
            } else {
                hourly
            };
            for years in [1u32, 3] {
                for offering_type in OFFERING_TYPES {
                    let hours = HOURS_PER_YEAR * f64::from(years);
                    let discount = if years == 1 { 0.7 } else { 0.5 };
                    let (fixed, recurring) = match offering_type {
                        "No Upfront" => (0.0, hourly * discount),
                        "Partial Upfront" => {
                            (hourly * hours * discount * 0.5, hourly * discount * 0.45)
                        }
                        _ => (hourly * hours * discount * 0.9, 0.0),
                    };
                    let key = format!("{node_type}/{product}/{years}/{offering_type}");
                    all.push(Offering {
                        id: offering_id(&key),
                        node_type,
                        duration: YEAR * years,
                        fixed_price: (fixed * 100.0).round() / 100.0,
                        hourly_charge: (recurring * 1000.0).round() / 1000.0,
                        product,
                        offering_type,
                    });
                }
            }
        }
    }
    all
}

/// A UUID-shaped id that is the same for an offering in every run.
fn offering_id(key: &str) -> String {
    let hash = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
    };
    let (a, b) = (hash(0xcbf2_9ce4_8422_2325), hash(0x8422_2325_cbf2_9ce4));
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

impl Offering {
    fn write_common(&self, xml: &mut XmlWriter) {
        xml.text("CacheNodeType", self.node_type);
        xml.value("Duration", self.duration);
        xml.text("FixedPrice", &format!("{:.2}", self.fixed_price));
        xml.text("UsagePrice", "0.0");
    }

    fn write_charges(&self, xml: &mut XmlWriter) {
        xml.element("RecurringCharges", |xml| {
            if self.hourly_charge > 0.0 {
                xml.element("RecurringCharge", |xml| {
                    xml.text(
                        "RecurringChargeAmount",
                        &format!("{:.3}", self.hourly_charge),
                    );
                    xml.text("RecurringChargeFrequency", "Hourly");
                });
            }
        });
    }

    fn write(&self, xml: &mut XmlWriter) {
        xml.element("ReservedCacheNodesOffering", |xml| {
            xml.text("ReservedCacheNodesOfferingId", &self.id);
            self.write_common(xml);
            xml.text("ProductDescription", self.product);
            xml.text("OfferingType", self.offering_type);
            self.write_charges(xml);
        });
    }
}

/// A purchased reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ReservedNode {
    id: String,
    #[serde(rename = "offering_id", with = "by_offering_id")]
    offering: Offering,
    start: SystemTime,
    count: usize,
    arn: String,
    pub(crate) tags: Vec<Tag>,
}

/// `#[serde(with = "…")]`: a reservation is saved with its offering's id, which names the same
/// offering in every run.
mod by_offering_id {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Offering, offerings};

    pub(super) fn serialize<S: Serializer>(offering: &Offering, s: S) -> Result<S::Ok, S::Error> {
        offering.id.serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Offering, D::Error> {
        let id = String::deserialize(d)?;
        offerings()
            .into_iter()
            .find(|offering| offering.id == id)
            .ok_or_else(|| D::Error::custom(format!("{id} is not a reserved node offering")))
    }
}

impl ReservedNode {
    fn write(&self, xml: &mut XmlWriter) {
        xml.element("ReservedCacheNode", |xml| {
            xml.text("ReservedCacheNodeId", &self.id);
            xml.text("ReservedCacheNodesOfferingId", &self.offering.id);
            xml.text("CacheNodeType", self.offering.node_type);
            xml.timestamp("StartTime", self.start);
            xml.value("Duration", self.offering.duration);
            xml.text("FixedPrice", &format!("{:.2}", self.offering.fixed_price));
            xml.text("UsagePrice", "0.0");
            xml.value("CacheNodeCount", self.count);
            xml.text("ProductDescription", self.offering.product);
            xml.text("OfferingType", self.offering.offering_type);
            xml.text("State", "active");
            self.offering.write_charges(xml);
            xml.text("ReservationARN", &self.arn);
        });
    }
}

/// What this family answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    Offerings(Page<Offering>),
    Nodes(Page<ReservedNode>),
    Node(Box<ReservedNode>),
}

impl Answer {
    pub(crate) fn write(&self, xml: &mut XmlWriter) {
        match self {
            Answer::Offerings(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("ReservedCacheNodesOfferings", |xml| {
                    page.items.iter().for_each(|offering| offering.write(xml));
                });
            }
            Answer::Nodes(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("ReservedCacheNodes", |xml| {
                    page.items.iter().for_each(|node| node.write(xml));
                });
            }
            Answer::Node(node) => node.write(xml),
        }
    }
}

/// The filters both Describes share.
#[derive(Debug, Clone, Default)]
pub(crate) struct Filter {
    offering_id: Option<String>,
    node_type: Option<String>,
    duration: Option<u32>,
    product: Option<String>,
    offering_type: Option<String>,
}

impl Filter {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let duration = match non_empty(params, "Duration").as_deref() {
            None => None,
            Some("1" | "31536000") => Some(YEAR),
            Some("3" | "94608000") => Some(3 * YEAR),
            Some(other) => {
                return Err(ApiError::invalid(
                    "Duration",
                    format!("{other:?} is not one of 1, 3, 31536000, 94608000"),
                ));
            }
        };
        let offering_type = non_empty(params, "OfferingType");
        if let Some(kind) = &offering_type
            && !OFFERING_TYPES.contains(&kind.as_str())
        {
            return Err(ApiError::invalid(
                "OfferingType",
                format!("{kind:?} is not one of {}", OFFERING_TYPES.join(", ")),
            ));
        }
        Ok(Filter {
            offering_id: non_empty(params, "ReservedCacheNodesOfferingId"),
            node_type: non_empty(params, "CacheNodeType"),
            duration,
            product: non_empty(params, "ProductDescription"),
            offering_type,
        })
    }

    fn keeps(&self, offering: &Offering) -> bool {
        self.offering_id
            .as_ref()
            .is_none_or(|id| id == &offering.id)
            && self
                .node_type
                .as_deref()
                .is_none_or(|t| t == offering.node_type)
            && self.duration.is_none_or(|d| d == offering.duration)
            && self
                .product
                .as_deref()
                .is_none_or(|p| p == offering.product)
            && self
                .offering_type
                .as_deref()
                .is_none_or(|t| t == offering.offering_type)
    }
}

pub(crate) fn reserved_node_not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::ReservedCacheNodeNotFound,
        format!("ReservedCacheNode {id} not found."),
    )
}

fn offering_not_found(id: &str) -> ApiError {
    ApiError::new(
        Fault::ReservedCacheNodesOfferingNotFound,
        format!("ReservedCacheNodesOffering {id} not found."),
    )
}

pub(crate) struct DescribeReservedCacheNodesOfferings;

impl Operation for DescribeReservedCacheNodesOfferings {
    const NAME: &'static str = "DescribeReservedCacheNodesOfferings";
    type Input = (Filter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((Filter::parse(params)?, marker_page(params)?))
    }

    fn apply(_: &mut Store, (filter, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        let all = offerings();
        if let Some(id) = &filter.offering_id
            && !all.iter().any(|o| &o.id == id)
        {
            return Err(offering_not_found(id));
        }
        let keyed: BTreeMap<String, Offering> = all
            .into_iter()
            .enumerate()
            .filter(|(_, offering)| filter.keeps(offering))
            .map(|(index, offering)| (format!("{index:04}"), offering))
            .collect();
        let page = paginate(&keyed, TokenKind::ReservedOffering, &page, |_| true)?;
        Ok(Output::Reserved(Answer::Offerings(page)))
    }
}

pub(crate) struct DescribeReservedCacheNodes;

impl Operation for DescribeReservedCacheNodes {
    const NAME: &'static str = "DescribeReservedCacheNodes";
    type Input = (Option<String>, Filter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((
            non_empty(params, "ReservedCacheNodeId"),
            Filter::parse(params)?,
            marker_page(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (id, filter, page): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        if let Some(id) = &id
            && !store.reserved.contains_key(id)
        {
            return Err(reserved_node_not_found(id));
        }
        let page = paginate(&store.reserved, TokenKind::ReservedNode, &page, |node| {
            id.as_ref().is_none_or(|id| id == &node.id) && filter.keeps(&node.offering)
        })?;
        Ok(Output::Reserved(Answer::Nodes(page)))
    }
}

pub(crate) struct PurchaseReservedCacheNodesOffering;

impl Operation for PurchaseReservedCacheNodesOffering {
    const NAME: &'static str = "PurchaseReservedCacheNodesOffering";
    type Input = (String, Option<String>, usize, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let offering = params.required("ReservedCacheNodesOfferingId")?.to_owned();
        let id = non_empty(params, "ReservedCacheNodeId");
        let count = int_in(params, "CacheNodeCount", 1..=i64::from(u16::MAX))?.unwrap_or(1);
        Ok((
            offering,
            id,
            usize::try_from(count).unwrap_or(1),
            tags(params)?,
        ))
    }

    fn apply(
        store: &mut Store,
        (offering_id, id, count, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let offering = offerings()
            .into_iter()
            .find(|o| o.id == offering_id)
            .ok_or_else(|| offering_not_found(&offering_id))?;
        let id = id
            .unwrap_or_else(|| format!("ri-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]));
        if store.reserved.contains_key(&id) {
            return Err(ApiError::new(
                Fault::ReservedCacheNodeAlreadyExists,
                format!("ReservedCacheNode {id} already exists."),
            ));
        }
        let held: usize = store.reserved.values().map(|node| node.count).sum();
        if held + count > MAX_RESERVED_NODES {
            return Err(ApiError::new(
                Fault::ReservedCacheNodeQuotaExceeded,
                format!("You have reached the limit of {MAX_RESERVED_NODES} reserved cache nodes."),
            ));
        }
        let node = ReservedNode {
            arn: store.arn("reserved-instance", &id),
            id,
            offering,
            start: clock.wall,
            count,
            tags,
        };
        store.reserved.insert(node.id.clone(), node.clone());
        Ok(Output::Reserved(Answer::Node(Box::new(node))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offering_ids_are_stable_and_unique() {
        let all = offerings();
        assert_eq!(all.len(), 8 * 3 * 2 * 3);
        let ids: std::collections::BTreeSet<_> = all.iter().map(|o| o.id.clone()).collect();
        assert_eq!(ids.len(), all.len());
        assert_eq!(offerings()[5].id, all[5].id);
        assert_eq!(all[0].id.len(), 36);
    }
}
