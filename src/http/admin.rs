//! Administrators' reading: the outbox of mail and the audit log; and the list of roles.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::extract::{Caller, Page};
use super::views::MailView;
use super::{ApiError, AppState};
use crate::core::{LinkRead, LinksRead};
use crate::domain::access::Role;
use crate::domain::mail::{Mail, Shown};
use crate::domain::secret::{Link, LinkKind};
use crate::store::{Reader, StoreError};

/// Every mail, newest first, each link judged now: shown only while it works and was not sent
/// (issue 13, finding 2). Showing someone else's reset link is written to the audit log first.
pub async fn outbox(State(state): State<AppState>, Caller(caller): Caller, page: Page) -> Result<Response, ApiError> {
    let mails = state.read(move |read| mails_with_links(read, page.before, page.limit_or(50))).await?;
    let now = state.clock.now();
    let mut reads = Vec::new();
    let mut views = Vec::with_capacity(mails.len());
    for (mail, record) in mails {
        let shown = mail.link.as_ref().map(|link| {
            let held = state.mail_vault.get(&link.hash);
            link.judge(record.as_ref(), held.as_deref(), now)
        });
        if let (Some(link), Some(Shown::Live(_))) = (&mail.link, &shown)
            && link.kind == LinkKind::Reset
            && link.user != caller.user.id
        {
            reads.push(LinkRead { mail: mail.id, user: link.user, to: mail.to.clone() });
        }
        views.push(MailView::new(mail, shown.as_ref()));
    }
    if !reads.is_empty() {
        state.core.call(LinksRead { actor: caller.actor(), reads, at: now }).await?;
    }
    Ok(Json(views).into_response())
}

/// A page of mails, each with the stored link it carries.
fn mails_with_links(read: &Reader, before: Option<u64>, limit: usize) -> Result<Vec<(Mail, Option<Link>)>, StoreError> {
    let mut mails = Vec::new();
    for mail in read.mails(before, limit)? {
        let record = mail.link.as_ref().map(|link| read.link(link.hash)).transpose()?.flatten();
        mails.push((mail, record));
    }
    Ok(mails)
}

pub async fn audit(State(state): State<AppState>, page: Page) -> Result<Response, ApiError> {
    let entries = state.read(move |read| read.audit(page.before, page.limit_or(50))).await?;
    Ok(Json(entries).into_response())
}

/// Every role with the optional permissions it can carry (R-ROLE-2), for forms.
pub async fn roles() -> Response {
    let roles: Vec<_> = Role::ALL
        .iter()
        .map(|role| json!({ "role": role, "optional_permissions": role.optional_permissions() }))
        .collect();
    Json(roles).into_response()
}
