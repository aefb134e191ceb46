//! `update`: new resource limits for a created, running or paused container, as runc's `update`
//! does. The limits go to the container's cgroup through [`crate::cgroups::Cgroup::update`] (so a
//! caller never writes cgroup files itself) and are recorded in `state.json`'s spec, so `state`
//! and later verbs see what the container runs with.
//!
//! Only what `resources` sets changes: a field left out keeps its value, in the cgroup and in the
//! recorded spec. Device rules are left as the container was created with (runc's `update` has no
//! devices either): rewriting them would reset the rules the container depends on.

use super::state::{State, Status};
use crate::{Result, RuntimeError};
use berth_oci::runtime::{LinuxResources, Spec};
use serde_json::Value;
use std::path::Path;

/// Applies `resources` to container `id` under `root` and records them in its state.
pub fn update(root: &Path, id: &str, resources: &LinuxResources) -> Result<()> {
    let mut state = State::load(root, id)?;
    let status = state.status(root);
    if !matches!(status, Status::Created | Status::Running | Status::Paused) {
        return Err(RuntimeError::InvalidState {
            id: id.to_string(),
            state: status.to_string(),
            action: "update",
        });
    }
    let mut resources = resources.clone();
    resources.set_devices(None);
    state.cgroup()?.update(&resources)?;
    state.config = merged(&state.config, &resources)?;
    state.save(root)
}

/// `spec` with the fields `resources` sets written over its `linux.resources`.
fn merged(spec: &Spec, resources: &LinuxResources) -> Result<Spec> {
    let encode = |what: &str, e: serde_json::Error| {
        RuntimeError::Other(format!("record the updated resources ({what}): {e}"))
    };
    let mut doc = serde_json::to_value(spec).map_err(|e| encode("spec", e))?;
    let update = serde_json::to_value(resources).map_err(|e| encode("resources", e))?;
    if let Some(doc) = doc.as_object_mut() {
        let linux = doc
            .entry("linux")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(linux) = linux.as_object_mut() {
            let old = linux
                .entry("resources")
                .or_insert_with(|| Value::Object(Default::default()));
            overlay(old, update);
        }
    }
    serde_json::from_value(doc).map_err(|e| encode("spec", e))
}

/// Writes the set fields of `update` over `base`: objects field by field, anything else whole.
fn overlay(base: &mut Value, update: Value) {
    match (base, update) {
        (Value::Object(base), Value::Object(update)) => {
            for (key, value) in update {
                match base.get_mut(&key) {
                    Some(old) if !value.is_null() => overlay(old, value),
                    None if !value.is_null() => {
                        base.insert(key, value);
                    }
                    _ => {}
                }
            }
        }
        (base, update) => *base = update,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_set_fields_change() {
        let spec: Spec = serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "linux": {"resources": {
                "memory": {"limit": 1048576, "reservation": 524288},
                "cpu": {"shares": 512},
                "devices": [{"allow": false, "access": "rwm"}]
            }}
        }))
        .unwrap();
        let update: LinuxResources = serde_json::from_value(json!({
            "memory": {"limit": 2097152},
            "pids": {"limit": 10}
        }))
        .unwrap();
        let spec = merged(&spec, &update).unwrap();
        let r = serde_json::to_value(spec.linux().as_ref().unwrap().resources()).unwrap();
        assert_eq!(r["memory"]["limit"], 2097152);
        assert_eq!(r["memory"]["reservation"], 524288);
        assert_eq!(r["cpu"]["shares"], 512);
        assert_eq!(r["pids"]["limit"], 10);
        assert_eq!(r["devices"][0]["access"], "rwm");
    }

    #[test]
    fn a_spec_without_resources_gets_them() {
        let spec: Spec = serde_json::from_value(json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"}
        }))
        .unwrap();
        let update: LinuxResources =
            serde_json::from_value(json!({"cpu": {"quota": 50000}})).unwrap();
        let spec = merged(&spec, &update).unwrap();
        let r = serde_json::to_value(spec.linux().as_ref().unwrap().resources()).unwrap();
        assert_eq!(r["cpu"]["quota"], 50000);
    }
}
