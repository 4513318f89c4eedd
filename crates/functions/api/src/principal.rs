//! Who is calling, as the auth layer (`http_controls::auth`) established it: a gateway key, a
//! key's SigV4 signature, or API Gateway JWT claims; with controls off, the tenant of the JWT
//! claims (claim `controls.auth.jwt_tenant_claim`, else `sub`) or `default`.

use axum::extract::FromRequestParts;
use http::request::Parts;
use lambda_http::request::RequestContext;
use std::collections::HashMap;
use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct RequestPrincipal(pub Arc<gateway::controls::Principal>);

impl Deref for RequestPrincipal {
    type Target = gateway::controls::Principal;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// The claims API Gateway's JWT authorizer verified, when the request came through one.
pub fn jwt_claims(parts: &Parts) -> Option<HashMap<String, String>> {
    match parts.extensions.get::<RequestContext>() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .map(|jwt| jwt.claims.clone()),
        _ => None,
    }
}

/// The principal of a deployment without controls.
pub fn open_principal(
    claims: Option<&HashMap<String, String>>,
    tenant_claim: &str,
) -> gateway::controls::Principal {
    let tenant = claims
        .and_then(|c| c.get(tenant_claim).or_else(|| c.get("sub")).cloned())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "default".to_owned());
    gateway::controls::Principal::open(tenant)
}

impl<S: Send + Sync> FromRequestParts<S> for RequestPrincipal {
    type Rejection = Infallible;

    /// The auth layer's principal; on a route without the layer, the open principal.
    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(principal) = parts.extensions.get::<RequestPrincipal>() {
            return Ok(principal.clone());
        }
        let claims = jwt_claims(parts);
        Ok(Self(Arc::new(open_principal(claims.as_ref(), "tenant"))))
    }
}
