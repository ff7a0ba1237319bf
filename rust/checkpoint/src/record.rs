//! Validated records: keys that embed in JSON without escaping, values that are JSON documents.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::value::RawValue;

use crate::RecordError;

/// Checks a record key: non-empty printable ASCII without `"` or `\`, so it is written into the
/// payload verbatim (no escaping) and reads back byte for byte.
pub fn check_key(key: &str) -> Result<(), RecordError> {
    let rule = if key.is_empty() {
        "must not be empty"
    } else if key
        .bytes()
        .all(|b| matches!(b, 0x20..=0x7e) && b != b'"' && b != b'\\')
    {
        return Ok(());
    } else {
        "must be printable ASCII without '\"' or '\\'"
    };
    Err(RecordError::InvalidKey {
        key: key.to_owned(),
        rule,
    })
}

/// One JSON document, kept as the exact text the caller gave (shared, so copying state is cheap).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Value(Arc<str>);

impl Value {
    /// Accepts exactly one JSON document without surrounding whitespace (the payload parser would
    /// drop that whitespace, and the value must read back byte for byte).
    pub fn parse(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let invalid = |detail: String| RecordError::InvalidValue {
            key: key.to_owned(),
            detail,
        };
        let text = std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8: {e}")))?;
        let raw: &RawValue =
            serde_json::from_str(text).map_err(|e| invalid(format!("not a JSON document: {e}")))?;
        if raw.get().len() != text.len() {
            return Err(invalid("leading or trailing whitespace".to_owned()));
        }
        Ok(Value(text.into()))
    }

    /// A value the payload parser already validated (raw values carry no surrounding whitespace).
    pub(crate) fn from_raw(raw: &RawValue) -> Self {
        Value(raw.get().into())
    }

    /// The JSON text, as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The key -> value state of a checkpoint, sorted by key (byte order).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Records(BTreeMap<String, Value>);

impl Records {
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces; returns the previous value. Rejects invalid keys.
    pub fn insert(&mut self, key: &str, value: Value) -> Result<Option<Value>, RecordError> {
        check_key(key)?;
        Ok(self.0.insert(key.to_owned(), value))
    }

    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.get(key)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Entries in key order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Builds a state from entries; duplicate keys are an error (an entry list describes a state).
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, RecordError> {
        let mut records = Self::new();
        for (key, bytes) in entries {
            if records.insert(key, Value::parse(key, bytes)?)?.is_some() {
                return Err(RecordError::DuplicateKey {
                    key: key.to_owned(),
                });
            }
        }
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in ["a", "ns/name", "x y", "~!#$%&'()*+,-./:;<=>?@[]^_`{|}"] {
            check_key(ok).unwrap();
        }
        for bad in ["", "a\"b", "a\\b", "tab\t", "é", "\u{7f}", "nl\n"] {
            check_key(bad).unwrap_err();
        }
        let err = check_key("").unwrap_err().to_string();
        assert_eq!(err, "key \"\": must not be empty");
    }

    #[test]
    fn values() {
        for ok in [
            "{}",
            "1",
            "\"é\"",
            "[1, 2]",
            "{\"a\":{\"b\":null}}",
            "-1.5e3",
            "\"\\ud800\"",
        ] {
            assert_eq!(Value::parse("k", ok.as_bytes()).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            " 1",
            "1 ",
            "{",
            "1 2",
            "NaN",
            "{\"a\":1}\n",
            "\"\u{1}\"",
        ] {
            Value::parse("k", bad.as_bytes()).unwrap_err();
        }
        let err = Value::parse("k", b"\xff").unwrap_err().to_string();
        assert!(err.starts_with("value of key \"k\": not UTF-8"), "{err}");
    }

    #[test]
    fn from_entries_rejects_duplicates() {
        let err = Records::from_entries([("a", &b"1"[..]), ("a", b"2")]).unwrap_err();
        assert_eq!(err, RecordError::DuplicateKey { key: "a".into() });
        let records = Records::from_entries([("b", &b"1"[..]), ("a", b"2")]).unwrap();
        assert_eq!(
            records.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }
}
