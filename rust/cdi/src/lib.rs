//! CDI (Container Device Interface) specs for a DRA kubelet plugin: a serde model of the spec
//! (unknown fields rejected), validation, the minimum `cdiVersion` a spec needs, one canonical JSON
//! encoding, and atomic file writes.
//!
//! Written from the spec instead of using the `container-device-interface` crate, which pulls an
//! HTTP/TLS stack into the plugin.

mod error;
mod model;
mod names;
mod validate;
mod version;
mod write;

pub use error::Error;
pub use model::{ContainerEdits, Device, DeviceNode, Hook, IntelRdt, Mount, NetDevice, Spec};
pub use names::{parse_kind, validate_class, validate_device_name, validate_vendor};
pub use validate::validate;
pub use version::{minimum_version, VERSIONS};
pub use write::{check_file_name, remove_spec, write_spec};

use serde_json::Value;

/// Parses a spec from JSON (`cdiVersion`, if present, is kept but not checked). Duplicate object
/// keys: the last one wins.
pub fn parse(json: &[u8]) -> Result<Spec, Error> {
    let parse_error = |e: serde_json::Error| Error::Parse(e.to_string());
    let value: Value = serde_json::from_slice(json).map_err(parse_error)?;
    objects_only(&value, "spec")?;
    serde_json::from_value(value).map_err(parse_error)
}

/// serde's derived structs also accept a JSON array (fields by position). The spec has no array
/// of arrays and its only object-typed fields are `containerEdits` and `intelRdt`, so rejecting
/// those shapes leaves objects as the only way to spell a struct.
fn objects_only(value: &Value, at: &str) -> Result<(), Error> {
    let wrong = |what: &str| {
        Err(Error::Parse(format!(
            "invalid type: sequence, expected {what}"
        )))
    };
    match value {
        Value::Array(_) if matches!(at, "spec" | "containerEdits" | "intelRdt") => {
            wrong(&format!("{at} to be an object"))
        }
        Value::Array(items) => match items.iter().any(Value::is_array) {
            true => wrong(&format!("an object or a scalar in {at}")),
            false => items.iter().try_for_each(|item| objects_only(item, "")),
        },
        Value::Object(fields) => fields
            .iter()
            .try_for_each(|(key, item)| objects_only(item, key)),
        _ => Ok(()),
    }
}

/// Parses and validates a spec, then returns the lowest `cdiVersion` that can express it.
pub fn minimum_version_of(json: &[u8]) -> Result<&'static str, Error> {
    let spec = parse(json)?;
    validate(&spec)?;
    Ok(minimum_version(&spec))
}

/// Parses and validates a spec, sets `cdiVersion` to the minimum it needs and returns its
/// canonical JSON encoding (compact; field order fixed by the model; empty optionals omitted).
pub fn render(json: &[u8]) -> Result<Vec<u8>, Error> {
    let mut spec = parse(json)?;
    validate(&spec)?;
    spec.cdi_version = minimum_version(&spec).to_owned();
    Ok(to_json(&spec))
}

/// The canonical encoding of a spec as it is (no validation, `cdiVersion` as set).
pub fn to_json(spec: &Spec) -> Vec<u8> {
    // The model has only strings, integers, booleans and string-keyed maps: cannot fail.
    serde_json::to_vec(spec).expect("a CDI spec always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_canonical_spec() {
        let input = r#"{
            "kind": "k8s.example.com/gpu", "cdiVersion": "9.9.9",
            "containerEdits": {"env": []},
            "devices": [
                {"name": "0a", "containerEdits": {
                    "mounts": [{"options": ["ro"], "containerPath": "/c", "hostPath": "/h"}],
                    "deviceNodes": [{"permissions": "rw", "path": "/dev/x", "hostPath": "",
                                     "gid": 0, "major": 1}],
                    "env": ["A=1", "B=é"]}},
                {"name": "b", "annotations": {}}
            ]
        }"#
        .as_bytes();
        let want = concat!(
            r#"{"cdiVersion":"0.5.0","kind":"k8s.example.com/gpu","devices":["#,
            r#"{"name":"0a","containerEdits":{"env":["A=1","B=é"],"#,
            r#""deviceNodes":[{"path":"/dev/x","major":1,"permissions":"rw","gid":0}],"#,
            r#""mounts":[{"hostPath":"/h","containerPath":"/c","options":["ro"]}]}},"#,
            r#"{"name":"b","containerEdits":{}}]}"#
        );
        assert_eq!(String::from_utf8(render(input).unwrap()).unwrap(), want);
        assert_eq!(minimum_version_of(input).unwrap(), "0.5.0");
    }

    #[test]
    fn render_all_fields_in_order() {
        let input = br#"{"kind":"v/c","annotations":{"z":"1","a":"2"},
            "containerEdits":{"netDevices":[{"name":"eth1","hostInterfaceName":"ens1"}],
                "additionalGids":[5,0],"intelRdt":{"enableMonitoring":false,"closID":"x",
                "schemata":["L3:0=f"],"memBwSchema":"","l3CacheSchema":"L3:0=1"},
                "mounts":[{"hostPath":"/h","containerPath":"/c","type":"bind"}],
                "hooks":[{"timeout":5,"env":["E=1"],"args":["a"],"path":"/bin/h",
                          "hookName":"createContainer"}],
                "deviceNodes":[{"gid":2,"uid":1,"fileMode":420,"minor":-1,"major":3,"type":"c",
                                "hostPath":"/dev/h","path":"/dev/p","permissions":"rwm"}],
                "env":["X="]},
            "devices":[{"containerEdits":null,"annotations":{"b":"c"},"name":"d"}]}"#;
        let want = concat!(
            r#"{"cdiVersion":"1.1.0","kind":"v/c","annotations":{"a":"2","z":"1"},"#,
            r#""devices":[{"name":"d","annotations":{"b":"c"},"containerEdits":{}}],"#,
            r#""containerEdits":{"env":["X="],"#,
            r#""deviceNodes":[{"path":"/dev/p","hostPath":"/dev/h","type":"c","major":3,"#,
            r#""minor":-1,"fileMode":420,"permissions":"rwm","uid":1,"gid":2}],"#,
            r#""hooks":[{"hookName":"createContainer","path":"/bin/h","args":["a"],"#,
            r#""env":["E=1"],"timeout":5}],"#,
            r#""mounts":[{"hostPath":"/h","containerPath":"/c","type":"bind"}],"#,
            r#""intelRdt":{"closID":"x","l3CacheSchema":"L3:0=1","schemata":["L3:0=f"]},"#,
            r#""additionalGids":[5,0],"#,
            r#""netDevices":[{"hostInterfaceName":"ens1","name":"eth1"}]}}"#
        );
        assert_eq!(String::from_utf8(render(input).unwrap()).unwrap(), want);
    }

    #[test]
    fn render_is_idempotent() {
        let input = br#"{"kind":"a.b/c.d","devices":[{"name":"x","containerEdits":{"env":["\n=\u0001\"\\"]}}]}"#;
        let once = render(input).unwrap();
        assert_eq!(render(&once).unwrap(), once);
        assert!(String::from_utf8(once)
            .unwrap()
            .contains(r#""env":["\n=\u0001\"\\"]"#));
    }

    #[test]
    fn parse_errors() {
        for bad in [
            &br#"{"kind":"v/c","devices":[{"name":"x"}],"extra":1}"#[..],
            br#"{"kind":"v/c","devices":[{"name":"x","containerEdits":{"devices":[]}}]}"#,
            br#"{"kind":"v/c","devices":[{"name":"x","containerEdits":{"intelRdt":{"enableCMT":true}}}]}"#,
            br#"{"kind":"v/c"}"#,
            br#"{"kind":null,"devices":[{"name":"x"}]}"#,
            br#"{"kind":"v/c","devices":null}"#,
            br#"{"kind":"v/c","devices":[{"name":"x","containerEdits":{"env":[null]}}]}"#,
            br#"{"kind":"v/c","devices":[{"name":"x","containerEdits":{"additionalGids":[-1]}}]}"#,
            br#"{"kind":"v/c","devices":[{"name":"x","containerEdits":{"additionalGids":[1.0]}}]}"#,
            br#"{"kind":"v/c","cdiVersion":1,"devices":[{"name":"x"}]}"#,
            br#"[]"#,
            b"{",
            br#"["v/c",[{"name":"d"}]]"#,
            br#"{"kind":"v/c","devices":[["d"]]}"#,
            br#"{"kind":"v/c","devices":[{"name":"d","containerEdits":[["A=1"]]}]}"#,
            br#"{"kind":"v/c","devices":[{"name":"d","containerEdits":{"intelRdt":["x"]}}]}"#,
            br#"{"kind":"v/c","devices":[{"name":"d"}],"containerEdits":[]}"#,
        ] {
            let err = render(bad).unwrap_err().to_string();
            assert!(err.starts_with("CDI spec: "), "{err}");
        }
    }
}
