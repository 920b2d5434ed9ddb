//! Manifest values that take more than one shape: durations, ports, schedules,
//! endpoints and byte sizes.
//!
//! Each type deserializes with its own visitor so that a value of the wrong shape is
//! refused with a message that says which shapes are allowed (an untagged enum would
//! only say "did not match any variant"). Only the shape is checked here; what the value
//! means (a duration that parses, a cron expression that parses) is checked by
//! validation, which reports every problem of a document at once.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration as written in the manifest: a number and a unit (`30s`, `5m`, `7d`,
/// `1h 30m`), parsed with `humantime` during validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HumanDuration(String);

impl HumanDuration {
    /// The duration as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Parses the text.
    ///
    /// # Errors
    ///
    /// When the text is not a number followed by a unit.
    pub fn parse(&self) -> Result<Duration, humantime::DurationError> {
        humantime::parse_duration(&self.0)
    }
}

impl From<&str> for HumanDuration {
    fn from(text: &str) -> Self {
        Self(text.to_owned())
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DurationVisitor;

        impl Visitor<'_> for DurationVisitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration with a unit, e.g. 30s, 5m, 7d")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(HumanDuration(v.to_owned()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Err(E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Err(E::invalid_value(Unexpected::Signed(v), &self))
            }
        }

        deserializer.deserialize_any(DurationVisitor)
    }
}

impl JsonSchema for HumanDuration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: a number and a unit (s, m, h, d, w), e.g. 30s, 5m, 7d, 1h 30m.",
            "type": "string",
            "pattern": r"^\s*([0-9]+\s*[a-zA-Zµ]+\s*)+$",
            "examples": ["30s", "5m", "7d"]
        })
    }
}

/// How the local platform picks client and peer ports: `auto` or a base port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ports {
    /// `auto`: free ports of 12000-19999 (below the kernel's ephemeral range), chosen
    /// once and kept across restarts.
    #[default]
    Auto,
    /// A base port: member `i` gets client port `base + 2i` and peer port `base + 2i + 1`.
    Base(u16),
}

impl Serialize for Ports {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => serializer.serialize_str("auto"),
            Self::Base(port) => serializer.serialize_u16(*port),
        }
    }
}

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortsVisitor;

        impl Visitor<'_> for PortsVisitor {
            type Value = Ports;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("auto, or a base port number from 1024 to 65535")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v {
                    "auto" => Ok(Ports::Auto),
                    _ => Err(E::invalid_value(Unexpected::Str(v), &self)),
                }
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                u16::try_from(v)
                    .map(Ports::Base)
                    .map_err(|_| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
                    .and_then(|v| self.visit_u64(v))
            }
        }

        deserializer.deserialize_any(PortsVisitor)
    }
}

impl JsonSchema for Ports {
    fn schema_name() -> Cow<'static, str> {
        "Ports".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "`auto` (free ports of 12000-19999, below the kernel's ephemeral range, chosen once and kept across restarts) or a base port: member i gets client port base + 2i and peer port base + 2i + 1.",
            "oneOf": [
                { "type": "string", "const": "auto" },
                { "type": "integer", "minimum": 1024, "maximum": 65535 }
            ]
        })
    }
}

/// When scheduled backups run: a 5-field cron expression or a fixed interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupSchedule {
    /// A 5-field cron expression (minute hour day-of-month month day-of-week), in UTC.
    Cron(String),
    /// `every: 30m`: a fixed interval.
    Every(HumanDuration),
}

/// The object form of a schedule: `{ every: 30m }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EveryForm {
    every: HumanDuration,
}

impl Serialize for BackupSchedule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Self::Cron(expression) => serializer.serialize_str(expression),
            Self::Every(interval) => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("every", interval)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for BackupSchedule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScheduleVisitor;

        impl<'de> Visitor<'de> for ScheduleVisitor {
            type Value = BackupSchedule;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 5-field cron expression such as \"*/30 * * * *\" or every: DURATION")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BackupSchedule::Cron(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let form = EveryForm::deserialize(MapAccessDeserializer::new(map))?;
                Ok(BackupSchedule::Every(form.every))
            }
        }

        deserializer.deserialize_any(ScheduleVisitor)
    }
}

impl JsonSchema for BackupSchedule {
    fn schema_name() -> Cow<'static, str> {
        "BackupSchedule".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let duration = generator.subschema_for::<HumanDuration>();
        json_schema!({
            "description": "When scheduled backups run: a 5-field cron expression (minute hour day-of-month month day-of-week, UTC) such as \"*/30 * * * *\", or { every: DURATION }.",
            "oneOf": [
                { "type": "string", "examples": ["*/30 * * * *"] },
                {
                    "type": "object",
                    "properties": { "every": duration },
                    "required": ["every"],
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// How member client URLs are found: a template, or one URL per pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// A URL template with `{pod}` and `{service}` placeholders.
    Template(String),
    /// One client URL per pod name (`etcd-0: https://10.0.0.1:2379`).
    Map(BTreeMap<String, String>),
}

impl Serialize for Endpoints {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Template(template) => serializer.serialize_str(template),
            Self::Map(urls) => urls.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Endpoints {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EndpointsVisitor;

        impl<'de> Visitor<'de> for EndpointsVisitor {
            type Value = Endpoints;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a URL template with {pod} and {service}, or a map of pod name to client URL")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Endpoints::Template(v.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut urls = BTreeMap::new();
                while let Some((pod, url)) = map.next_entry::<String, String>()? {
                    if urls.contains_key(&pod) {
                        return Err(de::Error::custom(format_args!(
                            "{pod} is given twice (one client URL per pod)"
                        )));
                    }
                    urls.insert(pod, url);
                }
                Ok(Endpoints::Map(urls))
            }
        }

        deserializer.deserialize_any(EndpointsVisitor)
    }
}

impl JsonSchema for Endpoints {
    fn schema_name() -> Cow<'static, str> {
        "Endpoints".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "DC/OS only. A client URL template with {pod} and {service} placeholders (default: https://{pod}-peer.{service}.autoip.dcos.thisdcos.directory:2379), or a map of pod name (etcd-0 .. etcd-4) to client URL that names every member.",
            "oneOf": [
                { "type": "string" },
                {
                    "type": "object",
                    "propertyNames": { "pattern": "^etcd-[0-4]$" },
                    "additionalProperties": { "type": "string" }
                }
            ]
        })
    }
}

/// A byte size: a number of bytes, or a number and a unit (`64MiB`, `100MB`, `2GiB`).
#[derive(Serialize, Deserialize, JsonSchema, Debug, Clone, PartialEq, Eq)]
#[serde(untagged)]
pub enum ByteSizeValue {
    /// A number of bytes.
    Bytes(u64),
    /// A number and a unit: B, KB, KiB, MB, MiB, GB, GiB, ...
    Text(String),
}

impl ByteSizeValue {
    /// The number of bytes.
    ///
    /// # Errors
    /// When the text is not a number with a known unit.
    pub fn bytes(&self) -> Result<u64, String> {
        match self {
            Self::Bytes(n) => Ok(*n),
            Self::Text(text) => text.trim().parse::<bytesize::ByteSize>().map(|b| b.as_u64()),
        }
    }
}

impl From<&str> for ByteSizeValue {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

/// Deserializes an optional section so that a present but empty value (`local:` in YAML)
/// means the section with its defaults, while an absent field stays `None`.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Some(Option::<T>::deserialize(deserializer)?.unwrap_or_default()))
}

/// Deserializes a section that has defaults so that an empty value (`spec:` in YAML)
/// means the section with its defaults.
pub(crate) fn null_as_default_value<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}
