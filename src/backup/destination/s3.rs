//! The S3 destination, through the `object_store` crate: objects are keys
//! `<prefix>/<cluster>/<name>` in one bucket, on AWS or any S3-compatible server.
//!
//! Large files stream: a file that fits in one part goes up in a single PUT; a larger
//! one as a multipart upload of [`PART_SIZE`] parts with at most
//! [`MAX_PARTS_IN_FLIGHT`] uploading at once, so memory stays near
//! `(MAX_PARTS_IN_FLIGHT + 1) * PART_SIZE` whatever the file size. Payloads are signed
//! (SigV4 with the payload's SHA-256), so the server rejects a part that was damaged on
//! the way. Downloads are written chunk by chunk as they arrive.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey, AwsCredential};
use object_store::path::{Path as ObjectPath, PathPart};
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt, StaticCredentialProvider, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::error::http_status;
use super::file::local_io;
use super::pending::PendingFile;
use super::{DestinationError, check_name};
use crate::domain::ClusterName;
use crate::manifest::{S3Credentials, S3Destination};

/// The size of one multipart part (S3 allows 5 MiB to 5 GiB, at most 10,000 parts:
/// 80 GiB per object at this size, far above etcd's 8 GiB limit).
pub(super) const PART_SIZE: usize = 8 * 1024 * 1024;

/// How many parts upload at once.
pub(super) const MAX_PARTS_IN_FLIGHT: usize = 2;

/// How much of a file is read at a time.
const READ_CHUNK: usize = 1024 * 1024;

/// The longest one request may take (one part, one whole download attempt; a broken
/// download resumes from where it stopped).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest a request may go without receiving a byte.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// The objects of one cluster in an S3 bucket.
#[derive(Debug)]
pub(super) struct S3Store {
    store: AmazonS3,
    prefix: ObjectPath,
    location: String,
}

impl S3Store {
    /// Builds the client; makes no request.
    pub(super) async fn open(
        destination: &S3Destination,
        cluster: &ClusterName,
    ) -> Result<Self, DestinationError> {
        let prefix: ObjectPath = destination
            .prefix
            .split('/')
            .filter(|part| !part.is_empty())
            .chain([cluster.as_str()])
            .map(PathPart::from)
            .collect();
        let location = format!("s3://{}/{prefix}/", destination.bucket);
        let credential = match &destination.credentials {
            Some(credentials) => Some(AwsCredential {
                key_id: credentials.access_key_id.clone(),
                secret_key: read_secret_key(credentials, &location).await?,
                token: None,
            }),
            None => None,
        };
        let store = configure(destination, credential).build().map_err(|source| {
            DestinationError::Configure { location: location.clone(), source: Box::new(source) }
        })?;
        Ok(Self { store, prefix, location })
    }

    /// `s3://bucket/prefix/cluster/`.
    pub(super) fn location(&self) -> &str {
        &self.location
    }

    /// Uploads `local` as `name`: one PUT when it fits in a part, else multipart.
    pub(super) async fn put_file(&self, name: &str, local_path: &Path) -> Result<u64, DestinationError> {
        let key = self.key(name);
        let mut file = tokio::fs::File::open(local_path).await.map_err(local_io("read", local_path))?;
        let mut first = Vec::with_capacity(PART_SIZE);
        (&mut file)
            .take(PART_SIZE as u64)
            .read_to_end(&mut first)
            .await
            .map_err(local_io("read", local_path))?;
        if first.len() < PART_SIZE {
            let bytes = first.len() as u64;
            self.store.put(&key, first.into()).await.map_err(self.remote("store", name))?;
            return Ok(bytes);
        }
        let upload = self.store.put_multipart(&key).await.map_err(self.remote("start uploading", name))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        writer.write(&first);
        drop(first);
        match self.upload_rest(&mut writer, &mut file, name, local_path).await {
            Ok(rest) => {
                writer.finish().await.map_err(self.remote("complete uploading", name))?;
                Ok(PART_SIZE as u64 + rest)
            }
            Err(err) => {
                // Best effort: a failed abort leaves parts for the bucket's lifecycle rules.
                let _ = writer.abort().await;
                Err(err)
            }
        }
    }

    /// Feeds the rest of `file` to `writer`, waiting while too many parts are in flight.
    async fn upload_rest(
        &self,
        writer: &mut WriteMultipart,
        file: &mut tokio::fs::File,
        name: &str,
        local_path: &Path,
    ) -> Result<u64, DestinationError> {
        let mut buf = vec![0; READ_CHUNK];
        let mut total = 0u64;
        loop {
            writer
                .wait_for_capacity(MAX_PARTS_IN_FLIGHT)
                .await
                .map_err(self.remote("upload a part of", name))?;
            let n = file.read(&mut buf).await.map_err(local_io("read", local_path))?;
            if n == 0 {
                return Ok(total);
            }
            writer.write(&buf[..n]);
            total += n as u64;
        }
    }

    /// Downloads `name` into `local_path`, chunk by chunk, through a temporary file.
    pub(super) async fn get_file(&self, name: &str, local_path: &Path) -> Result<u64, DestinationError> {
        let result = self.store.get(&self.key(name)).await.map_err(self.reading("fetch", name))?;
        let expected = result.meta.size;
        let target = local_path.to_path_buf();
        let (pending, file) = tokio::task::spawn_blocking(move || PendingFile::create(&target))
            .await
            .map_err(|join| std::io::Error::other(join.to_string()))
            .and_then(|created| created)
            .map_err(local_io("create", local_path))?;
        let mut file = tokio::fs::File::from_std(file);
        let mut stream = result.into_stream();
        let mut received = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.remote("fetch", name))?;
            file.write_all(&chunk).await.map_err(local_io("write", pending.temp()))?;
            received += chunk.len() as u64;
        }
        if received != expected {
            let (location, name) = (self.location.clone(), name.to_owned());
            return Err(DestinationError::SizeMismatch { location, name, received, expected });
        }
        file.flush().await.map_err(local_io("write", pending.temp()))?;
        file.sync_all().await.map_err(local_io("sync", pending.temp()))?;
        drop(file);
        tokio::task::spawn_blocking(move || pending.commit())
            .await
            .map_err(|join| std::io::Error::other(join.to_string()))
            .and_then(|committed| committed)
            .map_err(local_io("rename into place", local_path))?;
        Ok(received)
    }

    /// One PUT.
    pub(super) async fn put_bytes(&self, name: &str, bytes: Vec<u8>) -> Result<(), DestinationError> {
        self.store.put(&self.key(name), bytes.into()).await.map_err(self.remote("store", name))?;
        Ok(())
    }

    /// One GET, whole.
    pub(super) async fn get_bytes(&self, name: &str) -> Result<Vec<u8>, DestinationError> {
        let result = self.store.get(&self.key(name)).await.map_err(self.reading("fetch", name))?;
        let bytes = result.bytes().await.map_err(self.remote("fetch", name))?;
        Ok(bytes.to_vec())
    }

    /// The keys right under the prefix (not deeper) with object names.
    pub(super) async fn list(&self) -> Result<Vec<(String, u64)>, DestinationError> {
        let listing =
            self.store.list_with_delimiter(Some(&self.prefix)).await.map_err(self.remote("list", ""))?;
        Ok(listing
            .objects
            .into_iter()
            .filter_map(|meta| {
                let name = meta.location.filename()?.to_owned();
                check_name(&name).ok().map(|()| (name, meta.size))
            })
            .collect())
    }

    /// One DELETE; S3 answers a missing key with success, and a server that answers
    /// 404 is treated the same.
    pub(super) async fn delete(&self, name: &str) -> Result<(), DestinationError> {
        match self.store.delete(&self.key(name)).await.map_err(self.reading("delete", name)) {
            Err(err) if err.is_not_found() => Ok(()),
            deleted => deleted,
        }
    }

    fn key(&self, name: &str) -> ObjectPath {
        self.prefix.clone().join(name)
    }

    /// Classifies a client error of a read of object `name`: there, "not found" means
    /// the object is absent.
    fn reading(
        &self,
        action: &'static str,
        name: &str,
    ) -> impl FnOnce(object_store::Error) -> DestinationError + use<> {
        let (location, name) = (self.location.clone(), name.to_owned());
        let other = self.remote(action, &name);
        move |source| match source {
            object_store::Error::NotFound { .. } => DestinationError::NotFound { location, name },
            source => other(source),
        }
    }

    /// Classifies a client error for object `name` (empty for the whole prefix). A "not
    /// found" here is the bucket's, not the object's.
    fn remote(
        &self,
        action: &'static str,
        name: &str,
    ) -> impl FnOnce(object_store::Error) -> DestinationError + use<> {
        let (location, name) = (self.location.clone(), name.to_owned());
        move |source| match source {
            object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
                DestinationError::AccessDenied { action, location, name, source: Box::new(source) }
            }
            source if matches!(http_status(&source), Some(401 | 403)) => {
                DestinationError::AccessDenied { action, location, name, source: Box::new(source) }
            }
            source => DestinationError::Remote { action, location, name, source: Box::new(source) },
        }
    }
}

/// The client settings: the manifest's, then the usual AWS environment for the rest.
fn configure(destination: &S3Destination, credential: Option<AwsCredential>) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&destination.bucket)
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::Timeout),
            format!("{}s", REQUEST_TIMEOUT.as_secs()),
        )
        .with_config(
            AmazonS3ConfigKey::Client(ClientConfigKey::ReadTimeout),
            format!("{}s", READ_TIMEOUT.as_secs()),
        );
    if let Some(region) = &destination.region {
        builder = builder.with_region(region);
    }
    if let Some(endpoint) = &destination.endpoint {
        // The manifest wins over AWS_ENDPOINT_URL_S3, which object_store prefers.
        builder = builder.with_endpoint(endpoint).with_config(AmazonS3ConfigKey::S3Endpoint, endpoint);
    }
    if let Some(credential) = credential {
        // Static keys from the manifest; no session token from the environment joins them.
        builder = builder.with_credentials(Arc::new(StaticCredentialProvider::new(credential)));
    }
    let endpoint = builder
        .get_config_value(&AmazonS3ConfigKey::S3Endpoint)
        .or_else(|| builder.get_config_value(&AmazonS3ConfigKey::Endpoint));
    match endpoint {
        // An http:// endpoint written by the operator (a local MinIO, a test server).
        Some(endpoint) if endpoint.to_ascii_lowercase().starts_with("http://") => {
            builder.with_allow_http(true)
        }
        Some(_) => builder,
        // AWS itself: virtual-hosted style, as AWS recommends, unless the environment
        // says otherwise or the bucket name has dots (which break TLS for that style).
        None if std::env::var_os("AWS_VIRTUAL_HOSTED_STYLE_REQUEST").is_none()
            && !destination.bucket.contains('.') =>
        {
            builder.with_virtual_hosted_style_request(true)
        }
        None => builder,
    }
}

/// Reads the secret access key from its file, trimmed. The key itself never appears in
/// an error.
async fn read_secret_key(credentials: &S3Credentials, location: &str) -> Result<String, DestinationError> {
    let path = &credentials.secret_access_key_file;
    let failed = |reason: String| DestinationError::SecretKeyFile {
        location: location.to_owned(),
        path: path.clone(),
        reason,
    };
    let text = tokio::fs::read_to_string(path).await.map_err(|e| failed(e.to_string()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(failed("the file is empty".to_owned()));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(endpoint: Option<&str>, bucket: &str) -> S3Destination {
        S3Destination {
            bucket: bucket.to_owned(),
            prefix: String::new(),
            endpoint: endpoint.map(str::to_owned),
            region: Some("eu-west-1".to_owned()),
            credentials: None,
        }
    }

    fn setting(builder: &AmazonS3Builder, key: AmazonS3ConfigKey) -> Option<String> {
        builder.get_config_value(&key)
    }

    #[test]
    fn only_an_explicit_http_endpoint_allows_plain_http() {
        let allow_http = AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp);
        let local = configure(&destination(Some("http://127.0.0.1:9000"), "b"), None);
        assert_eq!(setting(&local, allow_http).as_deref(), Some("true"));
        assert_eq!(setting(&local, AmazonS3ConfigKey::S3Endpoint).as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(setting(&local, AmazonS3ConfigKey::Region).as_deref(), Some("eu-west-1"));
        let tls = configure(&destination(Some("https://minio.example.com"), "b"), None);
        assert_ne!(setting(&tls, allow_http).as_deref(), Some("true"));
    }

    #[test]
    fn aws_itself_is_addressed_virtual_hosted_unless_the_bucket_has_dots() {
        let from_env =
            ["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST"];
        if from_env.iter().any(|var| std::env::var_os(var).is_some()) {
            return; // the environment chooses the endpoint or the style
        }
        let style = AmazonS3ConfigKey::VirtualHostedStyleRequest;
        let aws = configure(&destination(None, "backups"), None);
        assert_eq!(setting(&aws, style).as_deref(), Some("true"));
        let dotted = configure(&destination(None, "backups.example.com"), None);
        assert_eq!(setting(&dotted, style).as_deref(), Some("false"));
    }
}
