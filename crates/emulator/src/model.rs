//! The emulated resources and their XML form (the `ServerlessCache`, `ServerlessCacheSnapshot`,
//! `User`, `UserGroup` and `Tag` shapes of the ElastiCache API reference, every member the SDK
//! reads).

use std::time::{Instant, SystemTime};

use serde::{Deserialize, Serialize};

use super::query::Tag;
use super::xml::XmlWriter;

/// Lifecycle of a serverless cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CacheStatus {
    Creating,
    Available,
    Modifying,
    Deleting,
}

impl CacheStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Creating => "creating",
            CacheStatus::Available => "available",
            CacheStatus::Modifying => "modifying",
            CacheStatus::Deleting => "deleting",
        }
    }
}

/// Lifecycle of a snapshot, serverless or classic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum SnapshotStatus {
    Creating,
    Available,
    Exporting,
    Deleting,
}

impl SnapshotStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Exporting => "exporting",
            SnapshotStatus::Deleting => "deleting",
        }
    }
}

/// `CacheUsageLimits`: bounds on storage (GB) and ECPU per second.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UsageLimits {
    pub(crate) data_storage: Option<Range>,
    pub(crate) ecpu_per_second: Option<Range>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Range {
    pub(crate) minimum: Option<i64>,
    pub(crate) maximum: Option<i64>,
}

/// A serverless cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cache {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) created: SystemTime,
    pub(crate) status: CacheStatus,
    /// When the current transitional status ends.
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) engine: String,
    pub(crate) major_engine_version: String,
    pub(crate) full_engine_version: String,
    pub(crate) usage_limits: Option<UsageLimits>,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) security_group_ids: Vec<String>,
    pub(crate) endpoint_address: String,
    pub(crate) arn: String,
    pub(crate) user_group_id: Option<String>,
    pub(crate) subnet_ids: Vec<String>,
    pub(crate) snapshot_retention_limit: i64,
    pub(crate) daily_snapshot_time: String,
    pub(crate) network_type: String,
    pub(crate) connection_type: String,
    pub(crate) tags: Vec<Tag>,
}

/// Port of the read/write endpoint; the reader endpoint listens on the next one.
pub(crate) const ENDPOINT_PORT: u16 = 6379;

impl Cache {
    /// `StorageEncryptionType`: serverless caches are always encrypted at rest.
    fn storage_encryption_type(&self) -> &'static str {
        if self.kms_key_id.is_some() {
            "sse-kms"
        } else {
            "sse-elasticache"
        }
    }

    /// Writes the members of a `ServerlessCache` (the caller writes the enclosing element).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter) {
        xml.text("ServerlessCacheName", &self.name);
        xml.text("Description", &self.description);
        xml.timestamp("CreateTime", self.created);
        xml.text("Status", self.status.as_str());
        xml.text("Engine", &self.engine);
        xml.text("MajorEngineVersion", &self.major_engine_version);
        xml.text("FullEngineVersion", &self.full_engine_version);
        if let Some(limits) = &self.usage_limits {
            xml.element("CacheUsageLimits", |xml| {
                if let Some(storage) = &limits.data_storage {
                    xml.element("DataStorage", |xml| {
                        write_range(xml, storage);
                        xml.text("Unit", "GB");
                    });
                }
                if let Some(ecpu) = &limits.ecpu_per_second {
                    xml.element("ECPUPerSecond", |xml| write_range(xml, ecpu));
                }
            });
        }
        xml.opt_text("KmsKeyId", self.kms_key_id.as_deref());
        xml.text("StorageEncryptionType", self.storage_encryption_type());
        xml.text_list(
            "SecurityGroupIds",
            "SecurityGroupId",
            &self.security_group_ids,
        );
        for (name, port) in [
            ("Endpoint", ENDPOINT_PORT),
            ("ReaderEndpoint", ENDPOINT_PORT + 1),
        ] {
            xml.element(name, |xml| {
                xml.text("Address", &self.endpoint_address);
                xml.value("Port", port);
            });
        }
        xml.text("ARN", &self.arn);
        xml.opt_text("UserGroupId", self.user_group_id.as_deref());
        xml.text_list("SubnetIds", "SubnetId", &self.subnet_ids);
        xml.value("SnapshotRetentionLimit", self.snapshot_retention_limit);
        xml.text("DailySnapshotTime", &self.daily_snapshot_time);
        xml.text("NetworkType", &self.network_type);
        xml.text("ConnectionType", &self.connection_type);
    }
}

fn write_range(xml: &mut XmlWriter, range: &Range) {
    if let Some(maximum) = range.maximum {
        xml.value("Maximum", maximum);
    }
    if let Some(minimum) = range.minimum {
        xml.value("Minimum", minimum);
    }
}

/// A serverless cache snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) created: SystemTime,
    pub(crate) expires: SystemTime,
    pub(crate) status: SnapshotStatus,
    #[serde(with = "crate::wall_time::deadline")]
    pub(crate) settles_at: Option<Instant>,
    pub(crate) bytes_used: u64,
    /// The cache it was taken from, which may since have been deleted.
    pub(crate) cache_name: String,
    pub(crate) engine: String,
    pub(crate) major_engine_version: String,
    pub(crate) tags: Vec<Tag>,
}

impl Snapshot {
    /// Writes the members of a `ServerlessCacheSnapshot` (the caller writes the enclosing element).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter) {
        xml.text("ServerlessCacheSnapshotName", &self.name);
        xml.text("ARN", &self.arn);
        xml.opt_text("KmsKeyId", self.kms_key_id.as_deref());
        // Only manual snapshots exist here: the emulator takes no daily snapshots.
        xml.text("SnapshotType", "manual");
        xml.text("Status", self.status.as_str());
        xml.timestamp("CreateTime", self.created);
        xml.timestamp("ExpiryTime", self.expires);
        xml.value("BytesUsedForCache", self.bytes_used);
        xml.element("ServerlessCacheConfiguration", |xml| {
            xml.text("ServerlessCacheName", &self.cache_name);
            xml.text("Engine", &self.engine);
            xml.text("MajorEngineVersion", &self.major_engine_version);
        });
    }
}

/// Writes a `TagList` (its items are `<Tag>`, as the list shape's `locationName` says).
pub(crate) fn write_tag_list(xml: &mut XmlWriter, tags: &[Tag]) {
    xml.element("TagList", |xml| {
        for tag in tags {
            xml.element("Tag", |xml| {
                xml.text("Key", &tag.key);
                xml.opt_text("Value", tag.value.as_deref());
            });
        }
    });
}

/// Lifecycle of a user or user group. The emulator gives them no transitions: they are `active`
/// from the moment they are created (ElastiCache passes through `creating` or `modifying`
/// first) until deleted, and a Delete answers them one last time as `deleting` and drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RbacStatus {
    Active,
    Deleting,
}

impl RbacStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RbacStatus::Active => "active",
            RbacStatus::Deleting => "deleting",
        }
    }
}

/// The first engine version with RBAC users: Redis OSS 6.0, Valkey 7.2.
pub(crate) fn minimum_rbac_engine_version(engine: &str) -> &'static str {
    if engine == "valkey" { "7.2" } else { "6.0" }
}

/// How a user authenticates: `Authentication.Type`, with the number of passwords it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Authentication {
    /// One or two passwords (the emulator keeps only their number).
    Password(usize),
    NoPassword,
    Iam,
}

impl Authentication {
    fn type_name(self) -> &'static str {
        match self {
            Authentication::Password(_) => "password",
            Authentication::NoPassword => "no-password",
            Authentication::Iam => "iam",
        }
    }

    fn password_count(self) -> usize {
        match self {
            Authentication::Password(count) => count,
            Authentication::NoPassword | Authentication::Iam => 0,
        }
    }
}

/// An RBAC user (`User` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct User {
    /// Stored in lower case, as ElastiCache does.
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) status: RbacStatus,
    pub(crate) engine: String,
    pub(crate) access_string: String,
    pub(crate) authentication: Authentication,
    pub(crate) arn: String,
    /// The groups the user belongs to: filled in from the groups when the user is answered. Not stored.
    #[serde(skip)]
    pub(crate) user_group_ids: Vec<String>,
    pub(crate) tags: Vec<Tag>,
}

impl User {
    /// Writes the members of a `User` (the caller writes the enclosing element, if any).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter) {
        xml.text("UserId", &self.id);
        xml.text("UserName", &self.name);
        xml.text("Status", self.status.as_str());
        xml.text("Engine", &self.engine);
        xml.text(
            "MinimumEngineVersion",
            minimum_rbac_engine_version(&self.engine),
        );
        xml.text("AccessString", &self.access_string);
        xml.text_list("UserGroupIds", "member", &self.user_group_ids);
        xml.element("Authentication", |xml| {
            xml.text("Type", self.authentication.type_name());
            xml.value("PasswordCount", self.authentication.password_count());
        });
        xml.text("ARN", &self.arn);
    }
}

/// An RBAC user group (`UserGroup` shape). Membership changes apply at once, so it never has
/// `PendingChanges`; `ReplicationGroups` and `ServerlessCaches` are its users.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct UserGroup {
    /// Stored in lower case, as ElastiCache does.
    pub(crate) id: String,
    pub(crate) status: RbacStatus,
    pub(crate) engine: String,
    /// Members, in the order they were added.
    pub(crate) user_ids: Vec<String>,
    pub(crate) arn: String,
    /// The serverless caches using the group: filled in from the caches when it is answered. Not stored.
    #[serde(skip)]
    pub(crate) serverless_caches: Vec<String>,
    /// The replication groups using the group: filled in when it is answered. Not stored.
    #[serde(skip)]
    pub(crate) replication_groups: Vec<String>,
    pub(crate) tags: Vec<Tag>,
}

impl UserGroup {
    /// Writes the members of a `UserGroup` (the caller writes the enclosing element, if any).
    pub(crate) fn write_members(&self, xml: &mut XmlWriter) {
        xml.text("UserGroupId", &self.id);
        xml.text("Status", self.status.as_str());
        xml.text("Engine", &self.engine);
        xml.text_list("UserIds", "member", &self.user_ids);
        xml.text(
            "MinimumEngineVersion",
            minimum_rbac_engine_version(&self.engine),
        );
        xml.text_list("ReplicationGroups", "member", &self.replication_groups);
        xml.text_list("ServerlessCaches", "member", &self.serverless_caches);
        xml.text("ARN", &self.arn);
    }
}
