//! The emulated resources and their XML form (the `ServerlessCache` and `ServerlessCacheSnapshot`
//! shapes of the ElastiCache API reference, every member the SDK reads).

use std::time::{Instant, SystemTime};

use super::query::Tag;
use super::xml::XmlWriter;

/// Lifecycle of a serverless cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Lifecycle of a serverless cache snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UsageLimits {
    pub(crate) data_storage: Option<Range>,
    pub(crate) ecpu_per_second: Option<Range>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) minimum: Option<i64>,
    pub(crate) maximum: Option<i64>,
}

/// A serverless cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cache {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) created: SystemTime,
    pub(crate) status: CacheStatus,
    /// When the current transitional status ends.
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
    #[allow(
        dead_code,
        reason = "stored like ElastiCache does; no served action lists tags"
    )]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) name: String,
    pub(crate) arn: String,
    pub(crate) kms_key_id: Option<String>,
    pub(crate) created: SystemTime,
    pub(crate) expires: SystemTime,
    pub(crate) status: SnapshotStatus,
    pub(crate) settles_at: Option<Instant>,
    pub(crate) bytes_used: u64,
    /// The cache it was taken from, which may since have been deleted.
    pub(crate) cache_name: String,
    pub(crate) engine: String,
    pub(crate) major_engine_version: String,
    #[allow(
        dead_code,
        reason = "stored like ElastiCache does; no served action lists tags"
    )]
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
