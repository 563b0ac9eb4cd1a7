//! The XML ElastiCache answers with: the `…Response`/`…Result` envelope, `ErrorResponse`, and
//! ISO 8601 timestamps with milliseconds (`2024-01-02T03:04:05.678Z`).

use std::fmt::{Display, Write as _};
use std::time::{SystemTime, UNIX_EPOCH};

/// The namespace of every ElastiCache response document.
pub(crate) const NAMESPACE: &str = "http://elasticache.amazonaws.com/doc/2015-02-02/";

/// Writes compact XML; element content is escaped, names are trusted constants.
#[derive(Debug, Default)]
pub(crate) struct XmlWriter {
    out: String,
}

impl XmlWriter {
    /// `<name>…</name>` with the children `body` writes.
    pub(crate) fn element(&mut self, name: &str, body: impl FnOnce(&mut Self)) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        body(self);
        self.close(name);
    }

    /// `<name>text</name>`.
    pub(crate) fn text(&mut self, name: &str, text: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.close(name);
    }

    /// `<name>text</name>`, or nothing for `None` (ElastiCache omits unset members).
    pub(crate) fn opt_text(&mut self, name: &str, text: Option<&str>) {
        if let Some(text) = text {
            self.text(name, text);
        }
    }

    /// `<name>value</name>` for numbers and other values that need no escaping.
    pub(crate) fn value(&mut self, name: &str, value: impl Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.out, "<{name}>{value}</{name}>");
    }

    /// A list whose items are `<member_name>text</member_name>`.
    pub(crate) fn text_list(&mut self, name: &str, member: &str, items: &[String]) {
        self.element(name, |xml| {
            for item in items {
                xml.text(member, item);
            }
        });
    }

    pub(crate) fn timestamp(&mut self, name: &str, at: SystemTime) {
        self.value(name, timestamp(at));
    }

    pub(crate) fn finish(self) -> String {
        self.out
    }

    fn close(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }
}

/// `<ActionResponse xmlns=…><ActionResult>…</ActionResult><ResponseMetadata>…`.
pub(crate) fn success_document(
    action: &str,
    request_id: &str,
    result: impl FnOnce(&mut XmlWriter),
) -> String {
    success_document_in(NAMESPACE, action, request_id, result)
}

/// [`success_document`] of another Query API (STS).
pub(crate) fn success_document_in(
    namespace: &str,
    action: &str,
    request_id: &str,
    result: impl FnOnce(&mut XmlWriter),
) -> String {
    let mut xml = XmlWriter::default();
    let _ = write!(xml.out, "<{action}Response xmlns=\"{namespace}\">");
    xml.element(&format!("{action}Result"), result);
    xml.element("ResponseMetadata", |xml| xml.text("RequestId", request_id));
    xml.close(&format!("{action}Response"));
    xml.finish()
}

/// `<ActionResponse xmlns=…><ResponseMetadata>…`: the answer of an action without output
/// (`DeleteCacheParameterGroup`, `DeleteCacheSubnetGroup`).
pub(crate) fn bare_document(action: &str, request_id: &str) -> String {
    let mut xml = XmlWriter::default();
    let _ = write!(xml.out, "<{action}Response xmlns=\"{NAMESPACE}\">");
    xml.element("ResponseMetadata", |xml| xml.text("RequestId", request_id));
    xml.close(&format!("{action}Response"));
    xml.finish()
}

/// The `ErrorResponse` of a fault; `Type` is `Receiver` for server-side (5xx) faults.
pub(crate) fn error_document(status: u16, code: &str, message: &str, request_id: &str) -> String {
    error_document_in(NAMESPACE, status, code, message, request_id)
}

/// [`error_document`] of another Query API (STS).
pub(crate) fn error_document_in(
    namespace: &str,
    status: u16,
    code: &str,
    message: &str,
    request_id: &str,
) -> String {
    let mut xml = XmlWriter::default();
    let _ = write!(xml.out, "<ErrorResponse xmlns=\"{namespace}\">");
    xml.element("Error", |xml| {
        xml.text("Type", if status >= 500 { "Receiver" } else { "Sender" });
        xml.text("Code", code);
        xml.text("Message", message);
    });
    xml.text("RequestId", request_id);
    xml.close("ErrorResponse");
    xml.finish()
}

/// UTC ISO 8601 with milliseconds, the way ElastiCache writes `CreateTime`.
pub(crate) fn timestamp(at: SystemTime) -> String {
    let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        since_epoch.subsec_millis(),
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Carriage returns would be normalised away by the reader; keep them.
            '\r' => out.push_str("&#13;"),
            // Only injected messages can hold these; keep the document well-formed.
            c if !is_xml_char(c) => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
}

/// Characters allowed in an XML 1.0 document.
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}
