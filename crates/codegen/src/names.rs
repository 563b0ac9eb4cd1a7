//! Names: the model's PascalCase shape and member names in the spellings proto, prost and the
//! Rust SDK use, and the model's HTML documentation as plain text.

/// Splits a model name into words the way the Rust SDK does: `S3BucketName` → `S3 Bucket Name`,
/// `ECPUPerSecond` → `ECPU Per Second`, `PreferredCacheClusterAZs` → `… AZs`, `sse-kms` → `sse kms`.
pub(crate) fn words(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = part.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let start = i;
            let upper = |j: usize| chars.get(j).is_some_and(|c| c.is_ascii_uppercase());
            let lower = |j: usize| chars.get(j).is_some_and(|c| c.is_ascii_lowercase());
            let digit = |j: usize| chars.get(j).is_some_and(|c| c.is_ascii_digit());
            if upper(i) {
                // A run of capitals (with digits): an acronym, unless its last capital starts a
                // lower-case word. A plural acronym ("AZs") keeps its "s".
                let mut j = i;
                while upper(j) || digit(j) {
                    j += 1;
                }
                if j - i > 1 && lower(j) {
                    if chars[j] == 's' && (j + 1 == chars.len() || upper(j + 1)) {
                        i = j + 1;
                    } else if upper(j - 1) {
                        i = j - 1;
                    } else {
                        i = j;
                    }
                } else if j - i == 1 {
                    // One capital starts a word: take the lower-case letters and digits after it.
                    j = i + 1;
                    while lower(j) || digit(j) {
                        j += 1;
                    }
                    i = j;
                } else {
                    i = j;
                }
            } else {
                let mut j = i;
                while lower(j) || digit(j) {
                    j += 1;
                }
                i = j.max(i + 1);
            }
            out.push(chars[start..i].iter().collect());
        }
    }
    out
}

/// `snake_case`, as the SDK names members and modules.
pub(crate) fn snake(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| w.to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join("_")
}

/// `SCREAMING_SNAKE_CASE`, as proto enum values are spelled.
pub(crate) fn screaming(name: &str) -> String {
    snake(name).to_ascii_uppercase()
}

/// `PascalCase` with acronyms lowered (`ECPUPerSecond` → `EcpuPerSecond`): the SDK's type and
/// enum variant names, and prost's.
pub(crate) fn pascal(name: &str) -> String {
    words(name)
        .iter()
        .map(|w| {
            let lower = w.to_ascii_lowercase();
            let mut c = lower.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A Rust identifier for a field, escaping keywords as the SDK does.
pub(crate) fn rust_field(name: &str) -> String {
    let s = snake(name);
    match s.as_str() {
        "type" | "match" | "enum" | "struct" | "ref" | "mod" | "fn" | "impl" | "loop" | "move"
        | "self" | "static" | "use" | "where" | "async" | "await" | "dyn" | "box" | "crate" => {
            format!("r#{s}")
        }
        _ => s,
    }
}

/// The model's HTML documentation as plain-text paragraphs.
pub(crate) fn doc_paragraphs(html: &str) -> Vec<String> {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('>') else {
            rest = &rest[open..];
            break;
        };
        let tag = rest[open + 1..open + close].trim().to_ascii_lowercase();
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("");
        match name {
            "p" | "ul" | "ol" | "note" | "important" | "br" | "div" | "dl"
                if !text.ends_with("- ") =>
            {
                text.push_str("\n\n");
            }
            "li" | "dt" | "dd" if !tag.starts_with('/') => text.push_str("\n\n- "),
            "code" => text.push('`'),
            _ => {}
        }
        rest = &rest[open + close + 1..];
    }
    text.push_str(rest);
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&");
    text.split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|p| !p.is_empty() && p != "-")
        .collect()
}

/// Comment lines (`// …`, wrapped at 100 columns) for `paragraphs` at `indent` spaces.
pub(crate) fn comment(paragraphs: &[String], indent: usize) -> String {
    let width = 100usize.saturating_sub(indent + 3).max(40);
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (i, p) in paragraphs.iter().enumerate() {
        if i > 0 {
            out.push_str(&format!("{pad}//\n"));
        }
        let mut line = String::new();
        for word in p.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > width {
                out.push_str(&format!("{pad}// {line}\n"));
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        out.push_str(&format!("{pad}// {line}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_sdk() {
        for (model, want) in [
            ("S3BucketName", "s3_bucket_name"),
            ("ECPUPerSecond", "ecpu_per_second"),
            ("PreferredCacheClusterAZs", "preferred_cache_cluster_azs"),
            ("EC2SecurityGroupOwnerId", "ec2_security_group_owner_id"),
            ("ARN", "arn"),
            ("AZMode", "az_mode"),
            ("CacheNodeIdsToRemove", "cache_node_ids_to_remove"),
            ("Ipv6Cidr", "ipv6_cidr"),
            ("sse-elasticache", "sse_elasticache"),
            ("dual_stack", "dual_stack"),
            ("GB", "gb"),
        ] {
            assert_eq!(snake(model), want, "{model}");
        }
        assert_eq!(pascal("ECPUPerSecond"), "EcpuPerSecond");
        assert_eq!(pascal("sse-kms"), "SseKms");
        assert_eq!(screaming("dual_stack"), "DUAL_STACK");
        assert_eq!(rust_field("Type"), "r#type");
    }

    #[test]
    fn documentation_becomes_plain_text() {
        let p = doc_paragraphs(
            "<p>The <code>Name</code> of it &amp; more.</p><ul><li><p>one</p></li></ul>",
        );
        assert_eq!(
            p,
            vec!["The `Name` of it & more.".to_owned(), "- one".to_owned()]
        );
    }
}
