//! Panics caught where the server can go on. redb panics on some corrupted pages (an impossible
//! page type, an `unreachable!`) instead of returning an error: at start that meant exit 101 and a
//! Rust panic report where an administrator needs one line saying the file is damaged
//! (`quietly`). A command that panics on the writer's thread must cost its batch, not the writer
//! (`message` names what happened).

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, Once, PoisonError};

thread_local! {
    /// Set while this thread runs `quietly`: its panics are caught there and must not print.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// The message and place of the last quiet panic, filled by the hook.
static LAST: Mutex<Option<String>> = Mutex::new(None);

/// Runs `read`; a panic inside comes back as its message (with its place) instead of unwinding
/// further, and prints nothing. Other threads' panics are reported as before.
pub fn quietly<T>(read: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    QUIET.with(|quiet| quiet.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(read));
    QUIET.with(|quiet| quiet.set(false));
    result.map_err(|payload| {
        let caught = LAST.lock().unwrap_or_else(PoisonError::into_inner).take();
        caught.unwrap_or_else(|| message(payload.as_ref()))
    })
}

fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                return previous(info);
            }
            let payload = message(info.payload());
            let text = match info.location() {
                Some(at) => {
                    format!("{payload} at {}:{}", at.file().rsplit("/src/").next().unwrap_or(at.file()), at.line())
                }
                None => payload,
            };
            *LAST.lock().unwrap_or_else(PoisonError::into_inner) = Some(text);
        }));
    });
}

/// The text a panic was raised with.
pub fn message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_comes_back_as_its_message_and_the_thread_goes_on() {
        let caught = quietly(|| -> u32 { panic!("Invalid page type byte 66") }).unwrap_err();
        assert!(caught.starts_with("Invalid page type byte 66 at "), "{caught}");
        assert!(caught.contains("panics.rs"), "the place is kept: {caught}");
        assert_eq!(quietly(|| 7), Ok(7));
    }
}
