//! Refusals the router would make after the first write are decided in `check` now: nothing of
//! the refused command is written.

use std::sync::Arc;

use crate::core::{Core, CoreError, CreateUser, SetAvailability, SetPassword, UpdateUser};
use crate::domain::access::Role;
use crate::domain::account::{NewUser, User, UserPatch};
use crate::domain::audit::Actor;
use crate::metrics::Metrics;
use crate::store::Store;

fn start() -> (tempfile::TempDir, Store, Core) {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let (core, _thread) = Core::spawn(store.clone(), Arc::clone(&Metrics::new().core)).unwrap();
    (dir, store, core)
}

async fn user(core: &Core, email: &str, role: Role) -> User {
    let new = NewUser {
        first_name: "Ana".into(),
        last_name: "Gil".into(),
        email: email.into(),
        roles: vec![role],
        permissions: vec![],
        language: None,
        totp_required: false,
    };
    let create = CreateUser { new, invite: None, password_hash: None, actor: Actor::system("test"), at: 1 };
    core.call(create).await.unwrap()
}

/// An agent reactivated by `user reset-password` on the command line (which does not tell the
/// router) is active in the store and unknown to the router. Turning her availability on used to
/// save her profile and then refuse (`agent_not_found`): the refusal now comes first.
#[tokio::test]
async fn availability_the_router_would_refuse_saves_no_profile() {
    let (_dir, store, core) = start();
    user(&core, "admin@example.com", Role::Admin).await; // someone to run the place
    let ana = user(&core, "ana@example.com", Role::Agent).await;
    let off = UserPatch { active: Some(false), ..UserPatch::default() };
    core.call(UpdateUser { id: ana.id, patch: off, actor: Actor::system("test"), at: 2 }).await.unwrap();
    let reset = SetPassword {
        email: ana.email.clone(),
        password_hash: "x".into(),
        keep_tokens: false,
        actor: Actor::system("cli"),
        at: 3,
    };
    assert!(core.call(reset).await.unwrap().0.active);
    let profile_before = store.read().unwrap().agent_profile(ana.id).unwrap();

    let refused = core.call(SetAvailability { agent: ana.id, available: true, at: 4 }).await;
    assert!(matches!(&refused, Err(CoreError::Rejected(why)) if why.code == "agent_not_found"), "{refused:?}");
    let profile_after = store.read().unwrap().agent_profile(ana.id).unwrap();
    assert_eq!(profile_after, profile_before, "the refused change left her profile as it was");
    assert!(!profile_after.unwrap_or_default().available);
}
