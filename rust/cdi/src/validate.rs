//! Rules beyond the JSON shape, checked in document order so the first problem is reported.

use std::collections::HashSet;

use crate::error::{invalid, Error};
use crate::model::{ContainerEdits, Spec};
use crate::names::{parse_kind, validate_device_name};

/// OCI hook points a CDI hook may name.
const HOOK_NAMES: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

/// Validates names, device list and every `containerEdits` (devices first, then the spec's).
pub fn validate(spec: &Spec) -> Result<(), Error> {
    parse_kind(&spec.kind)?;
    if spec.devices.is_empty() {
        return Err(invalid("CDI spec: devices must not be empty".to_owned()));
    }
    let mut seen = HashSet::new();
    for device in &spec.devices {
        validate_device_name(&device.name)?;
        if !seen.insert(device.name.as_str()) {
            return Err(invalid(format!(
                "CDI device name \"{}\": duplicate",
                device.name
            )));
        }
        edits(
            &format!("CDI device \"{}\" containerEdits", device.name),
            &device.container_edits,
        )?;
    }
    edits("CDI spec containerEdits", &spec.container_edits)
}

fn edits(ctx: &str, edits: &ContainerEdits) -> Result<(), Error> {
    let fail = |what: String| Err(invalid(format!("{ctx}: {what}")));
    env(ctx, &edits.env)?;
    for node in &edits.device_nodes {
        let path = &node.path;
        if path.is_empty() {
            return fail("deviceNode path must not be empty".into());
        }
        if !node.kind.is_empty() && !["b", "c", "u", "p"].contains(&node.kind.as_str()) {
            return fail(format!(
                "deviceNode \"{path}\": type \"{}\" must be one of b, c, u, p",
                node.kind
            ));
        }
        if node
            .permissions
            .chars()
            .any(|c| !matches!(c, 'r' | 'w' | 'm'))
        {
            let permissions = &node.permissions;
            return fail(format!(
                "deviceNode \"{path}\": permissions \"{permissions}\" may only contain r, w, m"
            ));
        }
    }
    for hook in &edits.hooks {
        if !HOOK_NAMES.contains(&hook.hook_name.as_str()) {
            let names = HOOK_NAMES.join(", ");
            return fail(format!(
                "hook hookName \"{}\" must be one of {names}",
                hook.hook_name
            ));
        }
        if hook.path.is_empty() {
            return fail(format!(
                "hook \"{}\": path must not be empty",
                hook.hook_name
            ));
        }
        env(&format!("{ctx}: hook \"{}\"", hook.path), &hook.env)?;
        if hook.timeout.is_some_and(|t| t <= 0) {
            return fail(format!("hook \"{}\": timeout must be > 0", hook.path));
        }
    }
    for mount in &edits.mounts {
        if mount.host_path.is_empty() {
            return fail("mount hostPath must not be empty".into());
        }
        if mount.container_path.is_empty() {
            return fail(format!(
                "mount of \"{}\": containerPath must not be empty",
                mount.host_path
            ));
        }
    }
    for net in &edits.net_devices {
        if net.host_interface_name.is_empty() {
            return fail("netDevice hostInterfaceName must not be empty".into());
        }
        if net.name.is_empty() {
            return fail(format!(
                "netDevice \"{}\": name must not be empty",
                net.host_interface_name
            ));
        }
    }
    Ok(())
}

/// `NAME=value` with a non-empty NAME (the value may be empty).
fn env(ctx: &str, env: &[String]) -> Result<(), Error> {
    match env.iter().find(|e| e.find('=').is_none_or(|i| i == 0)) {
        Some(bad) => Err(invalid(format!(
            "{ctx}: env \"{bad}\": must be NAME=value with a non-empty NAME"
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: &str) -> Result<(), String> {
        validate(&crate::parse(spec.as_bytes()).unwrap()).map_err(|e| e.to_string())
    }

    fn device_edits(edits: &str) -> Result<(), String> {
        check(&format!(
            r#"{{"kind":"v/c","devices":[{{"name":"d","containerEdits":{edits}}}]}}"#
        ))
    }

    fn spec_edits(edits: &str) -> Result<(), String> {
        check(&format!(
            r#"{{"kind":"v/c","devices":[{{"name":"d"}}],"containerEdits":{edits}}}"#
        ))
    }

    #[test]
    fn spec_level_rules() {
        check(r#"{"kind":"v/c","devices":[{"name":"a"},{"name":"b"}]}"#).unwrap();
        assert_eq!(
            check(r#"{"kind":"vc","devices":[{"name":"a"}]}"#).unwrap_err(),
            "CDI kind \"vc\": must be vendor/class"
        );
        assert_eq!(
            check(r#"{"kind":"v/c","devices":[]}"#).unwrap_err(),
            "CDI spec: devices must not be empty"
        );
        assert_eq!(
            check(r#"{"kind":"v/c","devices":[{"name":"a"},{"name":"a"}]}"#).unwrap_err(),
            "CDI device name \"a\": duplicate"
        );
        assert_eq!(
            check(r#"{"kind":"v/c","devices":[{"name":"-a"}]}"#).unwrap_err(),
            "CDI device name \"-a\": must start with a letter or digit"
        );
    }

    #[test]
    fn edit_rules() {
        let ok = [
            r#"{"env":["A=","B=c=d"]}"#,
            r#"{"deviceNodes":[{"path":"/dev/a","type":"b","permissions":"rwm"},{"path":"x","type":"p"}]}"#,
            r#"{"deviceNodes":[{"path":"/dev/a","type":"","permissions":""}]}"#,
            r#"{"hooks":[{"hookName":"prestart","path":"/h","timeout":1,"env":["A=b"]}]}"#,
            r#"{"mounts":[{"hostPath":"a","containerPath":"b"}]}"#,
            r#"{"netDevices":[{"hostInterfaceName":"a","name":"b"}]}"#,
        ];
        for edits in ok {
            device_edits(edits).unwrap();
        }
        let bad = [
            (r#"{"env":["A"]}"#, "env \"A\": must be NAME=value with a non-empty NAME"),
            (r#"{"env":["=A"]}"#, "env \"=A\": must be NAME=value with a non-empty NAME"),
            (r#"{"deviceNodes":[{"path":""}]}"#, "deviceNode path must not be empty"),
            (r#"{"deviceNodes":[{"path":"/d","type":"x"}]}"#, "deviceNode \"/d\": type \"x\" must be one of b, c, u, p"),
            (r#"{"deviceNodes":[{"path":"/d","permissions":"rx"}]}"#, "deviceNode \"/d\": permissions \"rx\" may only contain r, w, m"),
            (
                r#"{"hooks":[{"hookName":"x","path":"/h"}]}"#,
                "hook hookName \"x\" must be one of prestart, createRuntime, createContainer, startContainer, poststart, poststop",
            ),
            (r#"{"hooks":[{"hookName":"poststop","path":""}]}"#, "hook \"poststop\": path must not be empty"),
            (r#"{"hooks":[{"hookName":"poststart","path":"/h","env":["E"]}]}"#, "hook \"/h\": env \"E\": must be NAME=value with a non-empty NAME"),
            (r#"{"hooks":[{"hookName":"poststart","path":"/h","timeout":0}]}"#, "hook \"/h\": timeout must be > 0"),
            (r#"{"mounts":[{"hostPath":"","containerPath":"/b"}]}"#, "mount hostPath must not be empty"),
            (r#"{"mounts":[{"hostPath":"/a","containerPath":""}]}"#, "mount of \"/a\": containerPath must not be empty"),
            (r#"{"netDevices":[{"hostInterfaceName":"","name":"b"}]}"#, "netDevice hostInterfaceName must not be empty"),
            (r#"{"netDevices":[{"hostInterfaceName":"a","name":""}]}"#, "netDevice \"a\": name must not be empty"),
        ];
        for (edits, rule) in bad {
            assert_eq!(
                device_edits(edits).unwrap_err(),
                format!("CDI device \"d\" containerEdits: {rule}")
            );
            assert_eq!(
                spec_edits(edits).unwrap_err(),
                format!("CDI spec containerEdits: {rule}")
            );
        }
    }
}
