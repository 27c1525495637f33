//! How many WebSockets each user, each visitor and each client address has open: at most
//! `http.max_sockets_per_user` / `http.max_sockets_per_visitor` / `http.max_sockets_per_address`;
//! one more is accepted and closed at once with 4008 `too_many_sockets` (a browser never sees an
//! HTTP refusal's status, only 1006), its connection slot counted until the close. (Each socket
//! keeps its slot under `http.max_connections`.)

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::domain::ids::{ChannelId, UserId};
use crate::domain::throttle::client_network;
use crate::server::ConnectionSlot;

/// Close code of a socket refused because its owner already holds the most they may.
pub const CLOSE_TOO_MANY_SOCKETS: u16 = 4008;

/// Accepts the upgrade only to close it at once with 4008 `too_many_sockets`, so a browser's
/// WebSocket learns why. `held` (the connection's slot) is kept until the close is done.
pub fn refuse<T: Send + 'static>(upgrade: WebSocketUpgrade, held: T) -> Response {
    upgrade
        .on_upgrade(move |mut socket| async move {
            let _held = held;
            super::live_socket::close(&mut socket, (CLOSE_TOO_MANY_SOCKETS, "too_many_sockets")).await;
        })
        .into_response()
}

/// Counts a new socket against its owner (capped at `most`) and its client address, then
/// upgrades it (bounded to what a client may send) and runs `session` on it; over a cap it is
/// accepted only to be closed with 4008. The socket keeps its connection's place under
/// `http.max_connections` (`slot`) and its count until it closes.
pub fn accept<F, Fut>(
    state: &AppState,
    upgrade: WebSocketUpgrade,
    slot: Option<ConnectionSlot>,
    (owner, most): (Owner, usize),
    address: IpAddr,
    session: F,
) -> Response
where
    F: FnOnce(WebSocket) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let upgrade = super::live_socket::bounded(upgrade);
    let claims = [(owner, most), (Owner::address(address), state.settings.http.max_sockets_per_address)];
    let Some(ticket) = state.sockets.open(&claims) else {
        return refuse(upgrade, slot);
    };
    let held = (ticket, slot);
    upgrade
        .on_upgrade(move |socket| async move {
            let _held = held;
            session(socket).await;
        })
        .into_response()
}

/// Whose socket it is, or where from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    User(UserId),
    /// A widget visitor: their channel and identifier.
    Visitor(ChannelId, String),
    /// A client address (after the trusted proxies), from `Owner::address`.
    Address(IpAddr),
}

impl Owner {
    /// The address a socket counts against (`throttle::client_network`).
    pub fn address(ip: IpAddr) -> Owner {
        Owner::Address(client_network(ip))
    }
}

/// The open sockets per owner.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<Owner, usize>>,
}

/// One open socket, counted against each of its owners until dropped.
#[derive(Debug)]
pub struct Ticket {
    sockets: Arc<Sockets>,
    owners: Vec<Owner>,
}

impl Sockets {
    /// Counts one more socket against each `(owner, most they may hold)`, unless one of them
    /// already holds their most (`None`: refuse it).
    pub fn open(self: &Arc<Self>, claims: &[(Owner, usize)]) -> Option<Ticket> {
        let mut open = self.lock();
        if claims.iter().any(|(owner, max)| open.get(owner).copied().unwrap_or(0) >= *max) {
            return None;
        }
        for (owner, _) in claims {
            *open.entry(owner.clone()).or_insert(0) += 1;
        }
        let owners = claims.iter().map(|(owner, _)| owner.clone()).collect();
        Some(Ticket { sockets: Arc::clone(self), owners })
    }

    pub fn count(&self, owner: &Owner) -> usize {
        self.lock().get(owner).copied().unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Owner, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.sockets.lock();
        for owner in &self.owners {
            if let Some(count) = open.get_mut(owner) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(owner);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owner_holds_at_most_max_and_a_closed_one_frees_its_place() {
        let sockets = Arc::new(Sockets::default());
        let ana = Owner::User(UserId(1));
        let tickets: Vec<Ticket> = (0..3).map(|_| sockets.open(&[(ana.clone(), 3)]).unwrap()).collect();
        assert!(sockets.open(&[(ana.clone(), 3)]).is_none(), "a fourth is refused");
        // Another owner is not affected.
        let visitor = Owner::Visitor(ChannelId(1), "v1".into());
        let _theirs = sockets.open(&[(visitor.clone(), 1)]).unwrap();
        assert!(sockets.open(&[(visitor, 1)]).is_none());
        drop(tickets);
        assert_eq!(sockets.count(&ana), 0);
        assert!(sockets.open(&[(ana, 3)]).is_some());
    }

    #[test]
    fn a_socket_counts_against_every_owner_and_a_full_one_refuses_it_for_all() {
        let sockets = Arc::new(Sockets::default());
        let office = Owner::address([203, 0, 113, 7].into());
        let visitor = |n: u32| Owner::Visitor(ChannelId(1), format!("v{n}"));
        // New visitors (new tokens) from one address: the address's limit holds.
        let held: Vec<Ticket> =
            (0..3).map(|n| sockets.open(&[(visitor(n), 4), (office.clone(), 3)]).unwrap()).collect();
        assert!(sockets.open(&[(visitor(9), 4), (office.clone(), 3)]).is_none());
        assert_eq!(sockets.count(&visitor(9)), 0, "a refused socket counts against no one");
        assert!(sockets.open(&[(Owner::User(UserId(1)), 8), (office.clone(), 3)]).is_none(), "staff too");
        drop(held);
        assert_eq!((sockets.count(&office), sockets.count(&visitor(0))), (0, 0));
    }

    #[test]
    fn an_ipv6_address_counts_by_its_64_and_ipv4_in_ipv6_as_ipv4() {
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let other: IpAddr = "2001:db8:1:2:ffff:1:2:3".parse().unwrap();
        let next: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(Owner::address(one), Owner::address(other));
        assert_ne!(Owner::address(one), Owner::address(next));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(Owner::address(mapped), Owner::Address([192, 0, 2, 1].into()));
    }
}
