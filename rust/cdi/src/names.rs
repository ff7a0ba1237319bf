//! Name rules: `kind` = `vendor/class`; fully qualified device = `vendor/class=name`.

use crate::error::{invalid, Error};

/// Longest class name (a DNS label).
const MAX_CLASS: usize = 63;

/// Vendor: starts with a letter, ends with a letter or digit, `[A-Za-z0-9_.-]` in between.
pub fn validate_vendor(name: &str) -> Result<(), Error> {
    check("vendor", name, false, "_.-", None)
}

/// Class: like a vendor, at most 63 characters.
pub fn validate_class(name: &str) -> Result<(), Error> {
    check("class", name, false, "_.-", Some(MAX_CLASS))
}

/// Device name: starts and ends with a letter or digit, `[A-Za-z0-9_.:-]` in between.
pub fn validate_device_name(name: &str) -> Result<(), Error> {
    check("device name", name, true, "_.:-", None)
}

/// Splits and validates `vendor/class` (at the first `/`).
pub fn parse_kind(kind: &str) -> Result<(&str, &str), Error> {
    let (vendor, class) = kind
        .split_once('/')
        .ok_or_else(|| invalid(format!("CDI kind \"{kind}\": must be vendor/class")))?;
    validate_vendor(vendor)?;
    validate_class(class)?;
    Ok((vendor, class))
}

fn check(
    what: &str,
    name: &str,
    digit_first: bool,
    extra: &str,
    max: Option<usize>,
) -> Result<(), Error> {
    let fail = |rule: &str| Err(invalid(format!("CDI {what} \"{name}\": {rule}")));
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return fail("must not be empty");
    };
    if !(first.is_ascii_alphabetic() || digit_first && first.is_ascii_digit()) {
        return fail(if digit_first {
            "must start with a letter or digit"
        } else {
            "must start with a letter"
        });
    }
    if !last.is_ascii_alphanumeric() {
        return fail("must end with a letter or digit");
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !c.is_ascii_alphanumeric() && !extra.contains(c))
    {
        let allowed: Vec<_> = extra.chars().map(|c| format!("'{c}'")).collect();
        return fail(&format!(
            "invalid character '{bad}' (allowed: letters, digits, {})",
            allowed.join(", ")
        ));
    }
    match max {
        // All ASCII by now: bytes are characters.
        Some(max) if name.len() > max => fail(&format!("must be at most {max} characters")),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(result: Result<(), Error>) -> String {
        result.unwrap_err().to_string()
    }

    #[test]
    fn vendor_and_class() {
        for ok in ["a", "nvidia.com", "k8s.gpu.example.com", "a_b-c.d9", "A1"] {
            validate_vendor(ok).unwrap();
            validate_class(ok).unwrap();
        }
        assert_eq!(
            msg(validate_vendor("")),
            "CDI vendor \"\": must not be empty"
        );
        assert_eq!(
            msg(validate_vendor("1a")),
            "CDI vendor \"1a\": must start with a letter"
        );
        assert_eq!(
            msg(validate_class("_a")),
            "CDI class \"_a\": must start with a letter"
        );
        assert_eq!(
            msg(validate_class("a-")),
            "CDI class \"a-\": must end with a letter or digit"
        );
        assert_eq!(
            msg(validate_vendor("é")),
            "CDI vendor \"é\": must start with a letter"
        );
        assert_eq!(
            msg(validate_vendor("a:b")),
            "CDI vendor \"a:b\": invalid character ':' (allowed: letters, digits, '_', '.', '-')"
        );
        assert!(msg(validate_class("a/b")).contains("invalid character '/'"));
        validate_class(&"a".repeat(63)).unwrap();
        validate_vendor(&"a".repeat(300)).unwrap();
        assert_eq!(
            msg(validate_class(&"a".repeat(64))),
            format!(
                "CDI class \"{}\": must be at most 63 characters",
                "a".repeat(64)
            )
        );
    }

    #[test]
    fn device_names() {
        for ok in ["0", "gpu0", "0a", "a:b_c.d-e", "9f1c-uid-x"] {
            validate_device_name(ok).unwrap();
        }
        assert_eq!(
            msg(validate_device_name("")),
            "CDI device name \"\": must not be empty"
        );
        assert_eq!(
            msg(validate_device_name("-x")),
            "CDI device name \"-x\": must start with a letter or digit"
        );
        assert_eq!(
            msg(validate_device_name("x:")),
            "CDI device name \"x:\": must end with a letter or digit"
        );
        assert_eq!(
            msg(validate_device_name("a b")),
            "CDI device name \"a b\": invalid character ' ' (allowed: letters, digits, '_', '.', ':', '-')"
        );
        assert!(msg(validate_device_name("a/b")).contains("invalid character '/'"));
        assert!(msg(validate_device_name("aéb")).contains("invalid character 'é'"));
    }

    #[test]
    fn kinds() {
        assert_eq!(parse_kind("v.io/c").unwrap(), ("v.io", "c"));
        assert_eq!(
            msg(parse_kind("vc").map(drop)),
            "CDI kind \"vc\": must be vendor/class"
        );
        assert!(msg(parse_kind("/c").map(drop)).starts_with("CDI vendor \"\""));
        assert!(msg(parse_kind("v/").map(drop)).starts_with("CDI class \"\""));
        assert!(msg(parse_kind("v/c/d").map(drop)).contains("invalid character '/'"));
    }
}
