//! axum extractors: [`PeerIdentity`], `Option<PeerIdentity>` and [`Verdict`].
//!
//! ```
//! use axum::{Json, Router, routing::get};
//! use certgate::PeerIdentity;
//!
//! async fn whoami(identity: PeerIdentity) -> Json<PeerIdentity> {
//!     Json(identity)
//! }
//!
//! # fn app(gate: certgate::Gate) -> Router {
//! Router::new().route("/whoami", get(whoami)).layer(certgate::CertGateLayer::new(gate))
//! # }
//! ```
//!
//! With the layer in observe mode a rejected peer reaches the handler: `PeerIdentity` then
//! answers with the matching 401/403 problem response, `Option<PeerIdentity>` gives `None`.
//! Without the layer at all, every extractor answers 500 naming the missing layer: that is a
//! wiring bug, not the client's fault.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::Response;
use http::request::Parts;

use crate::gate::Verdict;
use crate::layer::{problem_response, server_error};
use crate::verify::identity::PeerIdentity;

const MISSING_LAYER: &str =
    "no certgate verdict on this request: add CertGateLayer in front of this handler";

impl<S: Send + Sync> FromRequestParts<S> for PeerIdentity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        // The (innermost) layer's verdict decides; a bare `PeerIdentity` extension only counts
        // when no layer ran (an application that runs the gate itself).
        match parts.extensions.get::<Verdict>() {
            Some(verdict) => match (verdict.identity(), verdict.rejection()) {
                (Some(identity), _) => Ok(identity.clone()),
                (None, Some(rejection)) => Err(problem_response(rejection, verdict.show_detail)),
                (None, None) => Err(server_error("layer_missing", MISSING_LAYER)),
            },
            None => parts
                .extensions
                .get::<PeerIdentity>()
                .cloned()
                .ok_or_else(|| server_error("layer_missing", MISSING_LAYER)),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for PeerIdentity {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Verdict>() {
            Some(verdict) => Ok(verdict.identity().cloned()),
            None => match parts.extensions.get::<PeerIdentity>() {
                Some(identity) => Ok(Some(identity.clone())),
                None => Err(server_error("layer_missing", MISSING_LAYER)),
            },
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Verdict {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verdict>()
            .cloned()
            .ok_or_else(|| server_error("layer_missing", MISSING_LAYER))
    }
}
