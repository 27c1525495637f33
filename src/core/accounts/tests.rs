//! Refusals of the account commands write nothing (issue 14, point 1): a used link, a wrong or
//! missing second factor, leave the database byte for byte as the rest of their batch alone would.

use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use redb::WriteTransaction;

use crate::core::{
    ApplyError, ChangePassword, Command, Core, CoreError, CreateApiToken, CreateUser, DisableTotp, EnableTotp, Event,
    NewLink, NewSession, OpenSession, Read, RequestReset, Runtime, StartTotp, UseLink, WriteError,
};
use crate::domain::access::Role;
use crate::domain::account::NewUser;
use crate::domain::audit::Actor;
use crate::domain::ids::UserId;
use crate::domain::secret::{self, LinkKind};
use crate::domain::totp;
use crate::metrics::Metrics;
use crate::store::Store;

const START: u64 = 1_700_000_000_000;
const SECRET: &[u8] = b"0123456789abcdefghij";
const NEXT_SECRET: &[u8] = b"jihgfedcba9876543210";

/// Holds the writer until told to go, so that the commands sent meanwhile share one batch.
struct Gate {
    entered: std_mpsc::Sender<()>,
    release: std_mpsc::Receiver<()>,
}

impl Command<Runtime, Event> for Gate {
    type Output = ();
    type Plan = Self;

    fn check(self, _: &Runtime, _: &Read<'_>) -> Result<Self, ApplyError> {
        Ok(self)
    }

    fn write(plan: Self, _: &mut Runtime, _: &WriteTransaction, _: &mut Vec<Event>) -> Result<(), WriteError> {
        let _ = plan.entered.send(());
        let _ = plan.release.recv_timeout(Duration::from_secs(10));
        Ok(())
    }
}

fn code(secret: &[u8], at: u64) -> String {
    format!("{:06}", totp::code_at(secret, at / 1000 / totp::STEP_SECS))
}

/// A six-digit code no step near `at` accepts.
fn wrong_code(secret: &[u8], at: u64) -> String {
    let wrong = (0..1_000_000).map(|n| format!("{n:06}")).find(|c| totp::verify(secret, c, at, 0).is_none());
    wrong.unwrap()
}

fn link(name: &str) -> NewLink {
    NewLink { hash: secret::hash(name), url: format!("https://x/#token={name}") }
}

fn session(name: &str) -> NewSession {
    NewSession { hash: secret::hash(name), csrf: name.into(), address: "127.0.0.1".into() }
}

fn person(first: &str, email: &str) -> NewUser {
    NewUser {
        first_name: first.into(),
        last_name: "Gil".into(),
        email: email.into(),
        roles: vec![Role::Admin],
        permissions: vec![],
        language: None,
        totp_required: false,
    }
}

fn use_link(name: &str, second_factor: Option<String>, at: u64) -> UseLink {
    UseLink {
        kind: if name.starts_with("rs") { LinkKind::Reset } else { LinkKind::Invite },
        hash: secret::hash(name),
        password_hash: format!("hash-{at}"),
        second_factor,
        revoke_tokens: true,
        session: session(&format!("s-{at}")),
        address: "127.0.0.1".into(),
        at,
    }
}

/// Ana accepted her invite and turned two-factor login on, then started moving it to a new app
/// and asked for a reset link; Bea has a password. Every step in a batch of its own.
async fn set_up(core: &Core) -> (UserId, UserId) {
    let actor = Actor::system("test");
    let create =
        |new, invite, password_hash| CreateUser { new, invite, password_hash, actor: actor.clone(), at: START };
    let ana = core.call(create(person("Ana", "ana@example.com"), Some(link("in_ana")), None)).await.unwrap().id;
    let bea = core.call(create(person("Bea", "bea@example.com"), None, Some("h".into()))).await.unwrap().id;
    core.call(use_link("in_ana", None, START + 1)).await.unwrap();
    let at = START + 60_000;
    core.call(StartTotp { user: ana, secret: SECRET.to_vec(), at }).await.unwrap();
    let enable = EnableTotp { user: ana, code: code(SECRET, at), current: None, recovery: vec![], actor, at };
    core.call(enable).await.unwrap();
    core.call(StartTotp { user: ana, secret: NEXT_SECRET.to_vec(), at: at + 1 }).await.unwrap();
    core.call(RequestReset { email: "ana@example.com".into(), link: link("rs_ana"), address: "a".into(), at })
        .await
        .unwrap();
    (ana, bea)
}

/// A command to send in the last batch, and the error code it must be refused with (`None`:
/// it must succeed).
type Step = (Box<dyn FnOnce(Core) -> tokio::task::JoinHandle<Result<(), CoreError>> + Send>, Option<&'static str>);

fn step<C: Command<Runtime, Event>>(command: C, refused: Option<&'static str>) -> Step {
    let send = move |core: Core| tokio::spawn(async move { core.call(command).await.map(|_| ()) });
    (Box::new(send), refused)
}

/// Sets up, runs `last` (built for Ana and Bea) as one batch, checks each answer, and returns
/// the database file's bytes.
async fn file_after(last: impl FnOnce(UserId, UserId) -> Vec<Step>) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = Store::open(dir.path()).unwrap();
    let (core, thread) = Core::spawn(store, Arc::clone(&Metrics::new().core)).unwrap();
    let (ana, bea) = set_up(&core).await;
    let (entered_tx, entered_rx) = std_mpsc::channel();
    let (release_tx, release_rx) = std_mpsc::channel();
    let gate = tokio::spawn({
        let core = core.clone();
        async move { core.call(Gate { entered: entered_tx, release: release_rx }).await.unwrap() }
    });
    tokio::task::spawn_blocking(move || entered_rx.recv_timeout(Duration::from_secs(10)).unwrap()).await.unwrap();
    // One at a time into the queue, so the batch holds them in this order.
    let mut calls = Vec::new();
    for (send, refused) in last(ana, bea) {
        calls.push((send(core.clone()), refused));
        while core.queued() < calls.len() {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    release_tx.send(()).unwrap();
    gate.await.unwrap();
    for (call, refused) in calls {
        match (call.await.unwrap(), refused) {
            (Ok(()), None) => {}
            (Err(CoreError::Rejected(why)), Some(code)) => assert_eq!(why.code, code),
            (answer, expected) => panic!("{answer:?}, expected a refusal with {expected:?}"),
        }
    }
    drop(core);
    tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap();
    std::fs::read(dir.path().join("centralita.redb")).unwrap()
}

fn token(user: UserId, at: u64) -> CreateApiToken {
    CreateApiToken { user, name: "ci".into(), hash: secret::hash("tok"), actor: Actor::system("test"), at }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_links_and_second_factors_leave_the_file_as_the_rest_of_the_batch_alone_would() {
    let at = START + 3_600_000;
    let wrong = || Some(wrong_code(SECRET, at));
    let with = file_after(|ana, bea| {
        let actor = Actor::system("test");
        vec![
            step(use_link("in_ana", None, at), Some("link_used")),
            step(use_link("rs_ana", wrong(), at), Some("totp_invalid")),
            step(use_link("rs_ana", None, at), Some("totp_required")),
            step(OpenSession { user: ana, second_factor: wrong(), session: session("s1"), at }, Some("totp_invalid")),
            step(token(bea, at), None),
            step(
                EnableTotp {
                    user: ana,
                    code: code(NEXT_SECRET, at),
                    current: wrong(),
                    recovery: vec![],
                    actor: actor.clone(),
                    at,
                },
                Some("totp_invalid"),
            ),
            step(
                EnableTotp {
                    user: ana,
                    code: wrong_code(NEXT_SECRET, at),
                    current: Some(code(SECRET, at)),
                    recovery: vec![],
                    actor: actor.clone(),
                    at,
                },
                Some("totp_invalid"),
            ),
            step(DisableTotp { user: ana, current: wrong(), actor: actor.clone(), at }, Some("totp_invalid")),
            step(DisableTotp { user: ana, current: None, actor: actor.clone(), at }, Some("totp_required")),
            step(
                ChangePassword {
                    user: UserId(99),
                    password_hash: "x".into(),
                    keep: None,
                    revoke_tokens: true,
                    actor,
                    at,
                },
                Some("user_not_found"),
            ),
        ]
    })
    .await;
    let without = file_after(|_, bea| vec![step(token(bea, at), None)]).await;
    assert!(with == without, "the files differ ({} and {} bytes)", with.len(), without.len());
}

/// The same code cannot sign in twice, even within one batch: the second check sees the step the
/// first one spent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_spent_earlier_in_the_batch_is_refused() {
    let at = START + 3_600_000;
    let good = code(SECRET, at);
    file_after(|ana, _| {
        let open = |name| OpenSession { user: ana, second_factor: Some(good.clone()), session: session(name), at };
        vec![step(open("s1"), None), step(open("s2"), Some("totp_invalid"))]
    })
    .await;
}
