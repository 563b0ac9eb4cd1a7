//! The AWS model (botocore's JSON form) and the hand-written overlay, as the generator reads them.

use std::collections::{BTreeMap, BTreeSet};

use indexmap::IndexMap;
use serde::Deserialize;

/// `model/<service>.json`: operations and shapes.
#[derive(Debug, Deserialize)]
pub(crate) struct Model {
    pub(crate) operations: IndexMap<String, Operation>,
    pub(crate) shapes: IndexMap<String, Shape>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Operation {
    pub(crate) input: Option<ShapeRef>,
    pub(crate) output: Option<ShapeRef>,
    #[serde(default)]
    pub(crate) errors: Vec<ShapeRef>,
    pub(crate) documentation: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ShapeRef {
    pub(crate) shape: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Shape {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) members: IndexMap<String, Member>,
    #[serde(default)]
    pub(crate) required: Vec<String>,
    pub(crate) member: Option<Member>,
    #[serde(rename = "enum")]
    pub(crate) values: Option<Vec<String>>,
    pub(crate) min: Option<i64>,
    pub(crate) max: Option<i64>,
    pub(crate) pattern: Option<String>,
    /// The XML element name of a member of this shape, where its member does not say one.
    #[serde(rename = "locationName")]
    pub(crate) location_name: Option<String>,
    #[serde(default)]
    pub(crate) flattened: bool,
    #[serde(default)]
    pub(crate) exception: bool,
    pub(crate) error: Option<ErrorTrait>,
    pub(crate) documentation: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Member {
    pub(crate) shape: String,
    pub(crate) documentation: Option<String>,
    /// The member's XML element name, where it is not the member's own name (`member` for a
    /// list's items).
    #[serde(rename = "locationName")]
    pub(crate) location_name: Option<String>,
    #[serde(default)]
    pub(crate) deprecated: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ErrorTrait {
    pub(crate) code: Option<String>,
}

/// `model/overlay.toml`: what the model does not say.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Overlay {
    /// The model file, relative to `model/`.
    pub(crate) model: String,
    /// Member name → the `Violations` method that checks it (beyond the model's constraints).
    #[serde(default)]
    pub(crate) validators: BTreeMap<String, String>,
    /// `Enum.value` → the SDK's variant name, where the SDK does not name it after the value.
    #[serde(default)]
    pub(crate) sdk_enum_variants: BTreeMap<String, String>,
    /// Faults whose status the name rules do not decide.
    #[serde(default)]
    pub(crate) faults: BTreeMap<String, FaultRule>,
    /// The served operations, in RPC order.
    pub(crate) operation: Vec<OperationOverlay>,
    /// The watched resource kinds, in RPC order.
    #[serde(default)]
    pub(crate) watch: Vec<WatchOverlay>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultRule {
    /// `NOT_FOUND`, `ALREADY_EXISTS`, `RESOURCE_EXHAUSTED`, `INVALID_ARGUMENT` or
    /// `FAILED_PRECONDITION`.
    pub(crate) code: String,
    /// For `FAILED_PRECONDITION`: the resource kind of the violation.
    pub(crate) precondition: Option<String>,
    /// For `NOT_FOUND` / `ALREADY_EXISTS`: the resource kind `ResourceInfo` names.
    pub(crate) resource: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperationOverlay {
    pub(crate) name: String,
    /// Overrides the rule "Describe*/List* are read-only, everything else mutates".
    pub(crate) mutating: Option<bool>,
    /// Member → resource kind of resources the request expects to exist.
    #[serde(default)]
    pub(crate) existing: BTreeMap<String, String>,
    /// Member → resource kind of resources the request creates.
    #[serde(default)]
    pub(crate) created: BTreeMap<String, String>,
    /// The member naming an S3 bucket the operation writes to.
    pub(crate) bucket: Option<String>,
    /// Member → `[min]` or `[min, max]` for integers the model leaves unbounded.
    #[serde(default)]
    pub(crate) ranges: BTreeMap<String, Vec<i64>>,
    /// A repeat of a call whose outcome was unknown is decided by hand-written code
    /// (`src/service/reconcile.rs`); otherwise the facade says it cannot decide.
    #[serde(default)]
    pub(crate) reconciled_by_hand: bool,
}

/// One watched resource kind: see `watch` in `model/overlay.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WatchOverlay {
    /// The resource's shape, which the stream's messages carry.
    pub(crate) kind: String,
    /// The Describe operation that reads one.
    pub(crate) describe: String,
    /// The Describe's request member naming one resource.
    pub(crate) filter: String,
    /// The Describe's response member listing them.
    pub(crate) list: String,
    /// The kind's member holding its name.
    pub(crate) name: String,
    /// The kind's member holding its status.
    pub(crate) status: String,
    /// Statuses the resource stays in until someone acts.
    pub(crate) settled: Vec<String>,
    /// The fault a Describe of a missing one answers.
    pub(crate) not_found: String,
    /// AWS compares its names in lower case.
    #[serde(default)]
    pub(crate) lower_case: bool,
    /// The `kind` metric label (default: the kind in snake case).
    pub(crate) label: Option<String>,
}

/// A member's type, as far as proto and Rust care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    Str,
    Enum(String),
    Int,
    Long,
    Bool,
    Double,
    Timestamp,
    Struct(String),
    List(Box<Ty>),
}

impl Model {
    pub(crate) fn shape(&self, name: &str) -> &Shape {
        self.shapes
            .get(name)
            .unwrap_or_else(|| panic!("the model has no shape {name}"))
    }

    /// The type of a shape.
    pub(crate) fn ty(&self, name: &str) -> Ty {
        let s = self.shape(name);
        match s.kind.as_str() {
            "string" if s.values.is_some() => Ty::Enum(name.to_owned()),
            "string" => Ty::Str,
            "integer" => Ty::Int,
            "long" => Ty::Long,
            "boolean" => Ty::Bool,
            "double" | "float" => Ty::Double,
            "timestamp" => Ty::Timestamp,
            "structure" => Ty::Struct(name.to_owned()),
            "list" => {
                let m = s.member.as_ref().expect("a list has a member");
                Ty::List(Box::new(self.ty(&m.shape)))
            }
            other => panic!("shape {name}: type {other} is not supported yet"),
        }
    }

    /// Structures and enums reachable from `root` (not `root` itself), into `structs`/`enums`.
    pub(crate) fn reach(
        &self,
        root: &str,
        structs: &mut BTreeSet<String>,
        enums: &mut BTreeSet<String>,
    ) {
        for m in self.shape(root).members.values() {
            self.reach_ty(&self.ty(&m.shape), structs, enums);
        }
    }

    fn reach_ty(&self, ty: &Ty, structs: &mut BTreeSet<String>, enums: &mut BTreeSet<String>) {
        match ty {
            Ty::Struct(s) if structs.insert(s.clone()) => self.reach(s, structs, enums),
            Ty::Enum(e) => {
                enums.insert(e.clone());
            }
            Ty::List(inner) => self.reach_ty(inner, structs, enums),
            _ => {}
        }
    }
}

impl Model {
    /// The XML element of member `name` (`m`) of a structure, as AWS writes it on the wire: the
    /// member's `locationName`, else its target shape's (botocore and the other model-driven
    /// SDKs read a list's own `locationName` so), else the member's name.
    pub(crate) fn wire_name<'a>(&'a self, name: &'a str, m: &'a Member) -> &'a str {
        m.location_name
            .as_deref()
            .or(self.shape(&m.shape).location_name.as_deref())
            .unwrap_or(name)
    }

    /// The XML element of each item of list `shape`.
    pub(crate) fn item_name(&self, shape: &str) -> &str {
        let s = self.shape(shape);
        assert!(
            !s.flattened,
            "{shape}: flattened lists are not supported yet"
        );
        s.member
            .as_ref()
            .and_then(|m| m.location_name.as_deref())
            .unwrap_or("member")
    }
}

impl OperationOverlay {
    pub(crate) fn mutating(&self) -> bool {
        self.mutating
            .unwrap_or(!(self.name.starts_with("Describe") || self.name.starts_with("List")))
    }
}

impl Overlay {
    /// The SDK's variant of `value` of enum `shape`.
    pub(crate) fn sdk_variant(&self, shape: &str, value: &str) -> String {
        self.sdk_enum_variants
            .get(&format!("{shape}.{value}"))
            .cloned()
            .unwrap_or_else(|| crate::names::pascal(value))
    }
}

/// prost's variant of `value` (the proto value name without the enum's prefix, in UpperCamel).
pub(crate) fn pb_variant(value: &str) -> String {
    crate::names::pascal(&crate::names::screaming(value))
}
