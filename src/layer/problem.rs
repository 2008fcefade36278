//! RFC 9457 `application/problem+json` responses for rejections.

use http::{HeaderValue, Response, StatusCode, header};
use serde::Serialize;

use crate::rejection::Rejection;

/// The media type of every refusal body.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The RFC 9457 problem document certgate sends.
#[derive(Serialize)]
struct Problem<'a> {
    /// A URI naming the reason: `tag:certgate,2026:reason/<code>` (RFC 4151 tag URI).
    #[serde(rename = "type")]
    kind: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<String>,
}

/// Builds the refusal for `rejection`: 401 for `no_certificate`, 429 with `Retry-After` (in
/// seconds) for `quarantined` and `rate_limited`, 403 otherwise, with the reason code in the body (and `detail`
/// unless hidden). The rejection itself goes into the
/// response's extensions for logging middleware.
pub fn problem_response<B: From<String>>(rejection: &Rejection, show_detail: bool) -> Response<B> {
    let status = rejection.http_status();
    let title = match rejection {
        Rejection::NoCertificate => "Client certificate required",
        Rejection::Quarantined { .. } => "Client quarantined",
        Rejection::RateLimited { .. } => "Too many requests",
        _ => "Client certificate refused",
    };
    let detail = show_detail.then(|| rejection.to_string());
    let mut response = json_response(
        status,
        &Problem {
            kind: format!("tag:certgate,2026:reason/{}", rejection.code()),
            title,
            status: status.as_u16(),
            code: rejection.code(),
            detail,
        },
    );
    if let Rejection::Quarantined {
        retry_after_seconds,
    }
    | Rejection::RateLimited {
        retry_after_seconds,
        ..
    } = rejection
    {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_seconds));
    }
    response.extensions_mut().insert(rejection.clone());
    response
}

/// A problem document of certgate's shape for refusals that are not a [`Rejection`] (the
/// enrollment router's).
#[cfg(feature = "enroll")]
pub(crate) fn problem<B: From<String>>(
    status: StatusCode,
    title: &str,
    kind: &str,
    code: &str,
    detail: Option<String>,
) -> Response<B> {
    json_response(
        status,
        &Problem {
            kind: kind.to_owned(),
            title,
            status: status.as_u16(),
            code,
            detail,
        },
    )
}

/// A 500 problem for a wiring bug (for example an extractor without the layer).
#[cfg(feature = "axum")]
pub(crate) fn server_error<B: From<String>>(code: &str, detail: &str) -> Response<B> {
    json_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        &Problem {
            kind: format!("tag:certgate,2026:error/{code}"),
            title: "Server misconfiguration",
            status: 500,
            code,
            detail: Some(detail.to_owned()),
        },
    )
}

fn json_response<B: From<String>>(status: StatusCode, problem: &Problem<'_>) -> Response<B> {
    // Serializing a struct of strings and integers cannot fail; fall back to a bare body anyway.
    let body = serde_json::to_string(problem)
        .unwrap_or_else(|_| format!("{{\"status\":{}}}", status.as_u16()));
    let mut response = Response::new(B::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
