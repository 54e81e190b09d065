//! Strict JSON parsing: every error names its JSON path (`$.blocks[3].kernal: unknown field`).

use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// Parse `text` as `T`, turning serde's message into `$.path: message`.
///
/// Unknown fields are reported at the field's own path, as `$.a.b: unknown field`.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let parsed: std::result::Result<T, _> = serde_path_to_error::deserialize(de);
    let value = parsed.map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = inner.to_string();
        json_error(&path, &message, inner.is_syntax() || inner.is_eof())
    })?;
    Ok(value)
}

fn json_error(path: &str, message: &str, syntax: bool) -> Error {
    // serde_json appends " at line L column C"; keep it for syntax errors only.
    let base = if path == "." || path == "?" || path.is_empty() {
        "$".to_string()
    } else {
        format!("$.{path}")
    };
    let base = base.replace(".[", "[");
    let trimmed = match message.rfind(" at line ") {
        Some(i) if !syntax => &message[..i],
        _ => message,
    };
    if let Some(field) = backticked(trimmed, "unknown field `") {
        return Error::Json {
            path: join(&base, &field),
            message: format!("unknown field ({})", trimmed),
        };
    }
    if let Some(field) = backticked(trimmed, "missing field `") {
        return Error::Json {
            path: join(&base, &field),
            message: "missing field".into(),
        };
    }
    Error::Json {
        path: base,
        message: if syntax {
            format!("malformed JSON: {trimmed}")
        } else {
            trimmed.to_string()
        },
    }
}

fn backticked(message: &str, prefix: &str) -> Option<String> {
    let rest = message.strip_prefix(prefix)?;
    Some(rest[..rest.find('`')?].to_string())
}

fn join(base: &str, field: &str) -> String {
    // serde_path_to_error already points at the unknown field itself in some cases.
    if base.ends_with(&format!(".{field}")) {
        base.to_string()
    } else {
        format!("{base}.{field}")
    }
}

/// Pretty-print `value`, writing each element of the top-level array `key` on one line.
pub fn pretty_with_inline_items(value: &serde_json::Value, key: &str) -> String {
    let serde_json::Value::Object(map) = value else {
        return serde_json::to_string_pretty(value).unwrap_or_default();
    };
    let mut out = String::from("{\n");
    let n = map.len();
    for (i, (k, v)) in map.iter().enumerate() {
        let rendered = match v {
            serde_json::Value::Array(items) if k == key => {
                let lines: Vec<String> = items.iter().map(|it| format!("    {it}")).collect();
                format!("[\n{}\n  ]", lines.join(",\n"))
            }
            serde_json::Value::Object(_) | serde_json::Value::Array(_) => v.to_string(),
            _ => v.to_string(),
        };
        out.push_str(&format!(
            "  {}: {}",
            serde_json::Value::from(k.as_str()),
            rendered
        ));
        out.push_str(if i + 1 < n { ",\n" } else { "\n" });
    }
    out.push('}');
    out.push('\n');
    out
}

/// Parse a unit-variant enum from its serde name (the same names as in the JSON files),
/// for `FromStr` and so the command line: one source for every option enum's names.
pub fn enum_from_str<T: DeserializeOwned>(s: &str, what: &str) -> std::result::Result<T, String> {
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> = s.into_deserializer();
    T::deserialize(de).map_err(|e| {
        e.to_string()
            .replacen("unknown variant", &format!("unknown {what}"), 1)
    })
}

/// `impl FromStr` for an option enum through [`enum_from_str`].
macro_rules! from_str_by_serde {
    ($t:ty, $what:expr) => {
        impl std::str::FromStr for $t {
            type Err = String;
            fn from_str(s: &str) -> std::result::Result<Self, String> {
                $crate::json::enum_from_str(s, $what)
            }
        }
    };
}
pub(crate) use from_str_by_serde;
