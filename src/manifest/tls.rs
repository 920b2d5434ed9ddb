//! TLS in the manifest: `spec.platform.local.tls`, the client and peer TLS of the local
//! platform's members (either `auto`, etcd-warden's own CA, or the operator's files),
//! and [`TlsFiles`], a CA bundle, a certificate and its key as validated, the
//! members' or the controller's client (`spec.etcd.tls`).
//!
//! Like the other values of more than one shape, `LocalTls` deserializes with its own
//! visitor so that a wrong shape is refused with a message naming the allowed ones.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// TLS of the local platform's members: `auto`, or the operator's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalTls {
    /// `auto`: etcd-warden generates a CA, a server and peer certificate per member and a
    /// client certificate for itself, once, into the cluster's state directory.
    Auto,
    /// The operator's CA and member certificate; the client certificate is `spec.etcd.tls`.
    Files(MemberTlsSection),
}

/// The operator's TLS files for the members, as PEM files.
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "MemberTls")]
pub struct MemberTlsSection {
    /// The CA bundle members trust for client and peer certificates
    /// (`--trusted-ca-file` and `--peer-trusted-ca-file`).
    pub ca_file: String,
    /// The members' certificate, used as server and as peer certificate (`--cert-file`
    /// and `--peer-cert-file`): serverAuth and clientAuth, with SANs for the platform's
    /// `host` (and `127.0.0.1`/`localhost` for local probes).
    pub cert_file: String,
    /// The key of `certFile` (`--key-file` and `--peer-key-file`).
    pub key_file: String,
}

impl Serialize for LocalTls {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => serializer.serialize_str("auto"),
            Self::Files(files) => files.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for LocalTls {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TlsVisitor;

        impl<'de> Visitor<'de> for TlsVisitor {
            type Value = LocalTls;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("auto, or a map with caFile, certFile and keyFile")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(LocalTls::Auto),
                    _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
                }
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Err(E::invalid_value(Unexpected::Bool(v), &self))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                MemberTlsSection::deserialize(MapAccessDeserializer::new(map)).map(LocalTls::Files)
            }
        }

        deserializer.deserialize_any(TlsVisitor)
    }
}

impl JsonSchema for LocalTls {
    fn schema_name() -> Cow<'static, str> {
        "LocalTls".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let files = generator.subschema_for::<MemberTlsSection>();
        json_schema!({
            "description": "Client and peer TLS of the members (https URLs, client and peer certificates required). `auto`: etcd-warden generates a CA, a certificate per member and a client certificate for itself, once, under the cluster's state directory. Or the operator's files: caFile, certFile and keyFile for the members, with spec.etcd.tls as etcd-warden's client certificate. Cannot be added, removed or changed on an existing cluster.",
            "oneOf": [
                { "const": "auto" },
                files
            ]
        })
    }
}

/// A CA bundle, a certificate and its key: a client's (`spec.etcd.tls`) or the
/// members' (`spec.platform.local.tls`).
#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    /// The CA bundle that signed the other side's certificates.
    pub ca_file: PathBuf,
    /// The certificate.
    pub cert_file: PathBuf,
    /// Its key.
    pub key_file: PathBuf,
}
