//! Every route with the capability it needs (R-ROLE-4). The router is built from this table, so a
//! route cannot exist without its permission row; the guard enforces the row on every request.

use axum::http::Method;
use axum::routing::{MethodRouter, delete, get, patch, post, put};

use super::{
    AppState, admin, agents, auth, channels, conversations, groups, me, rules, system, users, widget, widget_socket, ws,
};
use crate::domain::access::Capability::{self, *};

pub struct Route {
    pub method: Method,
    pub path: &'static str,
    pub capability: Capability,
    pub handler: fn() -> MethodRouter<AppState>,
}

const fn route(
    method: Method,
    path: &'static str,
    capability: Capability,
    handler: fn() -> MethodRouter<AppState>,
) -> Route {
    Route { method, path, capability, handler }
}

pub fn table() -> Vec<Route> {
    vec![
        route(Method::GET, "/healthz", Public, || get(system::health)),
        route(Method::GET, "/metrics", Public, || get(system::metrics)),
        route(Method::GET, "/api/v1/openapi.json", Public, || get(system::openapi)),
        // Signing in and out, links from e-mails.
        route(Method::POST, "/api/v1/auth/login", Public, || post(auth::login)),
        route(Method::POST, "/api/v1/auth/logout", SignedIn, || post(auth::logout)),
        route(Method::POST, "/api/v1/auth/password/forgot", Public, || post(auth::forgot)),
        route(Method::POST, "/api/v1/auth/password/reset", Public, || post(auth::reset)),
        route(Method::POST, "/api/v1/invites/accept", Public, || post(auth::accept_invite)),
        route(Method::POST, "/api/v1/links/check", Public, || post(auth::check_link)),
        // One's own account.
        route(Method::GET, "/api/v1/me", SignedIn, || get(me::show)),
        route(Method::PATCH, "/api/v1/me", SignedIn, || patch(me::update)),
        route(Method::POST, "/api/v1/me/password", SignedIn, || post(me::change_password)),
        route(Method::GET, "/api/v1/me/tokens", SignedIn, || get(me::list_tokens)),
        route(Method::POST, "/api/v1/me/tokens", SignedIn, || post(me::create_token)),
        route(Method::DELETE, "/api/v1/me/tokens/{id}", SignedIn, || delete(me::revoke_token)),
        route(Method::POST, "/api/v1/me/totp/setup", SignedIn, || post(me::totp_setup)),
        route(Method::POST, "/api/v1/me/totp/enable", SignedIn, || post(me::totp_enable)),
        route(Method::POST, "/api/v1/me/totp/disable", SignedIn, || post(me::totp_disable)),
        route(Method::GET, "/api/v1/roles", SignedIn, || get(admin::roles)),
        route(Method::PUT, "/api/v1/me/availability", AgentRole, || put(agents::set_availability)),
        route(Method::GET, "/api/v1/ws", SignedIn, || get(ws::upgrade)),
        // Conversations.
        route(Method::GET, "/api/v1/conversations", Staff, || get(conversations::list)),
        route(Method::POST, "/api/v1/conversations/next", Dispense, || post(conversations::next)),
        route(Method::GET, "/api/v1/conversations/{id}", Staff, || get(conversations::show)),
        route(Method::GET, "/api/v1/conversations/{id}/messages", Staff, || get(conversations::messages)),
        route(Method::POST, "/api/v1/conversations/{id}/messages", Converse, || post(conversations::post_message)),
        route(Method::POST, "/api/v1/conversations/{id}/transfer", Transfer, || post(conversations::transfer)),
        route(Method::POST, "/api/v1/conversations/{id}/assign", Oversee, || post(conversations::assign)),
        route(Method::POST, "/api/v1/conversations/{id}/take", Dispense, || post(conversations::take)),
        route(Method::POST, "/api/v1/conversations/{id}/finalize", Converse, || post(conversations::finalize)),
        route(Method::POST, "/api/v1/conversations/{id}/read", Converse, || post(conversations::read)),
        route(Method::POST, "/api/v1/conversations/{id}/labels", Converse, || post(conversations::add_label)),
        route(Method::DELETE, "/api/v1/conversations/{id}/labels", Converse, || delete(conversations::remove_label)),
        route(Method::GET, "/api/v1/agents", Staff, || get(agents::list)),
        route(Method::PATCH, "/api/v1/agents/{id}", Administer, || patch(agents::update)),
        route(Method::GET, "/api/v1/stats/panel", Staff, || get(agents::stats)),
        route(Method::GET, "/api/v1/contacts/{id}", Staff, || get(channels::contact)),
        route(Method::PATCH, "/api/v1/contacts/{id}", Oversee, || patch(channels::update_contact)),
        route(Method::GET, "/api/v1/contacts/{id}/conversations", Staff, || get(channels::contact_conversations)),
        // Channels.
        route(Method::GET, "/api/v1/channels", Administer, || get(channels::list)),
        route(Method::POST, "/api/v1/channels", Administer, || post(channels::create)),
        route(Method::PATCH, "/api/v1/channels/{id}", Administer, || patch(channels::update)),
        route(Method::DELETE, "/api/v1/channels/{id}", Administer, || delete(channels::disable)),
        route(Method::POST, "/api/v1/channels/{id}/rotate", Administer, || post(channels::rotate)),
        route(Method::POST, "/api/v1/channels/{id}/messages", ChannelToken, || post(channels::inbound)),
        // The web widget, for visitors of any site (cross-origin, visitor token).
        route(Method::POST, "/widget/v1/visitors", Visitor, || post(widget::create_visitor)),
        route(Method::GET, "/widget/v1/conversation", Visitor, || get(widget::show)),
        route(Method::POST, "/widget/v1/messages", Visitor, || post(widget::post_message)),
        route(Method::GET, "/widget/v1/ws", Visitor, || get(widget_socket::socket)),
        // Administration.
        route(Method::GET, "/api/v1/users", Administer, || get(users::list)),
        route(Method::POST, "/api/v1/users", Administer, || post(users::create)),
        route(Method::GET, "/api/v1/users/{id}", Administer, || get(users::show)),
        route(Method::PATCH, "/api/v1/users/{id}", Administer, || patch(users::update)),
        route(Method::DELETE, "/api/v1/users/{id}", Administer, || delete(users::deactivate)),
        route(Method::POST, "/api/v1/users/{id}/invite", Administer, || post(users::invite)),
        route(Method::GET, "/api/v1/groups", Staff, || get(groups::list)),
        route(Method::POST, "/api/v1/groups", Administer, || post(groups::create)),
        route(Method::PATCH, "/api/v1/groups/{id}", Administer, || patch(groups::update)),
        route(Method::DELETE, "/api/v1/groups/{id}", Administer, || delete(groups::remove)),
        route(Method::GET, "/api/v1/outbox", Administer, || get(admin::outbox)),
        route(Method::GET, "/api/v1/audit", Administer, || get(admin::audit)),
        route(Method::GET, "/api/v1/rules", Administer, || get(rules::status)),
        route(Method::POST, "/api/v1/rules/dry-run", Administer, || post(rules::dry_run)),
    ]
}
