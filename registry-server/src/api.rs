//! The Web API's handlers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use registry_jobs::{read_crate_bytes, User};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{from_registry, ApiError};
use crate::upload::{check_agreement, read_upload};
use crate::AppState;

/// How long a publish body may take to arrive: a client can't hold an upload slot forever.
const UPLOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Runs blocking database work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    context: &'static str,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(err) => Err(ApiError::internal(context, &err)),
    }
}

/// The token of a request: the `Authorization` header as cargo sends it (the bare token),
/// or after `Bearer `.
fn token(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let value = value.strip_prefix("Bearer ").unwrap_or(value).trim();
    (!value.is_empty()).then(|| value.to_owned())
}

/// The user whose token the request carries; 403 without one or with a wrong one.
pub(crate) async fn user(state: &Arc<AppState>, headers: &HeaderMap) -> Result<User, ApiError> {
    let Some(token) = token(headers) else {
        return Err(ApiError::forbidden(
            "this request needs an API token: run `cargo login --registry NAME` with a token from \
             `registry-server token create LOGIN`",
        ));
    };
    let state = Arc::clone(state);
    let found = blocking("checking the API token", move || {
        state.database.authenticate(&token).map_err(|e| from_registry("checking the API token", e))
    })
    .await?;
    found.ok_or_else(|| {
        ApiError::forbidden(
            "the API token is not valid for this registry; create one with \
             `registry-server token create LOGIN` and run `cargo login --registry NAME`",
        )
    })
}

/// `PUT /api/v1/crates/new`.
pub(crate) async fn publish(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    // Who is asking before a byte of the upload is read.
    let user = user(&state, &headers).await?;
    let _permit =
        state.uploads.acquire().await.map_err(|e| ApiError::internal("queueing an upload", &e))?;
    let upload = tokio::time::timeout(UPLOAD_TIMEOUT, read_upload(body, state.max_upload))
        .await
        .map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            format!("the upload took longer than {} s", UPLOAD_TIMEOUT.as_secs()),
        )
    })??;
    // Checked and written to disk (fsynced) before waiting for a turn to write.
    let shared = Arc::clone(&state);
    let (manifest, description, staged) = blocking("storing the upload", move || {
        let metadata = &upload.metadata;
        let stem = format!("{}-{}", metadata.name, metadata.vers);
        let manifest = read_crate_bytes(&stem, &upload.crate_bytes).map_err(|source| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!(
                    "{} {}: the .crate file is not valid: {source}",
                    metadata.name, metadata.vers
                ),
            )
        })?;
        check_agreement(metadata, &manifest)?;
        let (name, vers) = manifest.validate().map_err(|e| from_registry("publishing", e))?;
        let staged = shared
            .store
            .stage(&name, &vers, &upload.crate_bytes)
            .map_err(|e| from_registry("storing the upload", e))?;
        Ok((manifest, upload.metadata.description, staged))
    })
    .await?;
    let turn = state.write_turn().await;
    let shared = Arc::clone(&state);
    let published = blocking("publishing", move || {
        shared
            .database
            .publish_staged(&user, &manifest, description.as_deref(), staged)
            .map_err(|e| from_registry("publishing", e))
    })
    .await?;
    drop(turn);
    state.changed();
    tracing::info!(krate = %published.name, vers = %published.vers, "published");
    Ok(Json(json!({
        "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] }
    })))
}

async fn set_yanked(
    state: Arc<AppState>,
    headers: HeaderMap,
    name: String,
    version: String,
    yanked: bool,
) -> Result<Json<Value>, ApiError> {
    let user = user(&state, &headers).await?;
    let context = if yanked { "yanking" } else { "unyanking" };
    let turn = state.write_turn().await;
    let shared = Arc::clone(&state);
    let outcome = blocking(context, move || {
        shared
            .database
            .set_yanked_by(&user, &name, &version, yanked)
            .map_err(|e| from_registry(context, e))
    })
    .await?;
    drop(turn);
    if outcome.changed {
        state.changed();
    }
    Ok(Json(json!({ "ok": true })))
}

/// `DELETE /api/v1/crates/{name}/{version}/yank`.
pub(crate) async fn yank(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_yanked(state, headers, name, version, true).await
}

/// `PUT /api/v1/crates/{name}/{version}/unyank`.
pub(crate) async fn unyank(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    set_yanked(state, headers, name, version, false).await
}

/// `GET /api/v1/crates/{name}/owners`.
pub(crate) async fn list_owners(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    user(&state, &headers).await?;
    let owners = blocking("listing owners", move || {
        state.database.owners(&name).map_err(|e| from_registry("listing owners", e))
    })
    .await?;
    let users: Vec<Value> =
        owners.iter().map(|u| json!({ "id": u.id, "login": u.login, "name": null })).collect();
    Ok(Json(json!({ "users": users })))
}

/// The body of `PUT`/`DELETE .../owners`.
#[derive(Debug, Deserialize)]
pub(crate) struct OwnersBody {
    users: Vec<String>,
}

async fn change_owners(
    state: Arc<AppState>,
    headers: HeaderMap,
    name: String,
    body: Result<Json<OwnersBody>, axum::extract::rejection::JsonRejection>,
    add: bool,
) -> Result<Json<Value>, ApiError> {
    let user = user(&state, &headers).await?;
    let Json(body) = body.map_err(|e| {
        ApiError::bad_request(format!("expected a JSON body like {{\"users\":[\"login\"]}}: {e}"))
    })?;
    let context = if add { "adding owners" } else { "removing owners" };
    let logins = body.users.clone();
    let krate = name.clone();
    blocking(context, move || {
        state
            .database
            .change_owners(&user, &krate, &logins, add)
            .map_err(|e| from_registry(context, e))
    })
    .await?;
    let list = body.users.join(", ");
    let msg = if add {
        format!("{list} now own{} crate {name}", if body.users.len() == 1 { "s" } else { "" })
    } else {
        format!("{list} no longer own{} crate {name}", if body.users.len() == 1 { "s" } else { "" })
    };
    Ok(Json(json!({ "ok": true, "msg": msg })))
}

/// `PUT /api/v1/crates/{name}/owners`.
pub(crate) async fn add_owners(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<OwnersBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    change_owners(state, headers, name, body, true).await
}

/// `DELETE /api/v1/crates/{name}/owners`.
pub(crate) async fn remove_owners(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Result<Json<OwnersBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    change_owners(state, headers, name, body, false).await
}

/// The query of `GET /api/v1/crates`.
#[derive(Debug, Deserialize)]
pub(crate) struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    per_page: Option<u32>,
}

/// `GET /api/v1/crates?q=&per_page=`.
pub(crate) async fn search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    if state.auth_required {
        user(&state, &headers).await?;
    }
    let Query(query) = query.map_err(|e| {
        ApiError::bad_request(format!("expected ?q=TEXT&per_page=N (N from 1 to 100): {e}"))
    })?;
    let limit = query.per_page.unwrap_or(10);
    let found = blocking("searching", move || {
        state.database.search(&query.q, limit).map_err(|e| from_registry("searching", e))
    })
    .await?;
    Ok(Json(json!({ "crates": found.crates, "meta": { "total": found.total } })))
}
