//! Cache parameter groups (each family's default parameters, the account's own groups and their
//! overrides), cache subnet groups, and the engine versions the emulated service offers — with
//! their XML shapes and operations.
//!
//! Every account has a `default.<family>` parameter group per family (and
//! `default.<family>.cluster.on` for Valkey and Redis OSS), which cannot be modified or deleted,
//! and the cache subnet group `default` (the default VPC's subnets).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::{ApiError, Fault};
use super::events::SourceType;
use super::operations::{Operation, Output, marker_page, non_empty, tags};
use super::query::{Params, Tag};
use super::store::{Clock, Page, PageRequest, Store, TokenKind, paginate};
use super::xml::XmlWriter;

/// One engine version: `(engine, version, parameter group family)`, newest first per engine.
pub(crate) const ENGINE_VERSIONS: [(&str, &str, &str); 9] = [
    ("valkey", "8.0", "valkey8"),
    ("valkey", "7.2", "valkey7"),
    ("redis", "7.1", "redis7"),
    ("redis", "7.0", "redis7"),
    ("redis", "6.2", "redis6.x"),
    ("redis", "6.0", "redis6.x"),
    ("redis", "5.0.6", "redis5.0"),
    ("memcached", "1.6.22", "memcached1.6"),
    ("memcached", "1.6.17", "memcached1.6"),
];

/// The families of [`ENGINE_VERSIONS`], once each.
pub(crate) const FAMILIES: [&str; 6] = [
    "valkey8",
    "valkey7",
    "redis7",
    "redis6.x",
    "redis5.0",
    "memcached1.6",
];

/// The engine of a family.
fn family_engine(family: &str) -> &'static str {
    if family.starts_with("valkey") {
        "valkey"
    } else if family.starts_with("redis") {
        "redis"
    } else {
        "memcached"
    }
}

/// The family of an engine version the emulator offers.
pub(crate) fn family_of(engine: &str, version: &str) -> Option<&'static str> {
    ENGINE_VERSIONS
        .iter()
        .find(|(e, v, _)| *e == engine && *v == version)
        .map(|(_, _, family)| *family)
}

/// The newest version of an engine, or the newest one starting with `prefix` (`7` → `7.1`).
pub(crate) fn engine_version(engine: &str, wanted: Option<&str>) -> Result<&'static str, ApiError> {
    let mut known = ENGINE_VERSIONS
        .iter()
        .filter(|(e, ..)| *e == engine)
        .peekable();
    if known.peek().is_none() {
        return Err(ApiError::invalid(
            "Engine",
            format!("{engine:?} is not one of valkey, redis, memcached"),
        ));
    }
    known
        .find(|(_, version, _)| {
            wanted.is_none_or(|wanted| {
                *version == wanted
                    || version
                        .strip_prefix(wanted)
                        .is_some_and(|rest| rest.starts_with('.'))
            })
        })
        .map(|(_, version, _)| *version)
        .ok_or_else(|| {
            ApiError::invalid(
                "EngineVersion",
                format!(
                    "Cannot find version {} for {engine}",
                    wanted.unwrap_or_default()
                ),
            )
        })
}

/// The default parameter group of an engine version.
pub(crate) fn default_parameter_group(family: &str, cluster_enabled: bool) -> String {
    if cluster_enabled {
        format!("default.{family}.cluster.on")
    } else {
        format!("default.{family}")
    }
}

/// A parameter of a family: its default value and what it accepts.
#[derive(Debug, Clone, Copy)]
struct ParameterDef {
    name: &'static str,
    value: &'static str,
    data_type: &'static str,
    /// `yes,no`, `1-100`, `0,20-`; empty means any string.
    allowed: &'static str,
    modifiable: bool,
    minimum_engine_version: &'static str,
    change_type: &'static str,
    description: &'static str,
}

#[expect(clippy::too_many_arguments, reason = "one row of a parameter table")]
const fn def(
    name: &'static str,
    value: &'static str,
    data_type: &'static str,
    allowed: &'static str,
    modifiable: bool,
    minimum_engine_version: &'static str,
    change_type: &'static str,
    description: &'static str,
) -> ParameterDef {
    ParameterDef {
        name,
        value,
        data_type,
        allowed,
        modifiable,
        minimum_engine_version,
        change_type,
        description,
    }
}

const IMMEDIATE: &str = "immediate";
const REBOOT: &str = "requires-reboot";

/// The parameters of the Valkey and Redis OSS families (`cluster-enabled` is set per group).
const REDIS_PARAMETERS: [ParameterDef; 22] = [
    def(
        "activedefrag",
        "no",
        "string",
        "yes,no",
        true,
        "4.0.9",
        IMMEDIATE,
        "Enabled active memory defragmentation",
    ),
    def(
        "activerehashing",
        "yes",
        "string",
        "yes,no",
        true,
        "2.8.6",
        REBOOT,
        "Apply rehashing or not.",
    ),
    def(
        "appendfsync",
        "everysec",
        "string",
        "always,everysec,no",
        true,
        "2.8.6",
        IMMEDIATE,
        "fsync policy for AOF persistence",
    ),
    def(
        "appendonly",
        "no",
        "string",
        "yes,no",
        true,
        "2.8.6",
        IMMEDIATE,
        "Enable Redis persistence.",
    ),
    def(
        "close-on-replica-write",
        "yes",
        "string",
        "yes,no",
        true,
        "5.0.0",
        IMMEDIATE,
        "If enabled, clients who attempt to write to a read-only replica will be disconnected.",
    ),
    def(
        "cluster-allow-reads-when-down",
        "no",
        "string",
        "yes,no",
        true,
        "7.0.0",
        IMMEDIATE,
        "Allows nodes to serve read traffic while the cluster is in a down state.",
    ),
    def(
        "cluster-enabled",
        "no",
        "string",
        "yes,no",
        true,
        "3.2.4",
        REBOOT,
        "Enable cluster mode",
    ),
    def(
        "databases",
        "16",
        "integer",
        "1-1200000",
        true,
        "2.8.6",
        REBOOT,
        "Set the number of databases.",
    ),
    def(
        "lazyfree-lazy-eviction",
        "no",
        "string",
        "yes,no",
        true,
        "4.0.0",
        IMMEDIATE,
        "Perform an asynchronous delete on evictions",
    ),
    def(
        "lfu-decay-time",
        "1",
        "integer",
        "0-",
        true,
        "4.0.0",
        IMMEDIATE,
        "The amount of time in minutes to decrement the key counter for LFU eviction policy",
    ),
    def(
        "lfu-log-factor",
        "10",
        "integer",
        "1-",
        true,
        "4.0.0",
        IMMEDIATE,
        "The log factor for incrementing key counter for LFU eviction policy",
    ),
    def(
        "maxclients",
        "65000",
        "integer",
        "1-65000",
        false,
        "2.8.6",
        REBOOT,
        "The maximum number of Redis clients.",
    ),
    def(
        "maxmemory-policy",
        "volatile-lru",
        "string",
        "volatile-lru,allkeys-lru,volatile-lfu,allkeys-lfu,volatile-random,allkeys-random,volatile-ttl,noeviction",
        true,
        "2.8.6",
        IMMEDIATE,
        "Max memory policy.",
    ),
    def(
        "maxmemory-samples",
        "3",
        "integer",
        "1-",
        true,
        "2.8.6",
        IMMEDIATE,
        "Max memory samples.",
    ),
    def(
        "min-replicas-to-write",
        "0",
        "integer",
        "0-",
        true,
        "5.0.0",
        IMMEDIATE,
        "Minimum number of replicas to accept a write.",
    ),
    def(
        "notify-keyspace-events",
        "",
        "string",
        "",
        true,
        "2.8.6",
        IMMEDIATE,
        "The keyspace events for Redis to notify Pub/Sub clients about. By default all notifications are disabled",
    ),
    def(
        "repl-backlog-size",
        "1048576",
        "integer",
        "16384-",
        true,
        "2.8.6",
        IMMEDIATE,
        "The replication backlog size in bytes for PSYNC.",
    ),
    def(
        "reserved-memory-percent",
        "25",
        "integer",
        "0-100",
        true,
        "2.8.6",
        IMMEDIATE,
        "The percent of memory reserved for non-cache memory usage.",
    ),
    def(
        "set-max-intset-entries",
        "512",
        "integer",
        "0-",
        true,
        "2.8.6",
        IMMEDIATE,
        "The limit in the number of set entries for which the intset encoding is used.",
    ),
    def(
        "slowlog-log-slower-than",
        "10000",
        "integer",
        "-",
        true,
        "2.8.6",
        IMMEDIATE,
        "The execution time, in microseconds, to exceed in order for the command to get logged.",
    ),
    def(
        "slowlog-max-len",
        "128",
        "integer",
        "0-",
        true,
        "2.8.6",
        IMMEDIATE,
        "The length of the slow log.",
    ),
    def(
        "timeout",
        "0",
        "integer",
        "0,20-",
        true,
        "2.8.6",
        IMMEDIATE,
        "Close connection if client is idle for a given number of seconds, or never if 0.",
    ),
];

/// The parameters of the Memcached family.
const MEMCACHED_PARAMETERS: [ParameterDef; 14] = [
    def(
        "backlog_queue_limit",
        "1024",
        "integer",
        "1-10000",
        false,
        "1.4.5",
        REBOOT,
        "The backlog queue limit.",
    ),
    def(
        "binding_protocol",
        "auto",
        "string",
        "auto,binary,ascii",
        true,
        "1.4.5",
        REBOOT,
        "Binding protocol.",
    ),
    def(
        "cas_disabled",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.5",
        REBOOT,
        "If supplied, CAS operations will be disabled, and items stored will consume 8 bytes less than with CAS enabled.",
    ),
    def(
        "chunk_size",
        "48",
        "integer",
        "1-",
        true,
        "1.4.5",
        REBOOT,
        "The minimum amount, in bytes, of space to allocate for the smallest item's key, value, and flags.",
    ),
    def(
        "chunk_size_growth_factor",
        "1.25",
        "numeric",
        "1-2",
        true,
        "1.4.5",
        REBOOT,
        "The growth factor that controls the size of each successive Memcached chunk.",
    ),
    def(
        "disable_flush_all",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.24",
        IMMEDIATE,
        "Disables flush_all command.",
    ),
    def(
        "error_on_memory_exhausted",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.5",
        REBOOT,
        "If supplied, when there is no more memory to store items, Memcached will return an error rather than evicting items.",
    ),
    def(
        "idle_timeout",
        "0",
        "integer",
        "0-",
        true,
        "1.4.33",
        IMMEDIATE,
        "Timeout for idle client connections in seconds.",
    ),
    def(
        "lru_crawler",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.24",
        IMMEDIATE,
        "Enable/disable the LRU crawler.",
    ),
    def(
        "max_item_size",
        "1048576",
        "integer",
        "1048576-1073741824",
        true,
        "1.4.24",
        REBOOT,
        "The size of the largest item storable in the cache, in bytes.",
    ),
    def(
        "max_simultaneous_connections",
        "65000",
        "integer",
        "3-65000",
        false,
        "1.4.5",
        REBOOT,
        "The maximum number of simultaneous connections.",
    ),
    def(
        "maxconns_fast",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.5",
        REBOOT,
        "Controls the way Memcached handles new connection requests when the maximum connection limit is reached.",
    ),
    def(
        "slab_automove",
        "0",
        "integer",
        "0,1,2",
        true,
        "1.4.24",
        IMMEDIATE,
        "Adjusts the slab automove algorithm.",
    ),
    def(
        "slab_reassign",
        "0",
        "integer",
        "0,1",
        true,
        "1.4.24",
        REBOOT,
        "Enable or disable slab reassignment.",
    ),
];

/// The node-type-specific parameter of each engine and its value per node type.
const NODE_TYPE_MEMORY: [(&str, &str); 8] = [
    ("cache.t3.micro", "536870912"),
    ("cache.t3.small", "1471026299"),
    ("cache.t3.medium", "3317862236"),
    ("cache.t4g.micro", "536870912"),
    ("cache.m5.large", "6873369722"),
    ("cache.m6g.large", "6854542746"),
    ("cache.r6g.large", "14037181030"),
    ("cache.r7g.large", "14037181030"),
];

fn parameter_defs(family: &str) -> &'static [ParameterDef] {
    if family_engine(family) == "memcached" {
        &MEMCACHED_PARAMETERS
    } else {
        &REDIS_PARAMETERS
    }
}

/// A parameter as a Describe answers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parameter {
    name: &'static str,
    value: String,
    source: &'static str,
    def: &'static str,
    data_type: &'static str,
    allowed: &'static str,
    modifiable: bool,
    minimum_engine_version: &'static str,
    change_type: &'static str,
}

impl Parameter {
    fn write(&self, xml: &mut XmlWriter) {
        xml.element("Parameter", |xml| {
            xml.text("ParameterName", self.name);
            if !self.value.is_empty() {
                xml.text("ParameterValue", &self.value);
            }
            xml.text("Description", self.def);
            xml.text("Source", self.source);
            xml.text("DataType", self.data_type);
            if !self.allowed.is_empty() {
                xml.text("AllowedValues", self.allowed);
            }
            xml.value("IsModifiable", self.modifiable);
            xml.text("MinimumEngineVersion", self.minimum_engine_version);
            xml.text("ChangeType", self.change_type);
        });
    }
}

/// Writes the family's node-type-specific parameter (`maxmemory` or `max_cache_memory`).
fn write_node_type_specific(xml: &mut XmlWriter, family: &str) {
    let memcached = family_engine(family) == "memcached";
    xml.element("CacheNodeTypeSpecificParameters", |xml| {
        xml.element("CacheNodeTypeSpecificParameter", |xml| {
            xml.text(
                "ParameterName",
                if memcached {
                    "max_cache_memory"
                } else {
                    "maxmemory"
                },
            );
            xml.text(
                "Description",
                "The maximum configurable amount of memory to use to store items, in bytes.",
            );
            xml.text("Source", "system");
            xml.text("DataType", "integer");
            xml.value("IsModifiable", false);
            xml.text(
                "MinimumEngineVersion",
                if memcached { "1.4.5" } else { "2.8.6" },
            );
            xml.element("CacheNodeTypeSpecificValues", |xml| {
                for (node_type, bytes) in NODE_TYPE_MEMORY {
                    xml.element("CacheNodeTypeSpecificValue", |xml| {
                        xml.text("CacheNodeType", node_type);
                        // Memcached states it in MiB.
                        if memcached {
                            let mib = bytes.parse::<u64>().unwrap_or(0) / (1024 * 1024);
                            xml.value("Value", mib);
                        } else {
                            xml.text("Value", bytes);
                        }
                    });
                }
            });
            xml.text("ChangeType", REBOOT);
        });
    });
}

/// Whether `value` is one of `allowed` (`yes,no`, `1-100`, `0,20-`, `-`; empty allows all).
fn allows(allowed: &str, data_type: &str, value: &str) -> bool {
    if allowed.is_empty() {
        return true;
    }
    let numeric = data_type != "string";
    let number = value.parse::<f64>().ok();
    allowed.split(',').any(|item| {
        if numeric && let Some((low, high)) = item.split_once('-') {
            let Some(number) = number else { return false };
            let above = low.is_empty() || low.parse::<f64>().is_ok_and(|low| number >= low);
            let below = high.is_empty() || high.parse::<f64>().is_ok_and(|high| number <= high);
            return above && below && (data_type != "integer" || value.parse::<i64>().is_ok());
        }
        item == value
    })
}

/// A cache parameter group: a family's parameters with the values the account changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ParameterGroup {
    pub(crate) name: String,
    pub(crate) family: String,
    description: String,
    arn: String,
    /// The `default.…` groups cannot be modified or deleted.
    is_default: bool,
    overrides: BTreeMap<String, String>,
    pub(crate) tags: Vec<Tag>,
}

impl ParameterGroup {
    fn write_members(&self, xml: &mut XmlWriter) {
        xml.text("CacheParameterGroupName", &self.name);
        xml.text("CacheParameterGroupFamily", &self.family);
        xml.text("Description", &self.description);
        xml.value("IsGlobal", false);
        xml.text("ARN", &self.arn);
    }

    /// Whether the group turns cluster mode on (`cluster-enabled` is `yes`).
    pub(crate) fn cluster_enabled(&self) -> bool {
        self.value("cluster-enabled").as_deref() == Some("yes")
    }

    fn value(&self, name: &str) -> Option<String> {
        self.parameters()
            .into_iter()
            .find(|parameter| parameter.name == name)
            .map(|parameter| parameter.value)
    }

    fn parameters(&self) -> Vec<Parameter> {
        let cluster_on = self.name.ends_with(".cluster.on");
        parameter_defs(&self.family)
            .iter()
            .map(|def| {
                let default = if def.name == "cluster-enabled" && cluster_on {
                    "yes"
                } else {
                    def.value
                };
                let (value, source) = match self.overrides.get(def.name) {
                    Some(value) => (value.clone(), "user"),
                    None => (default.to_owned(), "system"),
                };
                Parameter {
                    name: def.name,
                    value,
                    source,
                    def: def.description,
                    data_type: def.data_type,
                    allowed: def.allowed,
                    modifiable: def.modifiable,
                    minimum_engine_version: def.minimum_engine_version,
                    change_type: def.change_type,
                }
            })
            .collect()
    }
}

/// The subnets of the account's default VPC, and its id.
const DEFAULT_SUBNETS: [&str; 3] = [
    "subnet-0a1b2c3d4e5f60001",
    "subnet-0a1b2c3d4e5f60002",
    "subnet-0a1b2c3d4e5f60003",
];
const DEFAULT_VPC: &str = "vpc-0a1b2c3d4e5f60000";

/// A cache subnet group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SubnetGroup {
    pub(crate) name: String,
    description: String,
    subnet_ids: Vec<String>,
    arn: String,
    pub(crate) tags: Vec<Tag>,
}

/// The availability zone a subnet is in: stable per subnet id.
fn subnet_zone(region: &str, subnet_id: &str) -> String {
    let hash = subnet_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let zone = ['a', 'b', 'c'][(hash % 3) as usize];
    format!("{region}{zone}")
}

impl SubnetGroup {
    fn write_members(&self, xml: &mut XmlWriter, region: &str) {
        xml.text("CacheSubnetGroupName", &self.name);
        xml.text("CacheSubnetGroupDescription", &self.description);
        xml.text("VpcId", DEFAULT_VPC);
        xml.element("Subnets", |xml| {
            for subnet in &self.subnet_ids {
                xml.element("Subnet", |xml| {
                    xml.text("SubnetIdentifier", subnet);
                    xml.element("SubnetAvailabilityZone", |xml| {
                        xml.text("Name", &subnet_zone(region, subnet));
                    });
                    xml.text_list("SupportedNetworkTypes", "member", &["ipv4".to_owned()]);
                });
            }
        });
        xml.text("ARN", &self.arn);
        xml.text_list("SupportedNetworkTypes", "member", &["ipv4".to_owned()]);
    }
}

/// The parameter and subnet groups of the account.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Catalog {
    pub(crate) parameter_groups: BTreeMap<String, ParameterGroup>,
    pub(crate) subnet_groups: BTreeMap<String, SubnetGroup>,
}

/// Parameter groups and subnet groups an account may create.
pub(crate) const MAX_PARAMETER_GROUPS: usize = 150;
pub(crate) const MAX_SUBNET_GROUPS: usize = 150;
/// Subnets a subnet group may have.
pub(crate) const MAX_SUBNETS: usize = 20;

impl Catalog {
    /// The default groups every account has.
    pub(crate) fn new(arn: impl Fn(&str, &str) -> String) -> Self {
        let mut catalog = Catalog::default();
        for family in FAMILIES {
            let engine = family_engine(family);
            let mut names = vec![default_parameter_group(family, false)];
            if engine != "memcached" {
                names.push(default_parameter_group(family, true));
            }
            for name in names {
                let group = ParameterGroup {
                    arn: arn("parametergroup", &name),
                    description: format!("Default parameter group for {family}"),
                    family: family.to_owned(),
                    is_default: true,
                    overrides: BTreeMap::new(),
                    tags: Vec::new(),
                    name,
                };
                catalog.parameter_groups.insert(group.name.clone(), group);
            }
        }
        let default = SubnetGroup {
            name: "default".to_owned(),
            description: "default".to_owned(),
            subnet_ids: DEFAULT_SUBNETS.iter().map(|&s| s.to_owned()).collect(),
            arn: arn("subnetgroup", "default"),
            tags: Vec::new(),
        };
        catalog.subnet_groups.insert(default.name.clone(), default);
        catalog
    }

    pub(crate) fn parameter_group(&self, name: &str) -> Result<&ParameterGroup, ApiError> {
        self.parameter_groups
            .get(name)
            .ok_or_else(|| parameter_group_not_found(name))
    }

    pub(crate) fn subnet_group(&self, name: &str) -> Result<&SubnetGroup, ApiError> {
        self.subnet_groups
            .get(name)
            .ok_or_else(|| subnet_group_not_found(name))
    }
}

pub(crate) fn parameter_group_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::CacheParameterGroupNotFound,
        format!("CacheParameterGroup {name} not found."),
    )
}

pub(crate) fn subnet_group_not_found(name: &str) -> ApiError {
    ApiError::new(
        Fault::CacheSubnetGroupNotFound,
        format!("CacheSubnetGroup {name} not found."),
    )
}

/// What the operations of this family answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    ParameterGroup(Box<ParameterGroup>),
    ParameterGroups(Page<ParameterGroup>),
    ParameterGroupName(String),
    Parameters {
        family: String,
        page: Page<Parameter>,
        first: bool,
    },
    EngineDefaults {
        family: String,
        page: Page<Parameter>,
        first: bool,
    },
    SubnetGroup(Box<SubnetGroup>, String),
    SubnetGroups(Page<SubnetGroup>, String),
    EngineVersions(Page<(&'static str, &'static str, &'static str)>),
}

impl Answer {
    pub(crate) fn write(&self, xml: &mut XmlWriter) {
        match self {
            Answer::ParameterGroup(group) => {
                xml.element("CacheParameterGroup", |xml| group.write_members(xml));
            }
            Answer::ParameterGroups(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("CacheParameterGroups", |xml| {
                    for group in &page.items {
                        xml.element("CacheParameterGroup", |xml| group.write_members(xml));
                    }
                });
            }
            Answer::ParameterGroupName(name) => xml.text("CacheParameterGroupName", name),
            Answer::Parameters {
                family,
                page,
                first,
            } => write_parameters(xml, family, page, *first),
            Answer::EngineDefaults {
                family,
                page,
                first,
            } => xml.element("EngineDefaults", |xml| {
                xml.text("CacheParameterGroupFamily", family);
                write_parameters(xml, family, page, *first);
            }),
            Answer::SubnetGroup(group, region) => {
                xml.element("CacheSubnetGroup", |xml| group.write_members(xml, region));
            }
            Answer::SubnetGroups(page, region) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("CacheSubnetGroups", |xml| {
                    for group in &page.items {
                        xml.element("CacheSubnetGroup", |xml| group.write_members(xml, region));
                    }
                });
            }
            Answer::EngineVersions(page) => {
                xml.opt_text("Marker", page.next_token.as_deref());
                xml.element("CacheEngineVersions", |xml| {
                    for (engine, version, family) in &page.items {
                        xml.element("CacheEngineVersion", |xml| {
                            xml.text("Engine", engine);
                            xml.text("EngineVersion", version);
                            xml.text("CacheParameterGroupFamily", family);
                            let name = match *engine {
                                "valkey" => "Valkey",
                                "redis" => "Redis",
                                _ => "memcached",
                            };
                            xml.text("CacheEngineDescription", name);
                            xml.text(
                                "CacheEngineVersionDescription",
                                &format!("{name} version {version}"),
                            );
                        });
                    }
                });
            }
        }
    }
}

fn write_parameters(xml: &mut XmlWriter, family: &str, page: &Page<Parameter>, first: bool) {
    xml.opt_text("Marker", page.next_token.as_deref());
    xml.element("Parameters", |xml| {
        for parameter in &page.items {
            parameter.write(xml);
        }
    });
    // The node-type-specific parameters come once, with the first page.
    if first {
        write_node_type_specific(xml, family);
    } else {
        xml.element("CacheNodeTypeSpecificParameters", |_| {});
    }
}

fn page_of_parameters(
    parameters: Vec<Parameter>,
    page: &PageRequest,
) -> Result<Page<Parameter>, ApiError> {
    let by_name: BTreeMap<String, Parameter> = parameters
        .into_iter()
        .map(|parameter| (parameter.name.to_owned(), parameter))
        .collect();
    paginate(&by_name, TokenKind::Parameter, page, |_| true)
}

/// Parameter and subnet group names: 1–255 letters, digits and hyphens, starting with a letter,
/// no `--`, no trailing hyphen; stored in lower case.
fn group_name(parameter: &str, name: &str) -> Result<String, ApiError> {
    let valid = (1..=255).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--");
    if !valid {
        return Err(ApiError::invalid(
            parameter,
            "must be 1 to 255 letters, digits or hyphens, begin with a letter, \
             and contain no two consecutive hyphens nor end with one",
        ));
    }
    Ok(name.to_ascii_lowercase())
}

fn family(params: &Params) -> Result<String, ApiError> {
    let family = params.required("CacheParameterGroupFamily")?;
    if !FAMILIES.contains(&family) {
        return Err(ApiError::invalid(
            "CacheParameterGroupFamily",
            format!(
                "{family:?} is not a valid cache parameter group family (one of {})",
                FAMILIES.join(", ")
            ),
        ));
    }
    Ok(family.to_owned())
}

/// `ParameterNameValues.ParameterNameValue.N.{ParameterName,ParameterValue}`.
fn name_values(params: &Params, values: bool) -> Result<Vec<(String, String)>, ApiError> {
    const PREFIX: &str = "ParameterNameValues.ParameterNameValue";
    let mut pairs = Vec::new();
    for index in params.indices(PREFIX)? {
        let name = params.required(&format!("{PREFIX}.{index}.ParameterName"))?;
        let value = if values {
            params
                .get(&format!("{PREFIX}.{index}.ParameterValue"))
                .ok_or_else(|| ApiError::missing(&format!("{PREFIX}.{index}.ParameterValue")))?
        } else {
            ""
        };
        pairs.push((name.to_owned(), value.to_owned()));
    }
    if pairs.len() > 20 {
        return Err(ApiError::invalid(
            "ParameterNameValues",
            format!("{} parameters given; at most 20 per request", pairs.len()),
        ));
    }
    Ok(pairs)
}

/// Refuses to change a `default.…` group.
fn modifiable(group: &ParameterGroup) -> Result<(), ApiError> {
    if group.is_default {
        return Err(ApiError::new(
            Fault::InvalidCacheParameterGroupState,
            format!(
                "The default cache parameter group {} cannot be modified or deleted.",
                group.name
            ),
        ));
    }
    Ok(())
}

pub(crate) struct CreateCacheParameterGroup;

impl Operation for CreateCacheParameterGroup {
    const NAME: &'static str = "CreateCacheParameterGroup";
    type Input = (String, String, String, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = group_name(
            "CacheParameterGroupName",
            params.required("CacheParameterGroupName")?,
        )?;
        if name.starts_with("default.") || name == "default" {
            return Err(ApiError::invalid(
                "CacheParameterGroupName",
                "names starting with default are reserved",
            ));
        }
        let family = family(params)?;
        let description = params.required("Description")?.to_owned();
        Ok((name, family, description, tags(params)?))
    }

    fn apply(
        store: &mut Store,
        (name, family, description, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        if store.catalog.parameter_groups.contains_key(&name) {
            return Err(ApiError::new(
                Fault::CacheParameterGroupAlreadyExists,
                format!("Parameter group {name} already exists."),
            ));
        }
        let own = store
            .catalog
            .parameter_groups
            .values()
            .filter(|group| !group.is_default)
            .count();
        if own >= store.quotas.parameter_groups {
            return Err(ApiError::new(
                Fault::CacheParameterGroupQuotaExceeded,
                format!(
                    "You have reached the limit of {} cache parameter groups.",
                    store.quotas.parameter_groups
                ),
            ));
        }
        let group = ParameterGroup {
            arn: store.arn("parametergroup", &name),
            name,
            family,
            description,
            is_default: false,
            overrides: BTreeMap::new(),
            tags,
        };
        store
            .catalog
            .parameter_groups
            .insert(group.name.clone(), group.clone());
        store.events.push(
            SourceType::CacheParameterGroup,
            &group.name,
            format!("Cache parameter group {} created", group.name),
            clock.wall,
        );
        Ok(Output::Catalog(Answer::ParameterGroup(Box::new(group))))
    }
}

pub(crate) struct DescribeCacheParameterGroups;

impl Operation for DescribeCacheParameterGroups {
    const NAME: &'static str = "DescribeCacheParameterGroups";
    type Input = (Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = non_empty(params, "CacheParameterGroupName").map(|n| n.to_ascii_lowercase());
        Ok((name, marker_page(params)?))
    }

    fn apply(store: &mut Store, (name, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        if let Some(name) = &name {
            store.catalog.parameter_group(name)?;
        }
        let page = paginate(
            &store.catalog.parameter_groups,
            TokenKind::ParameterGroup,
            &page,
            |group| name.as_ref().is_none_or(|name| &group.name == name),
        )?;
        Ok(Output::Catalog(Answer::ParameterGroups(page)))
    }
}

pub(crate) struct ModifyCacheParameterGroup;

impl Operation for ModifyCacheParameterGroup {
    const NAME: &'static str = "ModifyCacheParameterGroup";
    type Input = (String, Vec<(String, String)>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = params
            .required("CacheParameterGroupName")?
            .to_ascii_lowercase();
        let values = name_values(params, true)?;
        if values.is_empty() {
            return Err(ApiError::missing("ParameterNameValues"));
        }
        Ok((name, values))
    }

    fn apply(
        store: &mut Store,
        (name, values): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        let group = store.catalog.parameter_group(&name)?;
        modifiable(group)?;
        let defs = parameter_defs(&group.family);
        for (parameter, value) in &values {
            let Some(def) = defs.iter().find(|def| def.name == parameter) else {
                return Err(ApiError::invalid(
                    "ParameterNameValues",
                    format!("Unknown parameter {parameter} for family {}", group.family),
                ));
            };
            if !def.modifiable {
                return Err(ApiError::invalid(
                    "ParameterNameValues",
                    format!("Parameter {parameter} is not modifiable"),
                ));
            }
            if !allows(def.allowed, def.data_type, value) {
                return Err(ApiError::invalid(
                    "ParameterNameValues",
                    format!(
                        "Value {value:?} for parameter {parameter} is not one of the allowed values {}",
                        def.allowed
                    ),
                ));
            }
        }
        let changed: Vec<&str> = values.iter().map(|(name, _)| name.as_str()).collect();
        let message = format!(
            "Cache parameter group {name} modified: {}",
            changed.join(", ")
        );
        if let Some(group) = store.catalog.parameter_groups.get_mut(&name) {
            group.overrides.extend(values);
        }
        store
            .events
            .push(SourceType::CacheParameterGroup, &name, message, clock.wall);
        Ok(Output::Catalog(Answer::ParameterGroupName(name)))
    }
}

pub(crate) struct ResetCacheParameterGroup;

impl Operation for ResetCacheParameterGroup {
    const NAME: &'static str = "ResetCacheParameterGroup";
    type Input = (String, Option<Vec<String>>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = params
            .required("CacheParameterGroupName")?
            .to_ascii_lowercase();
        let all = params.bool("ResetAllParameters")?.unwrap_or(false);
        let names: Vec<String> = name_values(params, false)?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        match (all, names.is_empty()) {
            (true, false) => Err(ApiError::combination(
                "ResetAllParameters and ParameterNameValues cannot be specified together",
            )),
            (false, true) => Err(ApiError::combination(
                "Either ResetAllParameters or ParameterNameValues must be specified",
            )),
            (true, true) => Ok((name, None)),
            (false, false) => Ok((name, Some(names))),
        }
    }

    fn apply(store: &mut Store, (name, names): Self::Input, _: Clock) -> Result<Output, ApiError> {
        let group = store.catalog.parameter_group(&name)?;
        modifiable(group)?;
        let defs = parameter_defs(&group.family);
        if let Some(unknown) = names
            .iter()
            .flatten()
            .find(|parameter| !defs.iter().any(|def| def.name == parameter.as_str()))
        {
            return Err(ApiError::invalid(
                "ParameterNameValues",
                format!("Unknown parameter {unknown} for family {}", group.family),
            ));
        }
        if let Some(group) = store.catalog.parameter_groups.get_mut(&name) {
            match names {
                None => group.overrides.clear(),
                Some(names) => group.overrides.retain(|key, _| !names.contains(key)),
            }
        }
        Ok(Output::Catalog(Answer::ParameterGroupName(name)))
    }
}

pub(crate) struct DeleteCacheParameterGroup;

impl Operation for DeleteCacheParameterGroup {
    const NAME: &'static str = "DeleteCacheParameterGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        Ok(params
            .required("CacheParameterGroupName")?
            .to_ascii_lowercase())
    }

    fn apply(store: &mut Store, name: String, clock: Clock) -> Result<Output, ApiError> {
        modifiable(store.catalog.parameter_group(&name)?)?;
        if let Some(user) = store.parameter_group_user(&name) {
            return Err(ApiError::new(
                Fault::InvalidCacheParameterGroupState,
                format!("Cache parameter group {name} is in use by {user}."),
            ));
        }
        store.catalog.parameter_groups.remove(&name);
        store.events.push(
            SourceType::CacheParameterGroup,
            &name,
            format!("Cache parameter group {name} deleted"),
            clock.wall,
        );
        Ok(Output::Empty)
    }
}

pub(crate) struct DescribeCacheParameters;

impl Operation for DescribeCacheParameters {
    const NAME: &'static str = "DescribeCacheParameters";
    type Input = (String, Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = params
            .required("CacheParameterGroupName")?
            .to_ascii_lowercase();
        let source = match non_empty(params, "Source") {
            Some(source) if ["user", "system", "engine-default"].contains(&source.as_str()) => {
                Some(source)
            }
            Some(other) => {
                return Err(ApiError::invalid(
                    "Source",
                    format!("{other:?} is not one of user, system, engine-default"),
                ));
            }
            None => None,
        };
        Ok((name, source, marker_page(params)?))
    }

    fn apply(
        store: &mut Store,
        (name, source, page): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        let group = store.catalog.parameter_group(&name)?;
        let parameters = group
            .parameters()
            .into_iter()
            .filter(|parameter| match source.as_deref() {
                Some("user") => parameter.source == "user",
                Some(_) => parameter.source != "user",
                None => true,
            })
            .collect();
        let first = page.next_token.is_none();
        Ok(Output::Catalog(Answer::Parameters {
            family: group.family.clone(),
            page: page_of_parameters(parameters, &page)?,
            first,
        }))
    }
}

pub(crate) struct DescribeEngineDefaultParameters;

impl Operation for DescribeEngineDefaultParameters {
    const NAME: &'static str = "DescribeEngineDefaultParameters";
    type Input = (String, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        Ok((family(params)?, marker_page(params)?))
    }

    fn apply(store: &mut Store, (family, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        let group = store
            .catalog
            .parameter_group(&default_parameter_group(&family, false))?;
        let first = page.next_token.is_none();
        Ok(Output::Catalog(Answer::EngineDefaults {
            page: page_of_parameters(group.parameters(), &page)?,
            family,
            first,
        }))
    }
}

/// `SubnetIds.SubnetIdentifier.N`: ids starting with `subnet-`, at most [`MAX_SUBNETS`].
fn subnet_ids(params: &Params, required: bool) -> Result<Option<Vec<String>>, ApiError> {
    let Some(ids) = params.list("SubnetIds", "SubnetIdentifier")? else {
        return if required {
            Err(ApiError::missing("SubnetIds"))
        } else {
            Ok(None)
        };
    };
    if ids.is_empty() {
        return Err(ApiError::missing("SubnetIds"));
    }
    if let Some(bad) = ids
        .iter()
        .find(|id| !id.starts_with("subnet-") || id.len() < 8)
    {
        return Err(ApiError::new(
            Fault::InvalidSubnet,
            format!("The subnet ID {bad} is not valid."),
        ));
    }
    if ids.len() > MAX_SUBNETS {
        return Err(ApiError::new(
            Fault::CacheSubnetQuotaExceeded,
            format!(
                "{} subnets requested; a cache subnet group can have at most {MAX_SUBNETS}.",
                ids.len()
            ),
        ));
    }
    let mut unique = Vec::with_capacity(ids.len());
    for id in ids {
        if !unique.contains(&id) {
            unique.push(id);
        }
    }
    Ok(Some(unique))
}

pub(crate) struct CreateCacheSubnetGroup;

impl Operation for CreateCacheSubnetGroup {
    const NAME: &'static str = "CreateCacheSubnetGroup";
    type Input = (String, String, Vec<String>, Vec<Tag>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = group_name(
            "CacheSubnetGroupName",
            params.required("CacheSubnetGroupName")?,
        )?;
        if name == "default" {
            return Err(ApiError::invalid(
                "CacheSubnetGroupName",
                "default is reserved for the account's default subnet group",
            ));
        }
        let description = params.required("CacheSubnetGroupDescription")?.to_owned();
        let ids = subnet_ids(params, true)?.unwrap_or_default();
        Ok((name, description, ids, tags(params)?))
    }

    fn apply(
        store: &mut Store,
        (name, description, subnet_ids, tags): Self::Input,
        clock: Clock,
    ) -> Result<Output, ApiError> {
        if store.catalog.subnet_groups.contains_key(&name) {
            return Err(ApiError::new(
                Fault::CacheSubnetGroupAlreadyExists,
                format!("Cache subnet group {name} already exists."),
            ));
        }
        // The account's default group does not count.
        if store.catalog.subnet_groups.len() > store.quotas.subnet_groups {
            return Err(ApiError::new(
                Fault::CacheSubnetGroupQuotaExceeded,
                format!(
                    "You have reached the limit of {} cache subnet groups.",
                    store.quotas.subnet_groups
                ),
            ));
        }
        let group = SubnetGroup {
            arn: store.arn("subnetgroup", &name),
            name,
            description,
            subnet_ids,
            tags,
        };
        store
            .catalog
            .subnet_groups
            .insert(group.name.clone(), group.clone());
        store.events.push(
            SourceType::CacheSubnetGroup,
            &group.name,
            format!("Cache subnet group {} created", group.name),
            clock.wall,
        );
        Ok(Output::Catalog(Answer::SubnetGroup(
            Box::new(group),
            store.region().to_owned(),
        )))
    }
}

pub(crate) struct DescribeCacheSubnetGroups;

impl Operation for DescribeCacheSubnetGroups {
    const NAME: &'static str = "DescribeCacheSubnetGroups";
    type Input = (Option<String>, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = non_empty(params, "CacheSubnetGroupName").map(|n| n.to_ascii_lowercase());
        Ok((name, marker_page(params)?))
    }

    fn apply(store: &mut Store, (name, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        if let Some(name) = &name {
            store.catalog.subnet_group(name)?;
        }
        let page = paginate(
            &store.catalog.subnet_groups,
            TokenKind::SubnetGroup,
            &page,
            |group| name.as_ref().is_none_or(|name| &group.name == name),
        )?;
        Ok(Output::Catalog(Answer::SubnetGroups(
            page,
            store.region().to_owned(),
        )))
    }
}

pub(crate) struct ModifyCacheSubnetGroup;

impl Operation for ModifyCacheSubnetGroup {
    const NAME: &'static str = "ModifyCacheSubnetGroup";
    type Input = (String, Option<String>, Option<Vec<String>>);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let name = params
            .required("CacheSubnetGroupName")?
            .to_ascii_lowercase();
        let description = params.get("CacheSubnetGroupDescription").map(str::to_owned);
        Ok((name, description, subnet_ids(params, false)?))
    }

    fn apply(
        store: &mut Store,
        (name, description, subnet_ids): Self::Input,
        _: Clock,
    ) -> Result<Output, ApiError> {
        store.catalog.subnet_group(&name)?;
        if name == "default" {
            return Err(ApiError::invalid(
                "CacheSubnetGroupName",
                "the default subnet group cannot be modified",
            ));
        }
        let region = store.region().to_owned();
        let group = store
            .catalog
            .subnet_groups
            .get_mut(&name)
            .ok_or_else(|| subnet_group_not_found(&name))?;
        if let Some(description) = description {
            group.description = description;
        }
        if let Some(ids) = subnet_ids {
            group.subnet_ids = ids;
        }
        Ok(Output::Catalog(Answer::SubnetGroup(
            Box::new(group.clone()),
            region,
        )))
    }
}

pub(crate) struct DeleteCacheSubnetGroup;

impl Operation for DeleteCacheSubnetGroup {
    const NAME: &'static str = "DeleteCacheSubnetGroup";
    type Input = String;

    fn parse(params: &Params) -> Result<String, ApiError> {
        Ok(params
            .required("CacheSubnetGroupName")?
            .to_ascii_lowercase())
    }

    fn apply(store: &mut Store, name: String, clock: Clock) -> Result<Output, ApiError> {
        store.catalog.subnet_group(&name)?;
        if name == "default" {
            return Err(ApiError::new(
                Fault::CacheSubnetGroupInUse,
                "The default cache subnet group cannot be deleted.",
            ));
        }
        if let Some(user) = store.subnet_group_user(&name) {
            return Err(ApiError::new(
                Fault::CacheSubnetGroupInUse,
                format!("Cache subnet group {name} is in use by {user}."),
            ));
        }
        store.catalog.subnet_groups.remove(&name);
        store.events.push(
            SourceType::CacheSubnetGroup,
            &name,
            format!("Cache subnet group {name} deleted"),
            clock.wall,
        );
        Ok(Output::Empty)
    }
}

pub(crate) struct DescribeCacheEngineVersions;

/// The filters of `DescribeCacheEngineVersions`.
#[derive(Debug)]
pub(crate) struct EngineVersionFilter {
    engine: Option<String>,
    version: Option<String>,
    family: Option<String>,
    default_only: bool,
}

impl Operation for DescribeCacheEngineVersions {
    const NAME: &'static str = "DescribeCacheEngineVersions";
    type Input = (EngineVersionFilter, PageRequest);

    fn parse(params: &Params) -> Result<Self::Input, ApiError> {
        let filter = EngineVersionFilter {
            engine: non_empty(params, "Engine").map(|e| e.to_ascii_lowercase()),
            version: non_empty(params, "EngineVersion"),
            family: non_empty(params, "CacheParameterGroupFamily"),
            default_only: params.bool("DefaultOnly")?.unwrap_or(false),
        };
        if let Some(family) = &filter.family
            && !FAMILIES.contains(&family.as_str())
        {
            return Err(ApiError::invalid(
                "CacheParameterGroupFamily",
                format!("{family:?} is not a valid cache parameter group family"),
            ));
        }
        Ok((filter, marker_page(params)?))
    }

    fn apply(store: &mut Store, (filter, page): Self::Input, _: Clock) -> Result<Output, ApiError> {
        let _ = store;
        let versions: BTreeMap<String, (&'static str, &'static str, &'static str)> =
            ENGINE_VERSIONS
                .iter()
                .enumerate()
                .filter(|(_, (engine, version, family))| {
                    filter.engine.as_deref().is_none_or(|e| e == *engine)
                        && filter.version.as_deref().is_none_or(|v| v == *version)
                        && filter.family.as_deref().is_none_or(|f| f == *family)
                        && (!filter.default_only
                            || engine_version(engine, None).is_ok_and(|newest| newest == *version))
                })
                // Keyed by table position, so pages keep the table's order.
                .map(|(index, entry)| (format!("{index:04}"), *entry))
                .collect();
        let page = paginate(&versions, TokenKind::EngineVersion, &page, |_| true)?;
        Ok(Output::Catalog(Answer::EngineVersions(page)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_values_follow_the_service_notation() {
        assert!(allows("yes,no", "string", "yes"));
        assert!(!allows("yes,no", "string", "maybe"));
        assert!(allows("1-100", "integer", "100"));
        assert!(!allows("1-100", "integer", "101"));
        assert!(!allows("1-100", "integer", "5.5"));
        assert!(allows("0,20-", "integer", "0"));
        assert!(!allows("0,20-", "integer", "10"));
        assert!(allows("0,20-", "integer", "86400"));
        assert!(allows("-", "integer", "-1"));
        assert!(allows("1-2", "numeric", "1.25"));
        assert!(allows("", "string", "anything"));
    }

    #[test]
    fn engine_versions_resolve_prefixes_and_defaults() {
        assert_eq!(engine_version("redis", None).unwrap(), "7.1");
        assert_eq!(engine_version("redis", Some("6")).unwrap(), "6.2");
        assert_eq!(engine_version("redis", Some("6.0")).unwrap(), "6.0");
        assert_eq!(engine_version("valkey", Some("7.2")).unwrap(), "7.2");
        assert!(engine_version("redis", Some("4.0")).is_err());
        assert!(engine_version("mongodb", None).is_err());
        assert_eq!(family_of("memcached", "1.6.22"), Some("memcached1.6"));
    }

    #[test]
    fn every_family_has_its_default_groups_and_cluster_mode_in_them() {
        let catalog = Catalog::new(|kind, name| format!("arn:{kind}:{name}"));
        assert_eq!(catalog.parameter_groups.len(), 11);
        assert!(
            catalog
                .parameter_group("default.redis7.cluster.on")
                .unwrap()
                .cluster_enabled()
        );
        assert!(
            !catalog
                .parameter_group("default.redis7")
                .unwrap()
                .cluster_enabled()
        );
        assert!(catalog.subnet_group("default").is_ok());
    }
}
