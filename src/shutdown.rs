//! The stop signal: one watch channel the server raises at shutdown and every long-lived task
//! (connections, sockets, jobs) waits on. Its own module, so that nothing below `server` needs it.

use tokio::sync::watch;

/// Raised once, by the server, when it is asked to stop.
pub type StopSender = watch::Sender<bool>;

/// What a task holds to learn that the server is stopping.
pub type Stopping = watch::Receiver<bool>;

/// A new, unraised stop signal.
pub fn channel() -> (StopSender, Stopping) {
    watch::channel(false)
}

/// Resolves once shutdown is asked for (or the server is gone). A named future, so that the
/// watch guard is dropped before any await and tasks stay `Send`.
pub async fn stop_requested(shutdown: &mut Stopping) {
    // An error means the sender is gone, which is a stop too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}
