//! The sparse index and the downloads: files the workers and publishes wrote, served with
//! validators so that cargo's conditional requests cost a 304.

use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use index_git::CrateName;
use sha2::{Digest as _, Sha256};

use crate::api::{blocking, user};
use crate::error::{from_registry, ApiError};
use crate::AppState;

/// With `auth-required`, a request without a token gets 401 (cargo then retries with its
/// token) and one with a wrong token 403.
async fn check_read_access(state: &Arc<AppState>, headers: &HeaderMap) -> Result<(), ApiError> {
    if !state.auth_required {
        return Ok(());
    }
    if !headers.contains_key(header::AUTHORIZATION) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "this registry is private: cargo needs a token (`cargo login --registry NAME`)",
        ));
    }
    user(state, headers).await.map(|_| ())
}

/// `GET /index/config.json`: the configured `dl` and `api`, and `auth-required`.
pub(crate) async fn config(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    check_read_access(&state, &headers).await?;
    let mut config = serde_json::to_value(&state.index_config)
        .map_err(|e| ApiError::internal("writing config.json", &e))?;
    if state.auth_required {
        config["auth-required"] = serde_json::Value::Bool(true);
    }
    let text = serde_json::to_string_pretty(&config)
        .map_err(|e| ApiError::internal("writing config.json", &e))?;
    Ok(validated(&headers, text.into_bytes(), None, "application/json"))
}

/// `GET /index/{path}`: a crate's index file, `404` when the crate has none.
pub(crate) async fn file(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> Result<Response, ApiError> {
    check_read_access(&state, &headers).await?;
    // Only the paths the layout gives a valid name: no `..`, no other files.
    let name = path.rsplit('/').next().unwrap_or_default();
    let name = CrateName::new(name)
        .map_err(|_| ApiError::not_found(format!("{path} is not a crate's index path")))?;
    if name.index_path() != path {
        return Err(ApiError::not_found(format!(
            "{path} is not a crate's index path; {name}'s is {}",
            name.index_path()
        )));
    }
    let shared = Arc::clone(&state);
    let relative = path.clone();
    let read = blocking("reading the sparse index", move || {
        shared.sparse.read_path(&relative).map_err(|e| from_registry("reading the sparse index", e))
    })
    .await?;
    match read {
        Some(object) => Ok(validated(&headers, object.bytes, object.modified, "text/plain")),
        None => Err(ApiError::not_found(format!("crate {name} does not exist"))),
    }
}

/// A `200` with `ETag` (and `Last-Modified` when known), or a `304` when the request's
/// `If-None-Match` or `If-Modified-Since` says the client has it.
fn validated(
    headers: &HeaderMap,
    bytes: Vec<u8>,
    modified: Option<SystemTime>,
    content_type: &'static str,
) -> Response {
    let digest = Sha256::digest(&bytes);
    let etag: String =
        format!("\"{}\"", digest.iter().take(16).map(|b| format!("{b:02x}")).collect::<String>());
    let last_modified = modified.map(httpdate::fmt_http_date);
    let not_modified = match headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        Some(tags) => tags.split(',').any(|t| t.trim() == etag || t.trim() == "*"),
        None => {
            match (headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()), modified) {
                (Some(since), Some(modified)) => httpdate::parse_http_date(since)
                    .map(|since| {
                        // HTTP dates have whole seconds.
                        let modified_secs = modified
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(u64::MAX);
                        let since_secs = since
                            .duration_since(SystemTime::UNIX_EPOCH)
                            .map(|d| d.as_secs())
                            .unwrap_or(0);
                        modified_secs <= since_secs
                    })
                    .unwrap_or(false),
                _ => false,
            }
        }
    };
    let mut response = if not_modified {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = bytes.into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        response
    };
    let out = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    if let Some(value) = last_modified.and_then(|d| HeaderValue::from_str(&d).ok()) {
        out.insert(header::LAST_MODIFIED, value);
    }
    // Cached, but checked again on every use: an index file changes with each publish.
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(registry_jobs::blobs::INDEX_CACHE_CONTROL),
    );
    response
}

/// `GET /api/v1/crates/{name}/{version}/download`: the `.crate` file.
pub(crate) async fn download(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_read_access(&state, &headers).await?;
    let missing = || ApiError::not_found(format!("{name} {version} does not exist"));
    let crate_name = CrateName::new(&name).map_err(|_| missing())?;
    let vers = semver::Version::parse(&version).map_err(|_| missing())?;
    let shared = Arc::clone(&state);
    let read = blocking("reading a .crate file", move || {
        shared.store.read(&crate_name, &vers).map_err(|e| from_registry("reading a .crate file", e))
    })
    .await?;
    let Some(bytes) = read else { return Err(missing()) };
    let mut response = bytes.into_response();
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/gzip"));
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(registry_jobs::blobs::CRATE_CACHE_CONTROL),
    );
    Ok(response)
}
