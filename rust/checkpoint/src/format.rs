//! The file image: `drafast-checkpoint/v1 crc32c=<8 hex> length=<n>\n` + compact JSON payload.
//!
//! The envelope is parsed strictly (one spelling per value) so that any changed byte in it is
//! either a parse error or a length/checksum mismatch; crc32c catches every changed byte (indeed
//! every burst up to 32 bits) in the payload.

use std::fmt;
use std::io::Write as _;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::record::{Records, Value};
use crate::{Error, RecordError};

/// The on-disk format version this build writes and reads.
pub const FORMAT_VERSION: u64 = 1;
/// The envelope line starts with this, followed by the format version.
pub const MAGIC: &str = "drafast-checkpoint/v";

/// A decoded checkpoint: the generation (commit counter) and the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub generation: u64,
    pub records: Records,
}

/// Encodes a file image. Keys are sorted; values are embedded verbatim.
pub fn encode(generation: u64, records: &Records) -> Vec<u8> {
    let size = records
        .iter()
        .map(|(k, v)| k.len() + v.as_str().len() + 4)
        .sum::<usize>();
    let mut payload = Vec::with_capacity(size + 48);
    payload.extend_from_slice(b"{\"generation\":");
    payload.extend_from_slice(generation.to_string().as_bytes());
    payload.extend_from_slice(b",\"claims\":{");
    push_members(&mut payload, records.iter());
    payload.extend_from_slice(b"}}");
    seal(MAGIC, &payload)
}

/// Appends `"key":value` members separated by commas (keys embed verbatim: valid keys never
/// need escaping).
pub(crate) fn push_members<'a>(
    out: &mut Vec<u8>,
    members: impl Iterator<Item = (&'a str, &'a Value)>,
) {
    for (i, (key, value)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b"\":");
        out.extend_from_slice(value.as_bytes());
    }
}

/// The envelope line that starts with `magic` (crc32c and length of `payload`), then `payload`.
pub(crate) fn seal(magic: &str, payload: &[u8]) -> Vec<u8> {
    let crc = crc32c::crc32c(payload);
    let mut out = Vec::with_capacity(payload.len() + 64);
    // Writing into a Vec cannot fail.
    let _ = writeln!(
        out,
        "{magic}{FORMAT_VERSION} crc32c={crc:08x} length={}",
        payload.len()
    );
    out.extend_from_slice(payload);
    out
}

/// Verifies and decodes a file image; `name` (the file path) starts every error message.
pub fn decode(data: &[u8], name: &str) -> Result<Snapshot, Error> {
    let name_ = || name.to_owned();
    let (crc, want, payload) = envelope(data, MAGIC).map_err(|fail| match fail {
        Fail::Incomplete => Error::TruncatedEnvelope {
            name: name_(),
            got: data.len(),
        },
        Fail::Magic => Error::BadMagic { name: name_() },
        Fail::Newer(version) => Error::NewerFormat {
            name: name_(),
            version,
        },
        Fail::Bad(detail) => Error::BadEnvelope {
            name: name_(),
            detail,
        },
    })?;
    let got = payload.len();
    if got < want {
        return Err(Error::Truncated {
            name: name_(),
            got,
            want,
        });
    }
    if got > want {
        return Err(Error::TrailingGarbage {
            name: name_(),
            got,
            want,
        });
    }
    let actual = crc32c::crc32c(payload);
    if actual != crc {
        return Err(Error::ChecksumMismatch {
            name: name_(),
            actual,
            expected: crc,
        });
    }
    let parsed: Payload<'_> = serde_json::from_slice(payload).map_err(|e| Error::BadPayload {
        name: name_(),
        detail: e.to_string(),
    })?;
    let mut records = Records::new();
    for (key, raw) in parsed.claims.0 {
        let record = |source| Error::Record {
            name: name_(),
            source,
        };
        if records
            .insert(key, Value::from_raw(raw))
            .map_err(record)?
            .is_some()
        {
            return Err(record(RecordError::DuplicateKey {
                key: key.to_owned(),
            }));
        }
    }
    Ok(Snapshot {
        generation: parsed.generation,
        records,
    })
}

pub(crate) enum Fail {
    Incomplete,
    Magic,
    Newer(u64),
    Bad(&'static str),
}

/// Parses the envelope line that starts with `magic`; returns (crc32c, payload length, the bytes
/// after the line). The journal's entries use the same line with their own magic.
pub(crate) fn envelope<'a>(data: &'a [u8], magic: &str) -> Result<(u32, usize, &'a [u8]), Fail> {
    let mut cur = Cursor { data, pos: 0 };
    cur.literal(magic.as_bytes())
        .map_err(|f| if let Fail::Bad(_) = f { Fail::Magic } else { f })?;
    match cur.decimal("format version")? {
        FORMAT_VERSION => {}
        0 => return Err(Fail::Bad("format version 0")),
        newer => return Err(Fail::Newer(newer)),
    }
    cur.literal(b" crc32c=")?;
    let crc = cur.hex32()?;
    cur.literal(b" length=")?;
    let length = cur.decimal("length")?;
    cur.literal(b"\n")?;
    let length = usize::try_from(length).map_err(|_| Fail::Bad("length"))?;
    Ok((crc, length, &data[cur.pos..]))
}

struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn next(&mut self) -> Result<u8, Fail> {
        let byte = *self.data.get(self.pos).ok_or(Fail::Incomplete)?;
        self.pos += 1;
        Ok(byte)
    }

    fn peek(&self) -> Result<u8, Fail> {
        self.data.get(self.pos).copied().ok_or(Fail::Incomplete)
    }

    fn literal(&mut self, text: &[u8]) -> Result<(), Fail> {
        for &want in text {
            if self.next()? != want {
                return Err(Fail::Bad("unexpected byte"));
            }
        }
        Ok(())
    }

    /// Exactly 8 lowercase hex digits.
    fn hex32(&mut self) -> Result<u32, Fail> {
        let mut value = 0u32;
        for _ in 0..8 {
            let digit = match self.next()? {
                b @ b'0'..=b'9' => b - b'0',
                b @ b'a'..=b'f' => b - b'a' + 10,
                _ => return Err(Fail::Bad("crc32c must be 8 lowercase hex digits")),
            };
            value = value << 4 | u32::from(digit);
        }
        Ok(value)
    }

    /// A decimal without leading zeros that fits in u64.
    fn decimal(&mut self, what: &'static str) -> Result<u64, Fail> {
        let start = self.pos;
        let mut value = 0u64;
        while self.peek()?.is_ascii_digit() {
            let digit = u64::from(self.next()? - b'0');
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(digit))
                .ok_or(Fail::Bad(what))?;
        }
        let digits = self.pos - start;
        if digits == 0 || (digits > 1 && self.data[start] == b'0') {
            return Err(Fail::Bad(what));
        }
        Ok(value)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload<'a> {
    generation: u64,
    #[serde(borrow)]
    claims: Claims<'a>,
}

/// The claims object as borrowed (key, raw JSON) pairs in file order; keys with escapes do not
/// borrow and are rejected (valid keys never need escaping).
pub(crate) struct Claims<'a>(pub(crate) Vec<(&'a str, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Claims<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ClaimsVisitor;
        impl<'de> Visitor<'de> for ClaimsVisitor {
            type Value = Claims<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of key -> JSON value")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Claims(entries))
            }
        }
        deserializer.deserialize_map(ClaimsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn records(entries: &[(&str, &str)]) -> Records {
        Records::from_entries(entries.iter().map(|(k, v)| (*k, v.as_bytes()))).unwrap()
    }

    #[test]
    fn exact_image() {
        let image = encode(7, &records(&[("b", "[1, 2]"), ("a", "{\"x\":\"é\"}")]));
        let payload = "{\"generation\":7,\"claims\":{\"a\":{\"x\":\"é\"},\"b\":[1, 2]}}";
        let crc = crc32c::crc32c(payload.as_bytes());
        let want = format!(
            "drafast-checkpoint/v1 crc32c={crc:08x} length={}\n{payload}",
            payload.len()
        );
        assert_eq!(String::from_utf8(image).unwrap(), want);
        let empty = encode(0, &Records::new());
        assert!(empty.ends_with(b"\n{\"generation\":0,\"claims\":{}}"));
    }

    #[test]
    fn round_trip_empty_and_unicode() {
        for state in [
            records(&[]),
            records(&[("ns/a", "\"\\u00e9 ☃\""), ("z", "null")]),
        ] {
            let snap = decode(&encode(u64::MAX, &state), "f").unwrap();
            assert_eq!(
                snap,
                Snapshot {
                    generation: u64::MAX,
                    records: state
                }
            );
        }
    }

    fn err(data: &[u8]) -> String {
        decode(data, "/x/ckpt").unwrap_err().to_string()
    }

    fn image_with(payload: &str, crc: Option<u32>, length: Option<usize>) -> Vec<u8> {
        let crc = crc.unwrap_or_else(|| crc32c::crc32c(payload.as_bytes()));
        let length = length.unwrap_or(payload.len());
        format!("drafast-checkpoint/v1 crc32c={crc:08x} length={length}\n{payload}").into_bytes()
    }

    #[test]
    fn error_messages() {
        let good = encode(3, &records(&[("a", "1")]));
        assert_eq!(
            err(b""),
            "/x/ckpt: truncated (torn write?): 0 bytes, envelope line incomplete"
        );
        assert_eq!(
            err(b"{\"generation\""),
            "/x/ckpt: not a drafast checkpoint (bad magic)"
        );
        let newer = err(b"drafast-checkpoint/v2 crc32c=00000000 length=0\n");
        assert_eq!(
            newer,
            "/x/ckpt: written by a newer drafast (format v2); this build reads v1"
        );
        assert!(
            err(b"drafast-checkpoint/v0 x").contains("malformed envelope line: format version 0")
        );
        assert!(err(b"drafast-checkpoint/v01 x").contains("malformed envelope line"));
        assert!(err(&good[..good.len() - 1]).ends_with("truncated (torn write?): 32 of 33 bytes"));
        let mut long = good.clone();
        long.push(b' ');
        assert!(err(&long).ends_with("trailing garbage: 34 payload bytes, envelope says 33"));
        let bad_crc = image_with("{}", Some(1), None);
        assert!(err(&bad_crc).contains("checksum mismatch: corrupted"));
        assert!(err(&image_with("[]", None, None)).contains("malformed payload"));
        assert!(err(&image_with("{\"generation\":1}", None, None)).contains("missing field"));
        let extra = "{\"generation\":1,\"claims\":{},\"x\":1}";
        assert!(err(&image_with(extra, None, None)).contains("unknown field"));
        let dup = "{\"generation\":1,\"claims\":{\"a\":1,\"a\":2}}";
        assert_eq!(
            err(&image_with(dup, None, None)),
            "/x/ckpt: key \"a\": duplicate"
        );
        let escaped = "{\"generation\":1,\"claims\":{\"\\u0061\":1}}";
        assert!(err(&image_with(escaped, None, None)).contains("malformed payload"));
        let bad_key = "{\"generation\":1,\"claims\":{\"\":1}}";
        assert_eq!(
            err(&image_with(bad_key, None, None)),
            "/x/ckpt: key \"\": must not be empty"
        );
        let upper = String::from_utf8(good.clone())
            .unwrap()
            .replace("crc32c=", "crc32c=A");
        assert!(err(upper.as_bytes()).contains("malformed envelope line"));
    }

    /// JSON documents of a few shapes, including nesting, escapes, unicode and insignificant
    /// interior whitespace (kept verbatim).
    fn json_value() -> impl Strategy<Value = String> {
        let leaf = prop_oneof![
            Just("null".to_owned()),
            any::<bool>().prop_map(|b| b.to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| format!("{f:e}")),
            any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        ];
        leaf.prop_recursive(3, 24, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6)
                    .prop_map(|v| format!("[{}]", v.join(", "))),
                prop::collection::vec(("[a-z\"é]{0,4}", inner), 0..6).prop_map(|v| {
                    let fields: Vec<_> = v
                        .iter()
                        .map(|(k, v)| format!("{}:{v}", serde_json::to_string(k).unwrap()))
                        .collect();
                    format!("{{{}}}", fields.join(","))
                }),
            ]
        })
    }

    fn state() -> impl Strategy<Value = (u64, Records)> {
        let entries = prop::collection::btree_map("[ !#-\\[\\]-~]{1,12}", json_value(), 0..8);
        (any::<u64>(), entries).prop_map(|(generation, entries)| {
            let records =
                Records::from_entries(entries.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
            (generation, records.unwrap())
        })
    }

    proptest! {
        #[test]
        fn round_trip((generation, records) in state()) {
            let snap = decode(&encode(generation, &records), "f").unwrap();
            prop_assert_eq!(snap, Snapshot { generation, records });
        }

        #[test]
        fn any_single_byte_change_is_detected(
            (generation, records) in state(), at in any::<prop::sample::Index>(), flip in 1u8..=255,
        ) {
            let mut image = encode(generation, &records);
            let i = at.index(image.len());
            image[i] ^= flip;
            prop_assert!(decode(&image, "f").is_err());
        }

        #[test]
        fn any_truncation_or_extension_is_detected(
            (generation, records) in state(), at in any::<prop::sample::Index>(), extra in any::<u8>(),
        ) {
            let image = encode(generation, &records);
            prop_assert!(decode(&image[..at.index(image.len())], "f").is_err());
            let mut longer = image.clone();
            longer.push(extra);
            prop_assert!(decode(&longer, "f").is_err());
        }
    }
}
