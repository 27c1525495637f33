//! How many WebSockets each user and each visitor has open: at most `http.max_sockets_per_user` /
//! `http.max_sockets_per_visitor`; one more is refused before the upgrade with a 429
//! `too_many_sockets`. (Each socket also keeps its connection's slot under `http.max_connections`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::http::StatusCode;

use super::ApiError;
use crate::domain::ids::{ChannelId, UserId};

/// Whose socket it is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Owner {
    User(UserId),
    /// A widget visitor: their channel and identifier.
    Visitor(ChannelId, String),
}

/// The open sockets per owner.
#[derive(Debug, Default)]
pub struct Sockets {
    open: Mutex<HashMap<Owner, usize>>,
}

/// One open socket, counted until dropped.
#[derive(Debug)]
pub struct Ticket {
    sockets: Arc<Sockets>,
    owner: Owner,
}

impl Sockets {
    /// Counts one more socket for `owner`, unless they already hold `max`.
    pub fn open(self: &Arc<Self>, owner: Owner, max: usize) -> Result<Ticket, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(owner.clone()).or_insert(0);
        if *count >= max {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_sockets",
                format!("At most {max} live connections at once; close another tab or window first."),
            ));
        }
        *count += 1;
        Ok(Ticket { sockets: Arc::clone(self), owner })
    }

    pub fn count(&self, owner: &Owner) -> usize {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).get(owner).copied().unwrap_or(0)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.owner) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.owner);
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
        let tickets: Vec<Ticket> = (0..3).map(|_| sockets.open(ana.clone(), 3).unwrap()).collect();
        let refused = sockets.open(ana.clone(), 3).unwrap_err();
        assert_eq!((refused.status, refused.code), (StatusCode::TOO_MANY_REQUESTS, "too_many_sockets"));
        // Another owner is not affected.
        let visitor = Owner::Visitor(ChannelId(1), "v1".into());
        let _theirs = sockets.open(visitor.clone(), 1).unwrap();
        assert!(sockets.open(visitor, 1).is_err());
        drop(tickets);
        assert_eq!(sockets.count(&ana), 0);
        assert!(sockets.open(ana, 3).is_ok());
    }
}
