//! Generated tests (`src/generated/tests.rs`, included by `src/service/tests.rs`): for every
//! served operation a request and an output with every member set, converted both ways, and
//! every modelled fault through a mocked SDK to the status the caller gets.

use std::fmt::Write as _;

use crate::Context;
use crate::model::Ty;
use crate::names::{pascal, rust_field, snake};

/// A value of one member: its proto expression (bare, not wrapped for presence) and its SDK
/// expression.
struct Value {
    pb: String,
    sdk: String,
    /// The string itself, for a string or a list of strings.
    text: Option<String>,
    /// The element's content as AWS writes it in a Query protocol response.
    xml: String,
}

/// `s` as XML text.
fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Seconds since the epoch as AWS's `date-time` timestamp text (`2023-11-14T22:13:20Z`).
fn iso8601(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days to a civil date (H. Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Members filled by the output fixtures.
#[derive(Debug, Default)]
struct Coverage {
    /// `Shape.Member` of every member filled, at any depth.
    filled: std::collections::BTreeSet<String>,
    /// Members filled, counted at every depth and in every operation.
    occurrences: usize,
}

/// `ErrorInfo.reason` of an AWS code, written independently of `src/aws/fault.rs`: words in
/// capitals, `Fault`/`Exception` dropped.
fn reason(code: &str) -> String {
    let trimmed = code
        .strip_suffix("Fault")
        .or_else(|| code.strip_suffix("Exception"))
        .filter(|s| !s.is_empty())
        .unwrap_or(code);
    crate::names::screaming(trimmed)
}

impl Context {
    /// A string for `member` that the model's pattern and length of `shape` accept.
    fn string_value(&self, member: &str, shape: &str, k: i64) -> String {
        let target = self.model.shape(shape);
        let kebab = format!("{}-{k}", snake(member).replace('_', "-"));
        let letters: String = snake(member)
            .chars()
            .filter(char::is_ascii_alphabetic)
            .collect();
        let candidates = [kebab, letters, format!("{}", k % 1000)];
        let fits = |c: &String| {
            let len = i64::try_from(c.chars().count()).unwrap_or(i64::MAX);
            target.min.is_none_or(|m| len >= m)
                && target.max.is_none_or(|m| len <= m)
                && target.pattern.as_ref().is_none_or(|p| {
                    regex::Regex::new(&format!("^(?:{p})$"))
                        .unwrap_or_else(|e| panic!("{shape}: pattern {p}: {e}"))
                        .is_match(c)
                })
        };
        candidates
            .iter()
            .find(|c| fits(c))
            .cloned()
            .unwrap_or_else(|| panic!("{shape}: no fixture value fits its pattern and length"))
    }

    fn value(
        &self,
        ty: &Ty,
        shape: &str,
        member: &str,
        n: &mut i64,
        range: Option<&Vec<i64>>,
        depth: usize,
    ) -> Value {
        *n += 1;
        let k = *n;
        match ty {
            Ty::Str => {
                let s = self.string_value(member, shape, k);
                Value {
                    pb: format!("{s:?}.into()"),
                    sdk: format!("{s:?}.to_owned()"),
                    xml: xml_escape(&s),
                    text: Some(s),
                }
            }
            Ty::Enum(e) => {
                let values = self.model.shape(e).values.clone().unwrap_or_default();
                let last = values.last().expect("an enum has values");
                let t = pascal(e);
                Value {
                    pb: format!("pb::{t}::{} as i32", crate::model::pb_variant(last)),
                    sdk: format!("sdk::{t}::{}", self.overlay.sdk_variant(e, last)),
                    text: None,
                    xml: xml_escape(last),
                }
            }
            Ty::Int | Ty::Long => {
                let v = range
                    .and_then(|r| r.first().copied())
                    .or(self.model.shape(shape).min)
                    .unwrap_or(100 + k);
                Value {
                    pb: v.to_string(),
                    sdk: v.to_string(),
                    text: None,
                    xml: v.to_string(),
                }
            }
            Ty::Double => Value {
                pb: format!("{k}.5"),
                sdk: format!("{k}.5"),
                text: None,
                xml: format!("{k}.5"),
            },
            Ty::Bool => Value {
                pb: "true".into(),
                sdk: "true".into(),
                text: None,
                xml: "true".into(),
            },
            Ty::Timestamp => Value {
                pb: format!(
                    "prost_types::Timestamp {{ seconds: {}, nanos: 0 }}",
                    1_700_000_000 + k
                ),
                sdk: format!(
                    "aws_smithy_types::DateTime::from_secs({})",
                    1_700_000_000 + k
                ),
                text: None,
                xml: iso8601(1_700_000_000 + k),
            },
            Ty::Struct(s) => {
                let (pb, setters, xml) = self.members(Some(s), false, n, None, depth + 1);
                let t = pascal(s);
                Value {
                    pb: format!("pb::{t} {{ {pb} }}"),
                    sdk: format!("sdk::{t}::builder(){setters}.build()"),
                    text: None,
                    xml,
                }
            }
            Ty::List(inner) => {
                let element = &self
                    .model
                    .shape(shape)
                    .member
                    .as_ref()
                    .expect("a list has a member")
                    .shape;
                let v = self.value(inner, element, member, n, range, depth);
                let item = self.model.item_name(shape);
                Value {
                    pb: format!("vec![{}]", v.pb),
                    sdk: format!("vec![{}]", v.sdk),
                    text: v.text,
                    xml: format!("<{item}>{}</{item}>", v.xml),
                }
            }
        }
    }

    /// Every member of `shape` set: proto field initialisers, SDK setter calls, and the members
    /// as AWS's XML elements.
    fn members(
        &self,
        shape: Option<&str>,
        request: bool,
        n: &mut i64,
        ranges: Option<&std::collections::BTreeMap<String, Vec<i64>>>,
        depth: usize,
    ) -> (String, String, String) {
        let (mut pb, mut sdk, mut xml) = (String::new(), String::new(), String::new());
        let Some(shape) = shape else {
            return (pb, sdk, xml);
        };
        assert!(
            depth < 8,
            "{shape}: recursive structures are not supported yet"
        );
        let s = self.model.shape(shape);
        for (member, m) in &s.members {
            let ty = self.model.ty(&m.shape);
            let v = self.value(
                &ty,
                &m.shape,
                member,
                n,
                ranges.and_then(|r| r.get(member)),
                depth,
            );
            let plain = request && s.required.contains(member) && ty == Ty::Str;
            let pb_value = match ty {
                Ty::List(_) => v.pb,
                _ if plain => v.pb,
                _ => format!("Some({})", v.pb),
            };
            let _ = write!(pb, "{}: {pb_value},", rust_field(member));
            let _ = write!(sdk, ".set_{}(Some({}))", snake(member), v.sdk);
            let element = self.model.wire_name(member, m);
            let _ = write!(xml, "<{element}>{}</{element}>", v.xml);
        }
        (pb, sdk, xml)
    }

    /// What the output fixtures fill: the walk of `members`, counted.
    fn cover(&self, shape: &str, c: &mut Coverage) {
        for (member, m) in &self.model.shape(shape).members {
            c.filled.insert(format!("{shape}.{member}"));
            c.occurrences += 1;
            let mut ty = self.model.ty(&m.shape);
            while let Ty::List(inner) = ty {
                ty = *inner;
            }
            if let Ty::Struct(s) = ty {
                self.cover(&s, c);
            }
        }
    }

    /// Members of the structures the served operations' outputs reach (the outputs included).
    fn output_members(&self) -> usize {
        self.ops
            .iter()
            .filter_map(|(_, op)| op.output.as_ref().map(|o| o.shape.as_str()))
            .chain(self.output_structs.iter().map(String::as_str))
            .collect::<std::collections::BTreeSet<_>>()
            .iter()
            .map(|s| self.model.shape(s).members.len())
            .sum()
    }

    /// The value the full request of `op` gives `member` (the same walk as `members`).
    fn request_values(
        &self,
        input: Option<&str>,
        ranges: &std::collections::BTreeMap<String, Vec<i64>>,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let Some(shape) = input else { return out };
        let mut n = 0;
        for (member, m) in &self.model.shape(shape).members {
            let ty = self.model.ty(&m.shape);
            if let Some(text) = self
                .value(&ty, &m.shape, member, &mut n, ranges.get(member), 0)
                .text
            {
                out.push((member.clone(), text));
            }
        }
        out
    }

    pub(crate) fn tests_rs(&self) -> String {
        let mut coverage = Coverage::default();
        let mut out = String::from(crate::rust::HEADER);
        out.push_str("use aws_sdk_elasticache::operation as sdk_op;\n\n");
        for (o, op) in &self.ops {
            let n = &o.name;
            let m = snake(n);
            let input = op.input.as_ref().map(|r| r.shape.as_str());
            let output = op.output.as_ref().map(|r| r.shape.as_str());
            let mut k = 0;
            let (req_pb, req_sdk, _) = self.members(input, true, &mut k, Some(&o.ranges), 0);
            let mut k = 0;
            let (out_pb, _, out_xml) = self.members(output, false, &mut k, None, 0);
            if let Some(output) = output {
                self.cover(output, &mut coverage);
            }
            let result = if output.is_some() {
                format!("<{n}Result>{out_xml}</{n}Result>")
            } else {
                String::new()
            };
            let wire = format!(
                "<{n}Response xmlns=\"{XMLNS}\">{result}<ResponseMetadata><RequestId>{WIRE_REQUEST_ID}</RequestId></ResponseMetadata></{n}Response>"
            );
            let _ = writeln!(
                out,
                "/// The {n} request with every member set (valid, so it reaches the SDK).\nfn full_{m}_request() -> pb::{n}Request {{\n    pb::{n}Request {{ {req_pb}{} }}\n}}\n",
                if o.mutating() {
                    "request_id: None,"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                out,
                "/// {n}'s response as AWS writes it, with every member at every depth filled.\nconst {}_WIRE: &str = {wire:?};\n",
                m.to_uppercase()
            );
            let _ = writeln!(
                out,
                "/// The request reaches the SDK with every member, and AWS's response, parsed by the SDK, reaches\n/// the caller with every member.\n#[tokio::test]\nasync fn generated_{m}_converts_every_member_both_ways() {{\n    let sent = crate::convert::ToSdk::to_sdk(full_{m}_request(), mocked(&[]).{m}())\n        .as_input()\n        .clone()\n        .build()\n        .unwrap();\n    let want = sdk_op::{m}::{n}Input::builder(){req_sdk}.build().unwrap();\n    assert_eq!(sent, want);\n    let got = service(wire_client({}_WIRE))\n        .handle(request(full_{m}_request()))\n        .await\n        .unwrap()\n        .into_inner();\n    assert_eq!(got, pb::{n}Response {{ {out_pb} }});\n}}\n",
                m.to_uppercase()
            );
            // Faults.
            let values = self.request_values(input, &o.ranges);
            let name_of = |kind: &str,
                           first: &std::collections::BTreeMap<String, String>,
                           second: &std::collections::BTreeMap<String, String>|
             -> String {
                for list in [first, second] {
                    for (member, k) in list {
                        if k == kind
                            && let Some((_, v)) = values.iter().find(|(mm, _)| mm == member)
                        {
                            return v.clone();
                        }
                    }
                }
                // The tag operations name their resource by ARN, whatever its kind.
                o.existing
                    .iter()
                    .find(|(_, k)| *k == "Arn")
                    .and_then(|(member, _)| values.iter().find(|(mm, _)| mm == member))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default()
            };
            let mut errors: Vec<&str> = op.errors.iter().map(|e| e.shape.as_str()).collect();
            errors.sort_unstable();
            if errors.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "#[tokio::test]\nasync fn generated_{m}_faults() {{\n    use aws_sdk_elasticache::types::error as f;\n    use sdk_op::{m}::{n}Error as E;\n    type Case = (&'static str, (&'static str, Code, &'static str), Want, fn() -> E);\n    let cases: [Case; {}] = [",
                errors.len()
            );
            for f in errors {
                let info = self
                    .faults
                    .iter()
                    .find(|x| x.name == f)
                    .expect("classified");
                let kind_str = |k: &str| {
                    if self.structs.contains(k) {
                        format!("elasticache.v1.{k}")
                    } else {
                        k.to_owned()
                    }
                };
                let want = if let Some(k) = info
                    .detail
                    .strip_prefix("ResourceInfo(")
                    .and_then(|d| d.strip_suffix(')'))
                {
                    let name = if info.code == "AlreadyExists" {
                        name_of(k, &o.created, &o.existing)
                    } else {
                        name_of(k, &o.existing, &o.created)
                    };
                    format!("Resource({:?}, {name:?})", kind_str(k))
                } else if let Some(k) = info
                    .detail
                    .strip_prefix("PreconditionFailure(")
                    .and_then(|d| d.strip_suffix(')'))
                {
                    format!(
                        "Precondition({:?}, {:?})",
                        kind_str(k),
                        name_of(k, &o.existing, &o.created)
                    )
                } else if info.detail == "QuotaFailure" {
                    "Quota".into()
                } else {
                    "BadRequest".into()
                };
                let _ = writeln!(
                    out,
                    "        ({f:?}, ({:?}, Code::{}, {:?}), {want}, || E::{v}(f::{v}::builder().message(FAULT_MESSAGE).build())),",
                    info.wire_code,
                    info.code,
                    reason(&info.wire_code),
                    v = pascal(f),
                );
            }
            let _ = writeln!(
                out,
                "    ];\n    for (fault, row, want, make) in cases {{\n        let rule = mock!(aws_sdk_elasticache::Client::{m}).then_error(make);\n        let status = service(mocked(&[&rule]))\n            .handle(request(full_{m}_request()))\n            .await\n            .unwrap_err();\n        assert_eq!(rule.num_calls(), 1, \"{{fault}}\");\n        assert_fault(&status, fault, {n:?}, row, want);\n    }}\n}}\n"
            );
        }
        for (o, op) in &self.ops {
            let Some(input) = &op.input else { continue };
            let shape = self.model.shape(&input.shape);
            if shape.required.is_empty() {
                continue;
            }
            let n = &o.name;
            let m = snake(n);
            let mut cases = String::new();
            for member in &shape.required {
                let field = rust_field(member);
                let _ = writeln!(
                    cases,
                    "        ({:?}, |r: &mut pb::{n}Request| r.{field} = Default::default()),",
                    snake(member)
                );
            }
            let _ = writeln!(
                out,
                "/// Every required member of {n}, left out, is refused before AWS is called.\n#[tokio::test]\nasync fn generated_{m}_refuses_a_missing_required_member() {{\n    let rule = mock!(aws_sdk_elasticache::Client::{m})\n        .then_output(|| sdk_op::{m}::{n}Output::builder().build());\n    let svc = service(mocked(&[&rule]));\n    type Clear = fn(&mut pb::{n}Request);\n    let cases: [(&str, Clear); {}] = [\n{cases}    ];\n    for (field, clear) in cases {{\n        let mut r = full_{m}_request();\n        clear(&mut r);\n        let status = svc.handle(request(r)).await.unwrap_err();\n        assert_eq!(status.code(), Code::InvalidArgument, \"{{field}}: {{status:?}}\");\n        let details = status.get_error_details();\n        let violations = &details.bad_request().expect(field).field_violations;\n        assert_eq!(violations.len(), 1, \"{{field}}: {{violations:?}}\");\n        assert_eq!(violations[0].field, field);\n        assert_eq!(violations[0].description, \"is required\");\n    }}\n    assert_eq!(rule.num_calls(), 0);\n}}\n",
                shape.required.len()
            );
        }
        let _ = writeln!(
            out,
            "// Output fixtures: {} of the {} members of the structures the served operations answer\n// with are filled, at every depth; {} members in all.",
            coverage.filled.len(),
            self.output_members(),
            coverage.occurrences,
        );
        out
    }
}

/// The XML namespace of ElastiCache's responses.
const XMLNS: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// The request id the wire fixtures carry.
const WIRE_REQUEST_ID: &str = "5f0e2a8c-wire-fixture";
