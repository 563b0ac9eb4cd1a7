//! STS `AssumeRole` on the emulator's own endpoint, so a client can assume a role in any account
//! the emulator plays ([`super::accounts`]) with no AWS account: aws-config's
//! `AssumeRoleProvider` pointed at the emulator gets temporary credentials whose access key names
//! the role's account (`ASIA` + the 12-digit account id + 4 random characters), and the
//! ElastiCache requests it then signs are that account's.
//!
//! What STS checks and the emulator checks too: `RoleArn` (`arn:<partition>:iam::<account>:role/…`)
//! and `RoleSessionName` are required and well-formed, `DurationSeconds` is 900–43200 (default
//! 3600), `ExternalId` is 2–1224 characters; a role in an account the emulator does not play is
//! `AccessDenied`. Trust policies are not emulated: every role in a played account may be assumed.

use std::time::{Duration, SystemTime};

use super::accounts::Stores;
use super::http::HttpResponse;
use super::query::Params;
use super::xml;

/// The action's name.
pub(crate) const ASSUME_ROLE: &str = "AssumeRole";

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const KEY_PREFIX: &str = "ASIA";
const DEFAULT_DURATION: u64 = 3600;
const DURATIONS: std::ops::RangeInclusive<u64> = 900..=43_200;

/// The account whose role an access key was issued for, if the emulator issued it.
pub(crate) fn account_of(access_key: &str) -> Option<&str> {
    let account = access_key.strip_prefix(KEY_PREFIX)?.get(..12)?;
    (access_key.len() == 20 && account.bytes().all(|b| b.is_ascii_digit())).then_some(account)
}

/// A fresh access key of `account`'s role.
pub(crate) fn access_key_for(account: &str) -> String {
    format!("{KEY_PREFIX}{account}{}", &random_upper(4))
}

/// `len` (at most 64) random upper-case hexadecimal characters.
fn random_upper(len: usize) -> String {
    let random = format!(
        "{:X}{:X}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    random[..len].to_owned()
}

/// A failed STS request: the HTTP status, the code and the message.
type Refusal = (u16, &'static str, String);

/// Answers `Action=AssumeRole`.
pub(crate) fn assume_role(
    stores: &Stores,
    params: &Params,
    now: SystemTime,
    request_id: &str,
) -> HttpResponse {
    match assumed(stores, params, now) {
        Ok(role) => {
            let body = xml::success_document_in(NAMESPACE, ASSUME_ROLE, request_id, |xml| {
                xml.element("AssumedRoleUser", |xml| {
                    xml.text("AssumedRoleId", &role.assumed_role_id);
                    xml.text("Arn", &role.arn);
                });
                xml.element("Credentials", |xml| {
                    xml.text("AccessKeyId", &role.access_key_id);
                    xml.text("SecretAccessKey", &role.secret_access_key);
                    xml.text("SessionToken", &role.session_token);
                    xml.timestamp("Expiration", role.expiration);
                });
            });
            super::server::xml_response(hyper::StatusCode::OK, body, request_id)
        }
        Err((status, code, message)) => {
            let body = xml::error_document_in(NAMESPACE, status, code, &message, request_id);
            let status = hyper::StatusCode::from_u16(status)
                .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
            super::server::xml_response(status, body, request_id)
        }
    }
}

#[derive(Debug)]
struct AssumedRole {
    assumed_role_id: String,
    arn: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: String,
    expiration: SystemTime,
}

fn assumed(stores: &Stores, params: &Params, now: SystemTime) -> Result<AssumedRole, Refusal> {
    let role_arn = required(params, "RoleArn", "roleArn")?;
    let session = required(params, "RoleSessionName", "roleSessionName")?;
    if !(2..=64).contains(&session.len())
        || !session
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    {
        return Err(invalid(
            session,
            "roleSessionName",
            "Member must have length between 2 and 64 and satisfy regular expression pattern: [\\w+=,.@-]*",
        ));
    }
    if let Some(external_id) = params.get("ExternalId")
        && !(2..=1224).contains(&external_id.len())
    {
        return Err(invalid(
            external_id,
            "externalId",
            "Member must have length between 2 and 1224",
        ));
    }
    let duration = match params.get("DurationSeconds") {
        None => DEFAULT_DURATION,
        Some(text) => match text.parse::<u64>() {
            Ok(seconds) if DURATIONS.contains(&seconds) => seconds,
            _ => {
                return Err(invalid(
                    text,
                    "durationSeconds",
                    "Member must have value between 900 and 43200",
                ));
            }
        },
    };
    let (partition, account, role_name) = parse_role_arn(role_arn).ok_or_else(|| {
        invalid(
            role_arn,
            "roleArn",
            "Member must be the ARN of an IAM role: arn:aws:iam::<account id>:role/<name>",
        )
    })?;
    if !stores.plays(account) {
        let caller = format!(
            "arn:{partition}:iam::{}:user/emulator",
            stores.accounts()[0]
        );
        return Err((
            403,
            "AccessDenied",
            format!(
                "User: {caller} is not authorized to perform: sts:AssumeRole on resource: {role_arn} (the emulator plays the accounts {})",
                stores.accounts().join(", ")
            ),
        ));
    }
    let role_id = format!("AROA{}", random_upper(17));
    Ok(AssumedRole {
        assumed_role_id: format!("{role_id}:{session}"),
        arn: format!("arn:{partition}:sts::{account}:assumed-role/{role_name}/{session}"),
        access_key_id: access_key_for(account),
        secret_access_key: random_upper(40),
        session_token: format!("emulator-session-{}", uuid::Uuid::new_v4().simple()),
        expiration: now + Duration::from_secs(duration),
    })
}

fn required<'a>(params: &'a Params, name: &str, member: &str) -> Result<&'a str, Refusal> {
    params.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        (
            400,
            "ValidationError",
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )
    })
}

fn invalid(value: &str, member: &str, constraint: &str) -> Refusal {
    (
        400,
        "ValidationError",
        format!(
            "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
        ),
    )
}

/// `(partition, account, role name)` of `arn:<partition>:iam::<account>:role/<path/><name>`.
fn parse_role_arn(arn: &str) -> Option<(&str, &str, &str)> {
    let [prefix, partition, service, region, account, resource] =
        arn.splitn(6, ':').collect::<Vec<_>>()[..]
    else {
        return None;
    };
    let path = resource.strip_prefix("role/")?;
    let name = path.rsplit('/').next()?;
    let well_formed = prefix == "arn"
        && !partition.is_empty()
        && service == "iam"
        && region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty();
    well_formed.then_some((partition, account, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_name_their_account_and_others_do_not() {
        let key = access_key_for("222222222222");
        assert_eq!(key.len(), 20);
        assert_eq!(account_of(&key), Some("222222222222"));
        assert_eq!(account_of("AKIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(account_of("ASIAIOSFODNN7EXAMPLE"), None);
        assert_eq!(account_of("ASIA2222"), None);
        assert_eq!(account_of("test"), None);
    }

    #[test]
    fn role_arns() {
        assert_eq!(
            parse_role_arn("arn:aws:iam::222222222222:role/ops/cache-admin"),
            Some(("aws", "222222222222", "cache-admin"))
        );
        for bad in [
            "arn:aws:iam::22222222222:role/x",
            "arn:aws:iam::222222222222:user/x",
            "arn:aws:sts::222222222222:role/x",
            "arn:aws:iam:us-east-1:222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "role/x",
        ] {
            assert_eq!(parse_role_arn(bad), None, "{bad}");
        }
    }
}
