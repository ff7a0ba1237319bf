//! The lowest `cdiVersion` able to express a spec: writing that (not the newest) lets older
//! container runtimes, which reject versions they do not know, still load the file.

use crate::model::{ContainerEdits, Spec};

/// Known spec versions, oldest first (0.1.0 and 0.2.0 are no longer accepted by runtimes).
pub const VERSIONS: [&str; 8] = [
    "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0",
];

/// The minimum version for the features `spec` uses (0.8.0 and 1.0.0 added no spec feature).
/// Expects a validated spec (well-formed `kind`).
pub fn minimum_version(spec: &Spec) -> &'static str {
    let edits = || ContainerEdits::all(spec);
    let class = spec.kind.split_once('/').map_or("", |(_, class)| class);
    let rdt = || edits().filter_map(|e| e.intel_rdt.as_ref());
    if edits().any(|e| !e.net_devices.is_empty())
        || rdt().any(|r| !r.schemata.is_empty() || r.enable_monitoring)
    {
        "1.1.0"
    } else if rdt().next().is_some() || edits().any(|e| !e.additional_gids.is_empty()) {
        "0.7.0"
    } else if !spec.annotations.is_empty()
        || spec.devices.iter().any(|d| !d.annotations.is_empty())
        || class.contains('.')
    {
        "0.6.0"
    } else if spec
        .devices
        .iter()
        .any(|d| d.name.starts_with(|c: char| c.is_ascii_digit()))
        || edits()
            .flat_map(|e| &e.device_nodes)
            .any(|n| !n.host_path.is_empty())
    {
        "0.5.0"
    } else if edits().flat_map(|e| &e.mounts).any(|m| !m.kind.is_empty()) {
        "0.4.0"
    } else {
        "0.3.0"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(spec: &str) -> &'static str {
        minimum_version(&crate::parse(spec.as_bytes()).unwrap())
    }

    fn with_edits(edits: &str) -> String {
        format!(r#"{{"kind":"v/c","devices":[{{"name":"d","containerEdits":{edits}}}]}}"#)
    }

    fn with_spec_edits(edits: &str) -> String {
        format!(r#"{{"kind":"v/c","devices":[{{"name":"d"}}],"containerEdits":{edits}}}"#)
    }

    #[test]
    fn versions_are_sorted_and_known() {
        assert_eq!(VERSIONS.first(), Some(&"0.3.0"));
        assert_eq!(VERSIONS.last(), Some(&"1.1.0"));
    }

    #[test]
    fn each_feature() {
        let cases = [
            ("{}", "0.3.0"),
            (
                r#"{"env":["A=1"],"mounts":[{"hostPath":"/a","containerPath":"/b","options":["ro"]}]}"#,
                "0.3.0",
            ),
            (
                r#"{"mounts":[{"hostPath":"/a","containerPath":"/b","type":""}]}"#,
                "0.3.0",
            ),
            (
                r#"{"mounts":[{"hostPath":"/a","containerPath":"/b","type":"bind"}]}"#,
                "0.4.0",
            ),
            (
                r#"{"deviceNodes":[{"path":"/dev/a","hostPath":""}]}"#,
                "0.3.0",
            ),
            (
                r#"{"deviceNodes":[{"path":"/dev/a","hostPath":"/dev/b"}]}"#,
                "0.5.0",
            ),
            (r#"{"intelRdt":{}}"#, "0.7.0"),
            (
                r#"{"intelRdt":{"closID":"a","enableMonitoring":false}}"#,
                "0.7.0",
            ),
            (r#"{"additionalGids":[1]}"#, "0.7.0"),
            (r#"{"additionalGids":[]}"#, "0.3.0"),
            (
                r#"{"netDevices":[{"hostInterfaceName":"a","name":"b"}]}"#,
                "1.1.0",
            ),
            (r#"{"intelRdt":{"schemata":["x"]}}"#, "1.1.0"),
            (r#"{"intelRdt":{"enableMonitoring":true}}"#, "1.1.0"),
        ];
        for (edits, want) in cases {
            assert_eq!(version(&with_edits(edits)), want, "device edits {edits}");
            assert_eq!(version(&with_spec_edits(edits)), want, "spec edits {edits}");
        }
    }

    #[test]
    fn names_and_annotations() {
        assert_eq!(
            version(r#"{"kind":"v/c","devices":[{"name":"0d"}]}"#),
            "0.5.0"
        );
        assert_eq!(
            version(r#"{"kind":"v.x/c","devices":[{"name":"d"}]}"#),
            "0.3.0"
        );
        assert_eq!(
            version(r#"{"kind":"v/c.x","devices":[{"name":"d"}]}"#),
            "0.6.0"
        );
        assert_eq!(
            version(r#"{"kind":"v/c","annotations":{"a":"b"},"devices":[{"name":"d"}]}"#),
            "0.6.0"
        );
        assert_eq!(
            version(r#"{"kind":"v/c","annotations":{},"devices":[{"name":"d"}]}"#),
            "0.3.0"
        );
        assert_eq!(
            version(r#"{"kind":"v/c","devices":[{"name":"d","annotations":{"a":""}}]}"#),
            "0.6.0"
        );
    }

    #[test]
    fn highest_wins() {
        let spec = r#"{"kind":"v/c.x","devices":[{"name":"0d","containerEdits":{"additionalGids":[3],
            "mounts":[{"hostPath":"/a","containerPath":"/b","type":"bind"}]}}]}"#;
        assert_eq!(version(spec), "0.7.0");
    }
}
