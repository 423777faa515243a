//! Errors as cargo shows them: a status and `{"errors":[{"detail":"..."}]}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use registry_jobs::RegistryError;

/// A request that failed: the status and the text cargo prints to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// What went wrong, for the user.
    pub detail: String,
}

impl ApiError {
    /// An error with `status` and `detail`.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> ApiError {
        ApiError { status, detail: detail.into() }
    }

    /// 400: the request is malformed.
    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 403: no token, or a token that grants nothing here.
    pub fn forbidden(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, detail)
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, detail)
    }

    /// 500, for a failure of the server's own parts: the detail is logged, the client is
    /// told only that it is the server's fault.
    pub fn internal(context: &str, err: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %redact::redact(&err.to_string()), "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("internal server error while {context}; the registry's operator can see why in its log"),
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.status, self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "errors": [{ "detail": self.detail }] });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            // Cargo (≥ 1.74) retries an `auth-required` registry's requests with its token
            // when told so.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Cargo"));
        }
        response
    }
}

/// The status and text of a registry operation's error: the user's mistakes get a 4xx and
/// the error's own text; the server's failures a 5xx whose detail stays in the log.
pub fn from_registry(context: &str, err: RegistryError) -> ApiError {
    use RegistryError as E;
    let status = match &err {
        E::InvalidName(_)
        | E::InvalidVersion { .. }
        | E::InvalidDependency { .. }
        | E::Metadata(_)
        | E::InvalidChecksum { .. }
        | E::InvalidPackage { .. }
        | E::InvalidLogin { .. }
        | E::LastOwner { .. } => StatusCode::BAD_REQUEST,
        E::VersionExists { .. } | E::NameClash { .. } => StatusCode::CONFLICT,
        E::UnknownCrate(_) | E::UnknownVersion { .. } | E::UnknownUser { .. } => {
            StatusCode::NOT_FOUND
        }
        E::NotOwner { .. } => StatusCode::FORBIDDEN,
        E::Storage { .. } => {
            tracing::error!(error = %redact::redact(&err.to_string()), "{context}");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the registry's file storage is unavailable while {context}; nothing was recorded; try again shortly"
                ),
            );
        }
        E::Pool(_) => {
            tracing::error!(error = %redact::redact(&err.to_string()), "{context}");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "the registry's database is unavailable while {context}; try again shortly"
                ),
            );
        }
        _ => return ApiError::internal(context, &err),
    };
    ApiError::new(status, err.to_string())
}
