//! Strict parsing of the text and binary values the probe reads. The kernel writes these with
//! `%lld\n`, `%u:%u\n` or as device-tree cells, so anything else means the tree is not what we
//! think it is: an error naming the file, never a guess.

use std::fmt::Write as _;
use std::path::Path;

use crate::error::{malformed, Error};

/// How many bytes of a bad value an error message shows.
pub const SHOW_MAX_BYTES: usize = 32;
/// Linux limits: 12-bit major, 20-bit minor numbers.
pub const MAX_MAJOR: u32 = (1 << 12) - 1;
pub const MAX_MINOR: u32 = (1 << 20) - 1;

/// A byte string for an error message: printable ASCII as is, anything else (and `"`, `\`) as
/// `\xNN`, at most [`SHOW_MAX_BYTES`] bytes, in double quotes.
pub fn show(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for &b in bytes.iter().take(SHOW_MAX_BYTES) {
        if (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    if bytes.len() > SHOW_MAX_BYTES {
        out.push_str("...");
    }
    out.push('"');
    out
}

/// sysfs values end in one newline; a value without it is accepted too.
fn strip_newline(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\n").unwrap_or(bytes)
}

fn all_digits(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(u8::is_ascii_digit)
}

fn decimal(bytes: &[u8]) -> Option<u64> {
    // At most 20 digits can fit; checked arithmetic catches the rest.
    if !all_digits(bytes) || bytes.len() > 20 {
        return None;
    }
    bytes.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// A non-negative decimal integer attribute such as `req_max_processed_len`.
pub fn parse_u64(path: &Path, bytes: &[u8]) -> Result<u64, Error> {
    let value = strip_newline(bytes);
    if value.is_empty() {
        return Err(malformed(path, "empty value"));
    }
    if !all_digits(value) {
        return Err(malformed(
            path,
            format!("not a decimal number: {}", show(value)),
        ));
    }
    decimal(value).ok_or_else(|| {
        malformed(
            path,
            format!(
                "out of range for a 64-bit unsigned integer: {}",
                show(value)
            ),
        )
    })
}

/// A `dev` attribute: `MAJOR:MINOR` in decimal.
pub fn parse_dev(path: &Path, bytes: &[u8]) -> Result<(u32, u32), Error> {
    let value = strip_newline(bytes);
    let parsed = {
        let mut parts = value.split(|&b| b == b':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(major), Some(minor), None) => decimal(major).zip(decimal(minor)),
            _ => None,
        }
    };
    match parsed {
        Some((major, minor)) if major <= u64::from(MAX_MAJOR) && minor <= u64::from(MAX_MINOR) => {
            // Bounded above.
            Ok((major as u32, minor as u32))
        }
        _ => Err(malformed(
            path,
            format!(
                "expected MAJOR:MINOR (major <= {MAX_MAJOR}, minor <= {MAX_MINOR}), found {}",
                show(value)
            ),
        )),
    }
}

/// A device-tree cell: exactly four bytes, big-endian.
pub fn parse_cell(path: &Path, bytes: &[u8]) -> Result<u32, Error> {
    match <[u8; 4]>::try_from(bytes) {
        Ok(cell) => Ok(u32::from_be_bytes(cell)),
        Err(_) => Err(malformed(
            path,
            format!(
                "expected 4 bytes (one big-endian cell), found {}",
                bytes.len()
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p() -> &'static Path {
        Path::new("/r/f")
    }

    fn u64_err(bytes: &[u8]) -> String {
        parse_u64(p(), bytes).unwrap_err().to_string()
    }

    #[test]
    fn u64_values() {
        assert_eq!(parse_u64(p(), b"0\n").unwrap(), 0);
        assert_eq!(parse_u64(p(), b"1048576\n").unwrap(), 1 << 20);
        assert_eq!(parse_u64(p(), b"42").unwrap(), 42);
        assert_eq!(parse_u64(p(), b"007\n").unwrap(), 7);
        assert_eq!(parse_u64(p(), b"18446744073709551615\n").unwrap(), u64::MAX);
    }

    #[test]
    fn u64_errors() {
        assert_eq!(u64_err(b""), "/r/f: empty value");
        assert_eq!(u64_err(b"\n"), "/r/f: empty value");
        assert_eq!(u64_err(b"12x\n"), "/r/f: not a decimal number: \"12x\"");
        assert_eq!(u64_err(b"-1\n"), "/r/f: not a decimal number: \"-1\"");
        assert_eq!(u64_err(b" 1\n"), "/r/f: not a decimal number: \" 1\"");
        assert_eq!(u64_err(b"1\n\n"), "/r/f: not a decimal number: \"1\\x0a\"");
        assert_eq!(u64_err(b"1\r\n"), "/r/f: not a decimal number: \"1\\x0d\"");
        assert_eq!(
            u64_err(b"18446744073709551616"),
            "/r/f: out of range for a 64-bit unsigned integer: \"18446744073709551616\""
        );
        assert!(u64_err(&[b'9'; 40]).ends_with("\"99999999999999999999999999999999...\""));
    }

    #[test]
    fn show_escapes_and_truncates() {
        assert_eq!(show(b"a\"b\\c\x00\xff"), "\"a\\x22b\\x5cc\\x00\\xff\"");
        assert_eq!(show(&[b'a'; 33]), format!("\"{}...\"", "a".repeat(32)));
        assert_eq!(show(&[b'a'; 32]), format!("\"{}\"", "a".repeat(32)));
    }

    #[test]
    fn dev_numbers() {
        assert_eq!(parse_dev(p(), b"243:0\n").unwrap(), (243, 0));
        assert_eq!(parse_dev(p(), b"4095:1048575").unwrap(), (4095, 1_048_575));
        for bad in [
            &b"243\n"[..],
            b"243:",
            b":0",
            b"1:2:3",
            b"4096:0",
            b"1:1048576",
            b"a:b",
            b"1 :2",
            b"",
        ] {
            let err = parse_dev(p(), bad).unwrap_err().to_string();
            assert!(
                err.starts_with("/r/f: expected MAJOR:MINOR (major <= 4095, minor <= 1048575)"),
                "{err}"
            );
        }
    }

    #[test]
    fn cells() {
        assert_eq!(parse_cell(p(), &[0, 0, 0, 8]).unwrap(), 8);
        assert_eq!(parse_cell(p(), &[1, 2, 3, 4]).unwrap(), 0x0102_0304);
        assert_eq!(
            parse_cell(p(), &[0, 0, 8]).unwrap_err().to_string(),
            "/r/f: expected 4 bytes (one big-endian cell), found 3"
        );
        assert!(parse_cell(p(), &[0; 8]).is_err());
    }
}
