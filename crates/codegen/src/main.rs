//! Writes the proto contract and the per-operation Rust code from ElastiCache's model
//! (`model/elasticache-*.json`) and the hand-written overlay (`model/overlay.toml`).
//!
//! `cargo run -p codegen` rewrites the generated files; `cargo run -p codegen -- --check` fails
//! when a committed file differs from what the model and the overlay give (CI runs it).

mod fixtures;
mod model;
mod names;
mod proto;
mod rust;
mod watch;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use model::{Model, Operation, OperationOverlay, Overlay};

/// A modelled fault and the status it maps to.
#[derive(Debug)]
pub(crate) struct FaultInfo {
    /// Shape name (also the SDK's error variant and the proto message).
    pub(crate) name: String,
    /// The code AWS sends on the wire.
    pub(crate) wire_code: String,
    /// The `tonic::Code` variant.
    pub(crate) code: &'static str,
    /// The `Detail` expression.
    pub(crate) detail: String,
    /// The resource kind the detail names, if any.
    pub(crate) kind: Option<String>,
}

/// Everything the generators read.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) model: Model,
    pub(crate) overlay: Overlay,
    pub(crate) numbers: proto::Numbers,
    /// Structures reachable from the served operations' inputs and outputs.
    pub(crate) structs: BTreeSet<String>,
    /// Structures reachable from inputs (converted proto → SDK).
    pub(crate) input_structs: BTreeSet<String>,
    /// Structures reachable from outputs (converted SDK → proto).
    pub(crate) output_structs: BTreeSet<String>,
    pub(crate) enums: BTreeSet<String>,
    pub(crate) faults: Vec<FaultInfo>,
    /// Resource kinds, sorted.
    pub(crate) kinds: BTreeSet<String>,
    /// Served operations with their model entries, in RPC order.
    pub(crate) ops: Vec<(OperationOverlay, Operation)>,
}

fn fault_rule(
    name: &str,
    overlay: &Overlay,
) -> Result<(&'static str, String, Option<String>), String> {
    if let Some(rule) = overlay.faults.get(name) {
        let code = match rule.code.as_str() {
            "NOT_FOUND" => "NotFound",
            "ALREADY_EXISTS" => "AlreadyExists",
            "RESOURCE_EXHAUSTED" => "ResourceExhausted",
            "INVALID_ARGUMENT" => "InvalidArgument",
            "FAILED_PRECONDITION" => "FailedPrecondition",
            other => return Err(format!("fault {name}: unknown code {other}")),
        };
        let (detail, kind) = match (code, &rule.precondition, &rule.resource) {
            ("FailedPrecondition", Some(k), _) => {
                (format!("PreconditionFailure({k})"), Some(k.clone()))
            }
            ("NotFound" | "AlreadyExists", _, Some(k)) => {
                (format!("ResourceInfo({k})"), Some(k.clone()))
            }
            ("ResourceExhausted", _, _) => ("QuotaFailure".into(), None),
            ("InvalidArgument", _, _) => ("BadRequest".into(), None),
            _ => {
                return Err(format!(
                    "fault {name}: {code} needs its resource kind in the overlay"
                ));
            }
        };
        return Ok((code, detail, kind));
    }
    let base = name
        .strip_suffix("Fault")
        .or_else(|| name.strip_suffix("Exception"))
        .unwrap_or(name);
    if let Some(kind) = base.strip_suffix("NotFound") {
        return Ok((
            "NotFound",
            format!("ResourceInfo({kind})"),
            Some(kind.into()),
        ));
    }
    if let Some(kind) = base.strip_suffix("AlreadyExists") {
        return Ok((
            "AlreadyExists",
            format!("ResourceInfo({kind})"),
            Some(kind.into()),
        ));
    }
    if base.contains("Quota") || base.ends_with("Exceeded") {
        return Ok(("ResourceExhausted", "QuotaFailure".into(), None));
    }
    if let Some(kind) = base
        .strip_prefix("Invalid")
        .and_then(|k| k.strip_suffix("State"))
    {
        return Ok((
            "FailedPrecondition",
            format!("PreconditionFailure({kind})"),
            Some(kind.into()),
        ));
    }
    if base.starts_with("Invalid") {
        return Ok(("InvalidArgument", "BadRequest".into(), None));
    }
    let in_state = ["InUse", "AlreadyUnderMigration", "NotUnderMigration"]
        .iter()
        .find_map(|suffix| base.strip_suffix(suffix));
    if let Some(kind) = in_state {
        return Ok((
            "FailedPrecondition",
            format!("PreconditionFailure({kind})"),
            Some(kind.into()),
        ));
    }
    Err(format!(
        "fault {name}: no rule decides its status; add it to [faults] in model/overlay.toml"
    ))
}

impl Context {
    fn new(root: &Path) -> Result<Context, String> {
        let overlay_text = std::fs::read_to_string(root.join("model/overlay.toml"))
            .map_err(|e| format!("model/overlay.toml: {e}"))?;
        let overlay: Overlay =
            toml::from_str(&overlay_text).map_err(|e| format!("model/overlay.toml: {e}"))?;
        let model_path = root.join("model").join(&overlay.model);
        let model: Model = serde_json::from_str(
            &std::fs::read_to_string(&model_path)
                .map_err(|e| format!("{}: {e}", model_path.display()))?,
        )
        .map_err(|e| format!("{}: {e}", model_path.display()))?;
        let mut input_structs = BTreeSet::new();
        let mut output_structs = BTreeSet::new();
        let mut enums = BTreeSet::new();
        let mut fault_names = BTreeSet::new();
        let mut ops = Vec::new();
        let mut seen = BTreeSet::new();
        for o in &overlay.operation {
            if !seen.insert(o.name.clone()) {
                return Err(format!(
                    "operation {} is listed twice in the overlay",
                    o.name
                ));
            }
            let op = model.operations.get(&o.name).ok_or_else(|| {
                format!("operation {} of the overlay is not in the model", o.name)
            })?;
            if let Some(i) = &op.input {
                model.reach(&i.shape, &mut input_structs, &mut enums);
            }
            if let Some(out) = &op.output {
                model.reach(&out.shape, &mut output_structs, &mut enums);
            }
            fault_names.extend(op.errors.iter().map(|e| e.shape.clone()));
            for member in o
                .existing
                .keys()
                .chain(o.created.keys())
                .chain(o.bucket.iter())
                .chain(o.ranges.keys())
            {
                let has = op
                    .input
                    .as_ref()
                    .is_some_and(|i| model.shape(&i.shape).members.contains_key(member));
                if !has {
                    return Err(format!("overlay: {} has no input member {member}", o.name));
                }
            }
            ops.push((o.clone(), op.clone()));
        }
        let mut kinds = BTreeSet::new();
        let mut faults = Vec::new();
        for name in fault_names {
            let shape = model.shape(&name);
            if !shape.exception {
                return Err(format!(
                    "{name} is listed as an error but is not an exception shape"
                ));
            }
            let wire_code = shape
                .error
                .as_ref()
                .and_then(|e| e.code.clone())
                .unwrap_or_else(|| name.clone());
            let (code, detail, kind) = fault_rule(&name, &overlay)?;
            kinds.extend(kind.clone());
            faults.push(FaultInfo {
                name,
                wire_code,
                code,
                detail,
                kind,
            });
        }
        // The request member naming each resource a fault can be about, where the overlay does
        // not say: `<Kind>Id`/`<Kind>Name` (or a list of them), `Source…` existing and `Target…`
        // created; in a Create<Kind> operation the member naming <Kind> is the one created.
        for (o, op) in &mut ops {
            let Some(input) = &op.input else { continue };
            let members: Vec<String> = model.shape(&input.shape).members.keys().cloned().collect();
            let op_kinds: BTreeSet<String> = op
                .errors
                .iter()
                .filter_map(|e| faults.iter().find(|f| f.name == e.shape))
                .filter_map(|f| f.kind.clone())
                .collect();
            for kind in op_kinds {
                if o.existing
                    .values()
                    .chain(o.created.values())
                    .any(|k| *k == kind)
                {
                    continue;
                }
                for member in &members {
                    let bare = member
                        .strip_prefix("Source")
                        .or_else(|| member.strip_prefix("Target"))
                        .unwrap_or(member);
                    let names = [
                        format!("{kind}Id"),
                        format!("{kind}Name"),
                        format!("{kind}Ids"),
                        format!("{kind}Names"),
                    ];
                    if !names.iter().any(|n| n == bare) {
                        continue;
                    }
                    let own = o.name.strip_prefix("Create") == Some(kind.as_str());
                    let created = member.starts_with("Target") || (own && bare == member);
                    let list = if created {
                        &mut o.created
                    } else {
                        &mut o.existing
                    };
                    list.insert(member.clone(), kind.clone());
                }
            }
        }
        for (o, _) in &ops {
            kinds.extend(o.existing.values().cloned());
            kinds.extend(o.created.values().cloned());
        }
        let structs = input_structs.union(&output_structs).cloned().collect();
        Ok(Context {
            numbers: proto::Numbers::read(&root.join("proto")),
            model,
            overlay,
            structs,
            input_structs,
            output_structs,
            enums,
            faults,
            kinds,
            ops,
        })
    }
}

fn rustfmt(source: &str) -> Result<String, String> {
    let mut child = Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
        .args(["--edition", "2024", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("running rustfmt: {e}"))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(source.as_bytes())
        .map_err(|e| format!("writing to rustfmt: {e}"))?;
    let out = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "rustfmt failed:\n{}\n--- input ---\n{source}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("rustfmt output: {e}"))
}

fn run() -> Result<bool, String> {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            return Err(format!(
                "unknown argument {other}; usage: codegen [--check]"
            ));
        }
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cx = Context::new(&root)?;
    cx.check_watches()?;
    let extra = std::fs::read_to_string(root.join("model/service-extra.proto")).unwrap_or_default();
    let mut files: Vec<(&str, String)> = vec![
        ("proto/elasticache/v1/types.proto", cx.types_proto()),
        ("proto/elasticache/v1/faults.proto", cx.faults_proto()),
        (
            "proto/elasticache/v1/service.proto",
            cx.service_proto(&extra),
        ),
    ];
    for (path, source) in cx.rust_files() {
        files.push((path, rustfmt(&source)?));
    }
    let mut same = true;
    for (path, content) in &files {
        let full = root.join(path);
        let old = std::fs::read_to_string(&full).unwrap_or_default();
        if old == *content {
            continue;
        }
        same = false;
        if check {
            eprintln!("{path} differs from what model/ generates; run `cargo run -p codegen`");
        } else {
            std::fs::write(&full, content).map_err(|e| format!("{path}: {e}"))?;
            eprintln!("wrote {path}");
        }
    }
    Ok(same || !check)
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("codegen: {e}");
            ExitCode::from(2)
        }
    }
}
