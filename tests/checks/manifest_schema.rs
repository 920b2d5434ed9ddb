//! `manifests/schema.json` is the schema generated from the manifest types.

use std::path::Path;

#[test]
fn committed_schema_matches_the_manifest_types() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests/schema.json");
    let generated = etcd_warden::manifest::schema_text();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &generated).expect("write manifests/schema.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "manifests/schema.json is stale; regenerate it with\n    \
         UPDATE_SCHEMA=1 cargo test --test manifest_schema\nor\n    \
         cargo run -- schema > manifests/schema.json"
    );
}

#[test]
fn schema_describes_every_field() {
    let schema = etcd_warden::manifest::schema();
    let spec = &schema["$defs"]["ClusterSpec"]["properties"];
    for field in ["highAvailability", "members", "paused", "platform", "backup"] {
        let description = spec[field]["description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "spec.{field} has no description");
    }
    assert_eq!(schema["title"], "EtcdCluster");
}

#[test]
fn schema_describes_the_maintenance_settings() {
    let schema = etcd_warden::manifest::schema();
    let defs = &schema["$defs"];
    let described = |def: &str, field: &str| {
        let description = defs[def]["properties"][field]["description"].as_str().unwrap_or_default();
        assert!(!description.is_empty(), "{def}.{field} has no description");
    };
    described("ClusterSpec", "maintenance");
    described("MaintenanceSection", "defragmentation");
    for field in ["enabled", "minFragmentation", "minReclaimable", "pauseBetweenMembers", "window"] {
        described("DefragmentationSection", field);
    }
    described("EtcdSection", "quotaBackendBytes");
    described("PolicySection", "noSpace");
    let text = serde_json::to_string(&defs["NoSpace"]).expect("json");
    assert!(text.contains("Manual") && text.contains("Recover"), "{text}");
}
