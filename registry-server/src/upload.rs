//! The body of `PUT /api/v1/crates/new`: a little-endian `u32` length, that much JSON
//! metadata, a `u32` length and that many bytes of `.crate` file. Read as a stream: each
//! length is checked against its limit before a byte of what it announces is read, so a
//! client can't make the server hold more than the limits.

use std::collections::BTreeSet;

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use http_body_util::BodyExt as _;
use registry_jobs::PublishRequest;
use serde::Deserialize;

use crate::error::ApiError;

/// The largest JSON metadata accepted.
pub const MAX_METADATA_SIZE: u32 = 1024 * 1024;

/// Cargo's metadata of a publish; only what the server uses. The index is written from the
/// manifest inside the `.crate`, which this must agree with.
#[derive(Debug, Deserialize)]
pub struct NewCrate {
    /// The crate.
    pub name: String,
    /// The version.
    pub vers: String,
    /// The dependencies.
    #[serde(default)]
    pub deps: Vec<NewDependency>,
    /// The features.
    #[serde(default)]
    pub features: std::collections::BTreeMap<String, Vec<String>>,
    /// `package.description`.
    #[serde(default)]
    pub description: Option<String>,
    /// `package.links`.
    #[serde(default)]
    pub links: Option<String>,
}

/// One dependency of [`NewCrate`].
#[derive(Debug, Deserialize)]
pub struct NewDependency {
    /// The depended-on package's name (not the rename).
    pub name: String,
    /// `normal`, `dev` or `build`.
    #[serde(default)]
    pub kind: Option<String>,
}

/// An upload read off the wire.
#[derive(Debug)]
pub struct Upload {
    /// The metadata.
    pub metadata: NewCrate,
    /// The `.crate` file.
    pub crate_bytes: Vec<u8>,
}

/// Reads the body of a publish, holding at most `MAX_METADATA_SIZE + max_crate_size`.
pub async fn read_upload(body: Body, max_crate_size: u32) -> Result<Upload, ApiError> {
    let mut reader = BodyReader { body, buffered: Vec::new(), consumed: 0 };
    let json_len = reader.read_u32("the length of the JSON metadata").await?;
    if json_len > MAX_METADATA_SIZE {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the JSON metadata is {json_len} bytes; at most {MAX_METADATA_SIZE} are accepted"
            ),
        ));
    }
    let json = reader.read_exact(json_len as usize, "the JSON metadata").await?;
    let metadata: NewCrate = serde_json::from_slice(&json).map_err(|e| {
        ApiError::bad_request(format!("the publish metadata is not the JSON cargo sends: {e}"))
    })?;
    let crate_len = reader.read_u32("the length of the .crate file").await?;
    if crate_len > max_crate_size {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "{} {}: the .crate file is {crate_len} bytes; this registry accepts at most {max_crate_size}",
                metadata.name, metadata.vers
            ),
        ));
    }
    let crate_bytes = reader.read_exact(crate_len as usize, "the .crate file").await?;
    reader.expect_end().await?;
    Ok(Upload { metadata, crate_bytes })
}

struct BodyReader {
    body: Body,
    buffered: Vec<u8>,
    consumed: u64,
}

impl BodyReader {
    async fn next_chunk(&mut self) -> Result<Option<Bytes>, ApiError> {
        loop {
            match self.body.frame().await {
                None => return Ok(None),
                Some(Err(err)) => {
                    return Err(ApiError::bad_request(format!(
                        "reading the request body failed: {err}"
                    )))
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if !data.is_empty() {
                            return Ok(Some(data));
                        }
                    }
                }
            }
        }
    }

    async fn read_exact(&mut self, n: usize, what: &str) -> Result<Vec<u8>, ApiError> {
        while self.buffered.len() < n {
            match self.next_chunk().await? {
                Some(chunk) => self.buffered.extend_from_slice(&chunk),
                None => {
                    return Err(ApiError::bad_request(format!(
                        "the body ends {} bytes in, inside {what}, which announced {n} bytes; \
                         expected a u32 JSON length, the JSON, a u32 .crate length and the .crate",
                        self.consumed + self.buffered.len() as u64
                    )))
                }
            }
        }
        let rest = self.buffered.split_off(n);
        let taken = std::mem::replace(&mut self.buffered, rest);
        self.consumed += n as u64;
        Ok(taken)
    }

    async fn read_u32(&mut self, what: &str) -> Result<u32, ApiError> {
        let bytes = self.read_exact(4, what).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    async fn expect_end(&mut self) -> Result<(), ApiError> {
        let extra = if self.buffered.is_empty() {
            self.next_chunk().await?.map(|c| c.len()).unwrap_or(0)
        } else {
            self.buffered.len()
        };
        if extra > 0 {
            return Err(ApiError::bad_request(format!(
                "the body goes on past the .crate file its length announced (at least {extra} more bytes)"
            )));
        }
        Ok(())
    }
}

/// Checks that the metadata says what the manifest inside the `.crate` says: the name, the
/// version, `links`, the dependencies' names and the features' names. The index is written
/// from the manifest, so a disagreement means a broken or forged client.
pub fn check_agreement(metadata: &NewCrate, manifest: &PublishRequest) -> Result<(), ApiError> {
    let disagree = |field: &str, json: String, toml: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "the publish metadata disagrees with Cargo.toml inside the .crate file on {field}: \
                 the metadata says {json}, Cargo.toml says {toml}"
            ),
        )
    };
    if metadata.name != manifest.name {
        return Err(disagree(
            "the name",
            format!("{:?}", metadata.name),
            format!("{:?}", manifest.name),
        ));
    }
    let same_version =
        match (semver::Version::parse(&metadata.vers), semver::Version::parse(&manifest.vers)) {
            (Ok(a), Ok(b)) => a == b,
            _ => metadata.vers == manifest.vers,
        };
    if !same_version {
        return Err(disagree(
            "the version",
            format!("{:?}", metadata.vers),
            format!("{:?}", manifest.vers),
        ));
    }
    if metadata.links != manifest.links {
        return Err(disagree(
            "links",
            format!("{:?}", metadata.links),
            format!("{:?}", manifest.links),
        ));
    }
    let json_deps: BTreeSet<(String, String)> = metadata
        .deps
        .iter()
        .map(|d| (d.name.clone(), d.kind.clone().unwrap_or_else(|| "normal".into())))
        .collect();
    let toml_deps: BTreeSet<(String, String)> = manifest
        .deps
        .iter()
        .map(|d| {
            let kind = serde_json::to_value(d.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "normal".into());
            (d.package.clone().unwrap_or_else(|| d.name.clone()), kind)
        })
        .collect();
    if json_deps != toml_deps {
        let show = |set: &BTreeSet<(String, String)>| {
            let list: Vec<String> = set.iter().map(|(n, k)| format!("{n} ({k})")).collect();
            format!("[{}]", list.join(", "))
        };
        return Err(disagree("the dependencies", show(&json_deps), show(&toml_deps)));
    }
    let json_features: BTreeSet<&String> = metadata.features.keys().collect();
    let toml_features: BTreeSet<&String> = manifest.features.keys().collect();
    if json_features != toml_features {
        return Err(disagree(
            "the features",
            format!("{json_features:?}"),
            format!("{toml_features:?}"),
        ));
    }
    Ok(())
}
