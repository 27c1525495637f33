//! The one permission check every request passes (R-ROLE-3): who is calling (session cookie or API
//! token), what the route needs (the table in `routes`), the role decision, CSRF for cookie
//! sessions, and the two-factor enrolment an administrator may require.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::core::TouchSession;
use crate::domain::access::{Capability, allows};
use crate::domain::account::User;
use crate::domain::audit::Actor;
use crate::domain::error_code::ErrorCode;
use crate::domain::secret::{self, constant_time_eq};

pub const SESSION_COOKIE: &str = "__Host-centralita";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Routes a user who must enrol in two-factor login may still use.
const ENROLMENT_ROUTES: &[&str] =
    &["/api/v1/me", "/api/v1/me/totp/setup", "/api/v1/me/totp/enable", "/api/v1/auth/logout", "/api/v1/roles"];

/// The signed-in caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub via: Via,
    pub address: IpAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    Session {
        hash: [u8; 32],
        csrf: String,
    },
    /// An API token, by the hash it is stored under.
    Token {
        hash: [u8; 32],
    },
}

impl Principal {
    pub fn actor(&self) -> Actor {
        Actor { user: Some(self.user.id), email: self.user.email.clone(), address: self.address.to_string() }
    }

    pub fn session_hash(&self) -> Option<[u8; 32]> {
        match &self.via {
            Via::Session { hash, .. } => Some(*hash),
            Via::Token { .. } => None,
        }
    }

    /// An administrator requires two-factor login and the user has not enrolled yet.
    pub fn must_enrol_totp(&self) -> bool {
        self.user.totp_required && self.user.totp.is_none()
    }
}

/// The client's address: the peer, or the last address a trusted proxy put in X-Forwarded-For.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

pub async fn authorize(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>().map(|path| path.as_str().to_owned()) else {
        // Not a route: the web UI's files and the JSON 404s, open to all.
        return next.run(request).await;
    };
    let method = if request.method() == Method::HEAD { Method::GET } else { request.method().clone() };
    let Some(capability) = state.capabilities.get(&(method.clone(), route.clone())).copied() else {
        return unlisted(&state, &route, &method, request, next).await;
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let address = client_address(peer, request.headers(), &state.settings.http.trusted_proxies);
    request.extensions_mut().insert(ClientIp(address));
    if matches!(capability, Capability::ChannelToken | Capability::Visitor) {
        // These carry a channel's or a visitor's token, which the handler checks; no user here.
        return next.run(request).await;
    }
    let principal = match identify(&state, request.headers(), address).await {
        Ok(principal) => principal,
        Err(err) => return err.into_response(),
    };
    let mut allowed = allows(principal.as_ref().map(|p| p.user.grants()).as_ref(), capability);
    if let Some(principal) = &principal
        && capability != Capability::Public
        && state.rules.has("permit")
    {
        allowed = permit(&state, principal, &method, &route, request.uri().path(), allowed).await;
    }
    if let Err(err) = check(principal.as_ref(), allowed, capability, &method, &route, request.headers()) {
        // Read what the client sent before refusing: answering mid-upload makes some HTTP/2
        // clients (curl) report a stream error instead of the answer.
        let drained = axum::body::to_bytes(request.into_body(), super::BODY_LIMIT);
        let _ = tokio::time::timeout(super::BODY_READ_TIMEOUT, drained).await;
        return err.into_response();
    }
    if let Some(principal) = principal {
        request.extensions_mut().insert(principal);
    }
    next.run(request).await
}

/// A matched route with no row for this method: the API's catch-all (a JSON 404), another method
/// of a listed path (405), or a route someone forgot to list (refused, and logged as a bug).
async fn unlisted(state: &AppState, route: &str, method: &Method, request: Request, next: Next) -> Response {
    if CATCH_ALL.contains(&route) {
        return next.run(request).await;
    }
    if state.capabilities.keys().any(|(_, path)| path == route) {
        return ApiError::method_not_allowed().into_response();
    }
    ApiError::internal(format!("{method} {route} has no entry in the permission table")).into_response()
}

/// The API's catch-all routes, which only answer "no such route".
pub const CATCH_ALL: [&str; 2] = ["/api", "/api/{*rest}"];

/// The rules' `permit` hook, after the role check (R-RULE-5): it may turn the decision around for
/// this user, action (`METHOD /route`) and resource. A failing rule leaves the decision as it was.
async fn permit(
    state: &AppState,
    principal: &Principal,
    method: &Method,
    route: &str,
    path: &str,
    allowed: bool,
) -> bool {
    let user = principal.user.clone();
    let action = format!("{method} {route}");
    let resource = crate::rules::data::resource(route, path);
    let store = state.store.clone();
    let decided = state.rules.blocking(move |rules| {
        let groups = store.read().and_then(|read| read.groups()).unwrap_or_default();
        rules.permit(crate::rules::data::user(&user, &groups), &action, resource, allowed)
    });
    decided.await.unwrap_or(allowed)
}

fn check(
    principal: Option<&Principal>,
    allowed: bool,
    capability: Capability,
    method: &Method,
    route: &str,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if !allowed {
        return Err(match principal {
            None => ApiError::not_signed_in(),
            Some(_) => ApiError::forbidden("Your roles do not allow this."),
        });
    }
    let Some(principal) = principal else {
        return Ok(());
    };
    if let Via::Session { csrf, .. } = &principal.via {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let sent = headers.get(CSRF_HEADER).and_then(|value| value.to_str().ok()).unwrap_or("");
        if !safe && !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
            return Err(ApiError::new(
                ErrorCode::CsrfFailed,
                "The request lacks the X-CSRF-Token header of this session; reload the page.",
            ));
        }
    }
    if capability != Capability::Public && principal.must_enrol_totp() && !ENROLMENT_ROUTES.contains(&route) {
        return Err(ApiError::new(
            ErrorCode::TotpSetupRequired,
            "An administrator requires two-factor login for your account: set it up in your profile first.",
        ));
    }
    Ok(())
}

/// Finds the caller from an `Authorization: Bearer` API token or the session cookie. A token that
/// is wrong is an error (a program should know); a stale cookie is just "not signed in".
async fn identify(state: &AppState, headers: &HeaderMap, address: IpAddr) -> Result<Option<Principal>, ApiError> {
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        let token = authorization.to_str().ok().and_then(|value| value.strip_prefix("Bearer ")).unwrap_or("").trim();
        let hash = secret::hash(token);
        let found = state.read(move |read| Ok(read.api_token(hash)?.map(|token| token.user))).await?;
        let user = match found {
            Some(user) => state.read(move |read| read.user(user)).await?,
            None => None,
        };
        return match user.filter(|user| user.active) {
            Some(user) => Ok(Some(Principal { user, via: Via::Token { hash }, address })),
            None => Err(ApiError::new(
                ErrorCode::InvalidToken,
                "The API token is not valid (revoked, mistyped, or its user deactivated).",
            )),
        };
    }
    let Some(value) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    let hash = secret::hash(&value);
    let Some(session) = state.read(move |read| read.session(hash)).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    if !session.is_alive(now, state.session_limits()) {
        return Ok(None);
    }
    let user_id = session.user;
    let Some(user) = state.read(move |read| read.user(user_id)).await?.filter(|user| user.active) else {
        return Ok(None);
    };
    if session.needs_touch(now, state.session_limits()) {
        let core = state.core.clone();
        tokio::spawn(async move {
            // Losing a touch only shortens the idle window by one touch interval.
            let _ = core.call(TouchSession { hash, at: now }).await;
        });
    }
    Ok(Some(Principal { user, via: Via::Session { hash, csrf: session.csrf }, address }))
}

/// The value of one cookie from the Cookie header(s).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// `Set-Cookie` for a new session: only over HTTPS, unreadable by scripts, never sent cross-site.
pub fn session_cookie(token: &str, max_age_secs: u64) -> HeaderValue {
    let value = format!("{SESSION_COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}");
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("invalid=1"))
}

pub fn clear_session_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-centralita=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0")
}

/// The peer's address, unless the peer is a trusted proxy: then the right-most address in
/// X-Forwarded-For that is not itself a trusted proxy. An entry that is not an address (`unknown`,
/// garbage) ends the walk with the unspecified address: whoever is behind it is not known, and
/// must not become whatever a client wrote further left. A trusted proxy that sends no header
/// stands for an unknown client too (it forwards someone; it is not the client).
pub fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.unwrap_or(IpAddr::from([0, 0, 0, 0]));
    if !trusted.contains(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    for entry in entries.into_iter().rev() {
        match forwarded_address(entry) {
            Some(addr) if trusted.contains(&addr) => continue,
            Some(addr) => return addr,
            None => break,
        }
    }
    IpAddr::from([0, 0, 0, 0])
}

/// One X-Forwarded-For entry: `203.0.113.9`, `203.0.113.9:5123`, `2001:db8::1`,
/// `[2001:db8::1]` or `[2001:db8::1]:5123`.
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(addr) = entry.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Ok(addr) = entry.parse::<std::net::SocketAddr>() {
        return Some(addr.ip());
    }
    entry.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn forwarded_for_counts_only_behind_a_trusted_proxy() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let client: IpAddr = "203.0.113.9".parse().unwrap();
        let headers = forwarded("198.51.100.1, 203.0.113.9");
        assert_eq!(client_address(Some(proxy), &headers, &[]), proxy, "no trusted proxy: header ignored");
        assert_eq!(client_address(Some(proxy), &headers, &[proxy]), client);
        assert_eq!(client_address(Some(client), &headers, &[proxy]), client, "a client cannot claim another address");
        let unknown = IpAddr::from([0, 0, 0, 0]);
        assert_eq!(client_address(Some(proxy), &forwarded("junk"), &[proxy]), unknown);
        assert_eq!(client_address(Some(proxy), &HeaderMap::new(), &[proxy]), unknown, "no header: not the proxy");
        let forged = forwarded("127.0.0.1, unknown");
        assert_eq!(client_address(Some(proxy), &forged, &[proxy]), unknown, "no walking past an unknown entry");
        assert_eq!(client_address(Some(proxy), &forwarded("203.0.113.9:5123"), &[proxy]), client);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(client_address(Some(proxy), &forwarded("[2001:db8::1]:443"), &[proxy]), v6);
        assert_eq!(client_address(Some(proxy), &forwarded("[2001:db8::1]"), &[proxy]), v6);
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; __Host-centralita=tok; b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("tok"));
        assert_eq!(cookie(&headers, "c"), None);
    }
}
