//! The state file ([`EmulatorConfig::state_file`](super::EmulatorConfig::state_file)): the
//! emulated account as JSON, so a developer's resources survive a restart.
//!
//! The document is versioned (`"version": 1`) and names the account and region it belongs to; a
//! file of another version, account or region, or one that is not such a document, is refused at
//! start rather than discarded. Deadlines of pending transitions are wall-clock times
//! ([`super::wall_time`]). A save replaces the file atomically: the new document goes to a
//! temporary file beside it, which is flushed to disk and renamed over the old one, so a crash
//! leaves either the old state or the new, never half of one.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::events::Events;
use super::model::{Cache, Snapshot, User, UserGroup};
use super::parameters::Catalog;
use super::replication::Nodes;
use super::reserved::ReservedNode;

/// The version of the document this emulator reads and writes.
pub(crate) const VERSION: u64 = 1;

/// Why the state file cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StateFileError {
    #[error("state file {}: cannot read it: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("state file {}: not an emulator state file: {source}", path.display())]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("state file {}: it has no \"version\"; not an emulator state file", path.display())]
    NoVersion { path: PathBuf },
    #[error(
        "state file {}: version {found}, but this emulator reads version {VERSION} only",
        path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error(
        "state file {}: it holds account {found_account} in {found_region}, but this emulator \
         is account {account} in {region}",
        path.display()
    )]
    Account {
        path: PathBuf,
        found_account: String,
        found_region: String,
        account: String,
        region: String,
    },
    /// Well-formed, but not a state the emulator can be in (a hand edit gone wrong).
    #[error("state file {}: {problem}", path.display())]
    Inconsistent { path: PathBuf, problem: String },
    #[error("state file {}: cannot write it: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl From<StateFileError> for io::Error {
    fn from(error: StateFileError) -> Self {
        let kind = match &error {
            StateFileError::Read { source, .. } | StateFileError::Write { source, .. } => {
                source.kind()
            }
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, error)
    }
}

/// The emulated account as the state file holds it: borrowed from the store to be written,
/// owned when read.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Document<'a> {
    pub(crate) version: u64,
    pub(crate) account_id: Cow<'a, str>,
    pub(crate) region: Cow<'a, str>,
    pub(crate) serverless_caches: Cow<'a, BTreeMap<String, Cache>>,
    pub(crate) serverless_snapshots: Cow<'a, BTreeMap<String, Snapshot>>,
    pub(crate) users: Cow<'a, BTreeMap<String, User>>,
    pub(crate) user_groups: Cow<'a, BTreeMap<String, UserGroup>>,
    /// Replication groups, cache clusters, classic snapshots, global datastores.
    pub(crate) nodes: Cow<'a, Nodes>,
    /// Parameter groups (with their changed parameters) and subnet groups.
    pub(crate) catalog: Cow<'a, Catalog>,
    pub(crate) reserved_nodes: Cow<'a, BTreeMap<String, ReservedNode>>,
    pub(crate) events: Cow<'a, Events>,
}

impl Document<'_> {
    /// What the emulator takes for granted of its state and a file might not hold: each resource
    /// is filed under its own name, and every replication group has node groups, each with
    /// members.
    fn check(&self) -> Result<(), String> {
        filed_by_name("serverless cache", &self.serverless_caches, |c| &c.name)?;
        filed_by_name("serverless snapshot", &self.serverless_snapshots, |s| {
            &s.name
        })?;
        filed_by_name("user", &self.users, |u| &u.id)?;
        filed_by_name("user group", &self.user_groups, |g| &g.id)?;
        filed_by_name("replication group", &self.nodes.groups, |g| &g.id)?;
        filed_by_name("cache cluster", &self.nodes.clusters, |c| &c.id)?;
        filed_by_name("snapshot", &self.nodes.snapshots, |s| &s.name)?;
        filed_by_name("global datastore", &self.nodes.globals, |g| &g.id)?;
        filed_by_name("parameter group", &self.catalog.parameter_groups, |g| {
            &g.name
        })?;
        filed_by_name("subnet group", &self.catalog.subnet_groups, |g| &g.name)?;
        for (id, group) in self.nodes.groups.iter() {
            if group.node_groups.is_empty() {
                return Err(format!("replication group {id} has no node groups"));
            }
            if let Some(empty) = group.node_groups.iter().find(|g| g.members.is_empty()) {
                return Err(format!(
                    "node group {} of replication group {id} has no members",
                    empty.id
                ));
            }
        }
        Ok(())
    }
}

/// Checks that each resource of a kind is filed under its own name.
fn filed_by_name<T>(
    kind: &str,
    resources: &BTreeMap<String, T>,
    name: impl Fn(&T) -> &String,
) -> Result<(), String> {
    match resources
        .iter()
        .find(|(key, resource)| name(resource) != *key)
    {
        Some((key, resource)) => Err(format!(
            "the {kind} filed as {key:?} is named {:?}",
            name(resource)
        )),
        None => Ok(()),
    }
}

/// What is read first, so a document of another version is refused as such rather than for
/// what it holds.
#[derive(Deserialize)]
struct Header {
    version: Option<u64>,
}

/// The file the store is saved to, and what it last wrote there.
#[derive(Debug)]
pub(crate) struct StateFile {
    path: PathBuf,
    /// The document on disk, so a save that would change nothing writes nothing.
    written: Vec<u8>,
}

impl StateFile {
    pub(crate) fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
            written: Vec::new(),
        }
    }

    /// The document in the file, checked to be of this version, account and region; `None` when
    /// there is no file yet.
    pub(crate) fn read(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Option<Document<'static>>, StateFileError> {
        let path = || self.path.clone();
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(StateFileError::Read {
                    path: path(),
                    source,
                });
            }
        };
        let corrupt = |source| StateFileError::Corrupt {
            path: path(),
            source,
        };
        let header: Header = serde_json::from_slice(&bytes).map_err(corrupt)?;
        match header.version {
            None => return Err(StateFileError::NoVersion { path: path() }),
            Some(VERSION) => {}
            Some(found) => {
                return Err(StateFileError::Version {
                    path: path(),
                    found,
                });
            }
        }
        let document: Document<'static> = serde_json::from_slice(&bytes).map_err(corrupt)?;
        document
            .check()
            .map_err(|problem| StateFileError::Inconsistent {
                path: path(),
                problem,
            })?;
        if document.account_id != account || document.region != region {
            return Err(StateFileError::Account {
                path: path(),
                found_account: document.account_id.into_owned(),
                found_region: document.region.into_owned(),
                account: account.to_owned(),
                region: region.to_owned(),
            });
        }
        Ok(Some(document))
    }

    /// Writes the document unless the file already holds it.
    pub(crate) fn save(&mut self, document: &Document<'_>) -> Result<(), StateFileError> {
        let write = |source| StateFileError::Write {
            path: self.path.clone(),
            source,
        };
        // The document holds only maps with string keys, strings, numbers and times, which
        // always serialize; an error would still be reported, not unwrapped.
        let mut bytes = serde_json::to_vec_pretty(document)
            .map_err(io::Error::other)
            .map_err(write)?;
        bytes.push(b'\n');
        if bytes == self.written {
            return Ok(());
        }
        replace(&self.path, &bytes).map_err(write)?;
        self.written = bytes;
        Ok(())
    }
}

/// Replaces `path` with `bytes` atomically: a temporary file in the same directory (so the
/// rename stays on one file system), flushed to disk, renamed over `path`, and the directory
/// flushed so the rename itself survives a crash.
fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path names no file"))?;
    let dir = path
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let temporary = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = File::create(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temporary, path)?;
        // A directory can be opened and flushed on Unix only; elsewhere the rename is what it is.
        #[cfg(unix)]
        File::open(dir)?.sync_all()?;
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}
