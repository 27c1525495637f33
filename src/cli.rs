//! The `user` subcommands: create a user or set a password on a stopped server, through the same
//! commands the API uses (so the same checks and the audit log apply).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::password::hash_now;
use crate::clock::Clock;
use crate::core::{ClearTotp, Core, CreateUser, SetPassword};
use crate::domain::access::{Permission, Role};
use crate::domain::account::{NewUser, check_password};
use crate::domain::audit::Actor;
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

pub enum UserRequest {
    Add {
        data_dir: PathBuf,
        email: String,
        roles: Vec<String>,
        permissions: Vec<String>,
        first_name: String,
        last_name: String,
        password: String,
    },
    ResetPassword {
        data_dir: PathBuf,
        email: String,
        password: String,
        keep_tokens: bool,
    },
    ClearTwoFactor {
        data_dir: PathBuf,
        email: String,
    },
}

/// A one-line failure and the exit code to leave with.
#[derive(Debug)]
pub struct CliError {
    pub message: String,
    pub code: u8,
}

fn fail(message: impl Into<String>) -> CliError {
    CliError { message: message.into(), code: 1 }
}

/// The first line of standard input, without its line ending.
pub fn read_password(input: impl BufRead) -> Result<String, CliError> {
    let line = input.lines().next().transpose().map_err(|err| fail(format!("cannot read the password: {err}")))?;
    let password = line.unwrap_or_default().trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err(fail(
            "no password on standard input (e.g. printf '%s\\n' \"$PASSWORD\" | centralita user add ...)",
        ));
    }
    Ok(password)
}

pub fn run_user(request: Result<UserRequest, CliError>) -> Result<String, CliError> {
    let request = request?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|err| fail(format!("cannot start: {err}")))?;
    runtime.block_on(apply(request))
}

async fn apply(request: UserRequest) -> Result<String, CliError> {
    let actor = Actor::system("command line");
    let at = Clock::default().now();
    match request {
        UserRequest::Add { data_dir, email, roles, permissions, first_name, last_name, password } => {
            check_password(&password, &email).map_err(|err| fail(err.to_string()))?;
            let new = NewUser {
                first_name,
                last_name,
                email,
                roles: parse_all(&roles, "role")?,
                permissions: parse_all(&permissions, "permission")?,
                language: None,
                totp_required: false,
            };
            let password_hash = hash_now(&password).map_err(|err| fail(err.to_string()))?;
            let (core, writer) = open(&data_dir)?;
            let command = CreateUser { new, invite: None, password_hash: Some(password_hash), actor, at };
            let user = core.call(command).await.map_err(|err| fail(err.to_string()));
            close(core, writer);
            let user = user?;
            Ok(format!("user {} created (id {}); they can sign in now", user.email, user.id))
        }
        UserRequest::ResetPassword { data_dir, email, password, keep_tokens } => {
            check_password(&password, &email).map_err(|err| fail(err.to_string()))?;
            let password_hash = hash_now(&password).map_err(|err| fail(err.to_string()))?;
            let (core, writer) = open(&data_dir)?;
            let command = SetPassword { email, password_hash, keep_tokens, actor, at };
            let done = core.call(command).await.map_err(|err| fail(err.to_string()));
            close(core, writer);
            let (user, revoked) = done?;
            Ok(format!("password of {} set; their sessions have ended; {revoked} API token(s) revoked", user.email))
        }
        UserRequest::ClearTwoFactor { data_dir, email } => {
            let (core, writer) = open(&data_dir)?;
            let user = core.call(ClearTotp { email, actor, at }).await.map_err(|err| fail(err.to_string()));
            close(core, writer);
            let user = user?;
            let again = if user.totp_required { "; they set it up again at their next sign-in" } else { "" };
            Ok(format!("two-factor login of {} removed{again}; their sessions have ended", user.email))
        }
    }
}

/// Parses names like `agent` or `dispenser` through their JSON form, as the API does.
fn parse_all<T: serde::de::DeserializeOwned>(names: &[String], what: &str) -> Result<Vec<T>, CliError> {
    names
        .iter()
        .map(|name| {
            serde_json::from_value(serde_json::Value::String(name.clone())).map_err(|_| {
                let known: Vec<&str> = match what {
                    "role" => Role::ALL.iter().map(|role| role.as_str()).collect(),
                    _ => Permission::ALL.iter().map(|permission| permission.as_str()).collect(),
                };
                CliError { message: format!("unknown {what} \"{name}\"; one of: {}", known.join(", ")), code: 2 }
            })
        })
        .collect()
}

/// Stops the writer and waits for it, so the database file is closed cleanly before exit.
fn close(core: Core, writer: std::thread::JoinHandle<()>) {
    drop(core);
    let _ = writer.join();
}

fn open(data_dir: &std::path::Path) -> Result<(Core, std::thread::JoinHandle<()>), CliError> {
    let store = match Store::open(data_dir) {
        Ok((store, _)) => store,
        Err(StoreError::InUse { .. }) => {
            return Err(fail(format!(
                "the server is running on {} (the database is in use); stop it first, or use the web UI",
                data_dir.display()
            )));
        }
        // As `serve`: a database that cannot be opened is "could not start", exit 2.
        Err(err) => return Err(CliError { message: err.to_string(), code: 2 }),
    };
    Core::spawn(store, Arc::clone(&Metrics::new().core)).map_err(|err| fail(err.to_string()))
}

/// `rules check`: one line per file (its hooks, or its error at file:line:column) and whether all
/// compiled.
pub fn check_rules(dir: &std::path::Path) -> Result<(String, bool), CliError> {
    let engine = crate::rules::engine();
    let results = crate::rules::compile_dir(&engine, dir).map_err(|err| CliError {
        message: format!("cannot read the rules folder {}: {err}", dir.display()),
        code: 2,
    })?;
    let mut report = String::new();
    let mut all_good = true;
    for result in &results {
        match result {
            Ok(rule) if rule.hooks.is_empty() => report.push_str(&format!(
                "ok     {} (no hooks: on_message, should_close, assign, permit)\n",
                rule.path.display()
            )),
            Ok(rule) => report.push_str(&format!("ok     {} ({})\n", rule.path.display(), rule.hooks.join(", "))),
            Err(err) => {
                all_good = false;
                report.push_str(&format!("error  {err}\n"));
            }
        }
    }
    if results.is_empty() {
        report.push_str(&format!("no *.rhai files in {}\n", dir.display()));
    }
    Ok((report, all_good))
}

/// `rules test`: one hook of one file against a JSON fixture; the answer as pretty JSON. A
/// missing or malformed fixture is exit 2, a failing rule exit 1.
pub fn test_rule(file: &std::path::Path, hook: &str, fixture: &std::path::Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(fixture).map_err(|err| CliError {
        message: format!("cannot read the fixture {}: {err}", fixture.display()),
        code: 2,
    })?;
    let fixture: serde_json::Value = serde_json::from_str(&text).map_err(|err| CliError {
        message: format!("the fixture {} is not JSON: {err}", fixture.display()),
        code: 2,
    })?;
    let answer = crate::rules::dry_run_file(file, hook, &fixture).map_err(|message| CliError { message, code: 1 })?;
    Ok(serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string()))
}
