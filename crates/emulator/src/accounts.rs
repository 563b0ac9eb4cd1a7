//! The accounts and regions the emulator plays. As in AWS, each (account, region) is its own
//! ElastiCache with its own resources: a request's region is the one its SigV4 signature is
//! scoped to, and its account the one its access key belongs to — the default (first) account for
//! any key the emulator did not issue, the role's account for a key its STS `AssumeRole` issued
//! ([`super::sts`]). An unsigned request (curl, tests) goes to the default account in the
//! configured region. Stores are made on the first request to them.
//!
//! With a state file ([`EmulatorConfig::state_file`]), the default account in the configured
//! region is saved to it, and every other (account, region) to a file of its own beside it,
//! named after both: `state.json` → `state.222222222222-eu-west-1.json`. The played accounts'
//! files in the configured region are read at start, so a bad one stops the start; a file of
//! another region is read on the first request there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use hyper::HeaderMap;
use hyper::header::AUTHORIZATION;

use super::EmulatorConfig;
use super::state_file::StateFileError;
use super::store::Store;

/// A store of its own for each account id, then region (nested, so that finding one borrows
/// the request's names instead of allocating a key).
type ByAccountAndRegion = BTreeMap<String, BTreeMap<String, Arc<Mutex<Store>>>>;

/// The accounts, and a store per (account, region) asked for so far.
#[derive(Debug)]
pub(crate) struct Stores {
    /// The template of every store; its `account_id` and `region` are the defaults.
    config: EmulatorConfig,
    /// The account ids played, the default first.
    accounts: Vec<String>,
    stores: Mutex<ByAccountAndRegion>,
    /// Names held (see [`Store::hold`]), so stores made later hold them too.
    held: Mutex<BTreeSet<String>>,
}

impl Stores {
    /// The stores, with the played accounts' state files in the configured region read.
    pub(crate) fn open(config: &EmulatorConfig) -> Result<Self, StateFileError> {
        let mut accounts = vec![config.account_id.clone()];
        for account in &config.accounts {
            if !accounts.contains(account) {
                accounts.push(account.clone());
            }
        }
        let stores = Self {
            config: config.clone(),
            accounts,
            stores: Mutex::new(BTreeMap::new()),
            held: Mutex::new(BTreeSet::new()),
        };
        for account in &stores.accounts {
            stores.get(account, &config.region)?;
        }
        Ok(stores)
    }

    /// [`Stores::open`] of a config without a state file, which cannot fail.
    #[cfg(test)]
    pub(crate) fn new(config: &EmulatorConfig) -> Self {
        assert!(config.state_file.is_none(), "Stores::new has no state file");
        Self::open(config).expect("no state file to read")
    }

    /// The account ids played, the default first.
    pub(crate) fn accounts(&self) -> &[String] {
        &self.accounts
    }

    /// Whether `account` is one of the accounts played.
    pub(crate) fn plays(&self, account: &str) -> bool {
        self.accounts.iter().any(|played| played == account)
    }

    /// The store of the default account in the configured region.
    #[cfg(test)]
    pub(crate) fn default_store(&self) -> Arc<Mutex<Store>> {
        self.get(&self.config.account_id, &self.config.region)
            .expect("made at start")
    }

    /// The store of `account` (one played) in `region`, made with the names held if new (and
    /// read from its state file, if there is one).
    pub(crate) fn get(
        &self,
        account: &str,
        region: &str,
    ) -> Result<Arc<Mutex<Store>>, StateFileError> {
        let mut stores = lock(&self.stores);
        if let Some(store) = stores.get(account).and_then(|regions| regions.get(region)) {
            return Ok(Arc::clone(store));
        }
        let is_default = account == self.config.account_id && region == self.config.region;
        let config = EmulatorConfig {
            account_id: account.to_owned(),
            region: region.to_owned(),
            state_file: match &self.config.state_file {
                Some(path) if !is_default => Some(state_file_of(path, account, region)),
                other => other.clone(),
            },
            ..self.config.clone()
        };
        let mut store = Store::open(&config)?;
        for name in lock(&self.held).iter() {
            store.hold(name);
        }
        let store = Arc::new(Mutex::new(store));
        stores
            .entry(account.to_owned())
            .or_default()
            .insert(region.to_owned(), Arc::clone(&store));
        Ok(store)
    }

    /// Runs `f` on every store made so far.
    pub(crate) fn for_each(&self, mut f: impl FnMut(&mut Store)) {
        let stores: Vec<_> = lock(&self.stores)
            .values()
            .flat_map(BTreeMap::values)
            .cloned()
            .collect();
        for store in stores {
            f(&mut lock(&store));
        }
    }

    /// Holds `name` in every account and region, now and in stores made later.
    pub(crate) fn hold(&self, name: &str) {
        lock(&self.held).insert(name.to_owned());
        self.for_each(|store| store.hold(name));
    }

    pub(crate) fn release(&self, name: &str) {
        lock(&self.held).remove(name);
        self.for_each(|store| store.release(name));
    }

    pub(crate) fn release_all(&self) {
        lock(&self.held).clear();
        self.for_each(Store::release_all);
    }

    /// The (account, region) a request is for, from its `Authorization` header; `Err` with the
    /// access key when it was issued for an account the emulator does not play.
    pub(crate) fn route(&self, headers: &HeaderMap) -> Result<(String, String), String> {
        let scope = headers
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(credential_scope);
        let Some((access_key, region)) = scope else {
            return Ok((self.config.account_id.clone(), self.config.region.clone()));
        };
        let account = match super::sts::account_of(access_key) {
            Some(account) if self.plays(account) => account.to_owned(),
            Some(_) => return Err(access_key.to_owned()),
            None => self.config.account_id.clone(),
        };
        let region = if region.is_empty() {
            self.config.region.clone()
        } else {
            region.to_owned()
        };
        Ok((account, region))
    }
}

/// The state file of another (account, region) than the default: `state.json` →
/// `state.222222222222-eu-west-1.json`, beside it.
fn state_file_of(path: &Path, account: &str, region: &str) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    let name = match path.extension() {
        Some(ext) => format!("{stem}.{account}-{region}.{}", ext.to_string_lossy()),
        None => format!("{stem}.{account}-{region}"),
    };
    path.with_file_name(name)
}

/// The access key and region of `AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=…, Signature=…`.
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let credential = authorization
        .split([' ', ','])
        .find_map(|part| part.strip_prefix("Credential="))?;
    let mut parts = credential.split('/');
    let access_key = parts.next()?;
    let _date = parts.next()?;
    let region = parts.next()?;
    Some((access_key, region))
}

/// A lock that a panic elsewhere cannot poison for good: store methods never panic half-way.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_of_a_sigv4_authorization() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261208/eu-west-1/elasticache/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(credential_scope(header), Some(("AKIDEXAMPLE", "eu-west-1")));
        assert_eq!(credential_scope("Basic dXNlcjpwYXNz"), None);
        assert_eq!(credential_scope("AWS4-HMAC-SHA256 Credential=AKID"), None);
    }

    #[test]
    fn requests_go_to_the_account_of_their_key_and_the_region_of_their_signature() {
        let config = EmulatorConfig {
            accounts: vec!["222222222222".into()],
            ..EmulatorConfig::default()
        };
        let stores = Stores::new(&config);
        assert_eq!(stores.accounts(), ["123456789012", "222222222222"]);
        let mut headers = HeaderMap::new();
        assert_eq!(
            stores.route(&headers),
            Ok(("123456789012".into(), "us-east-1".into()))
        );
        let signed = |key: &str, region: &str| {
            format!(
                "AWS4-HMAC-SHA256 Credential={key}/20261208/{region}/elasticache/aws4_request, SignedHeaders=host, Signature=0"
            )
        };
        headers.insert(
            AUTHORIZATION,
            signed("AKIDSTATIC", "us-west-2").parse().unwrap(),
        );
        assert_eq!(
            stores.route(&headers),
            Ok(("123456789012".into(), "us-west-2".into()))
        );
        let issued = crate::sts::access_key_for("222222222222");
        headers.insert(AUTHORIZATION, signed(&issued, "eu-west-1").parse().unwrap());
        assert_eq!(
            stores.route(&headers),
            Ok(("222222222222".into(), "eu-west-1".into()))
        );
        let foreign = crate::sts::access_key_for("333333333333");
        headers.insert(
            AUTHORIZATION,
            signed(&foreign, "eu-west-1").parse().unwrap(),
        );
        assert_eq!(stores.route(&headers), Err(foreign));
    }

    #[test]
    fn other_accounts_and_regions_have_state_files_beside_the_default_one() {
        assert_eq!(
            state_file_of(
                Path::new("/var/lib/emu/state.json"),
                "222222222222",
                "eu-west-1"
            ),
            Path::new("/var/lib/emu/state.222222222222-eu-west-1.json")
        );
        assert_eq!(
            state_file_of(Path::new("state"), "222222222222", "eu-west-1"),
            Path::new("state.222222222222-eu-west-1")
        );
    }

    #[test]
    fn a_hold_reaches_stores_made_after_it() {
        let stores = Stores::new(&EmulatorConfig::default());
        stores.hold("cache-a");
        let later = stores.get("123456789012", "ap-south-1").unwrap();
        assert!(lock(&later).is_held("cache-a"));
        stores.release("cache-a");
        assert!(!lock(&later).is_held("cache-a"));
        assert!(!lock(&stores.default_store()).is_held("cache-a"));
    }
}
