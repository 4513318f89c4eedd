//! Who is calling. Until gateway API keys land (issue 8), the tenant comes from the API Gateway
//! JWT authorizer's claims when the request went through one (claim `tenant`, else `sub`), and
//! is `default` otherwise (local runs, the Function URL).

use axum::extract::FromRequestParts;
use http::request::Parts;
use lambda_http::request::RequestContext;
use std::convert::Infallible;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub tenant: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let claims = match parts.extensions.get::<RequestContext>() {
            Some(RequestContext::ApiGatewayV2(context)) => {
                context.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|jwt| jwt.claims.clone())
            }
            _ => None,
        };
        let tenant = claims
            .and_then(|claims| claims.get("tenant").or_else(|| claims.get("sub")).cloned())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "default".to_owned());
        Ok(Self { tenant })
    }
}
