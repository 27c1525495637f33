//! The rules in force: every `*.rhai` of the rules folder, reloaded when its contents change
//! (a file that stops compiling keeps its last good version), with per-hook counters, and the
//! bounded pool of blocking threads hooks run on.
//!
//! A hook stopped by the time, operations or log limit three times in a row is suspended until its file
//! changes: a runaway rule costs at most three deadlines, never a stalled server.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhai::{Dynamic, Engine};
use serde::Serialize;
use tokio::sync::Semaphore;

use super::actions::{Action, Pick, parse_actions, parse_assign, parse_close, parse_permit};
use super::data::{self, Candidate};
use super::{ASSIGN_DEADLINE, CALL_DEADLINE, HOOKS, RuleError, RuleFile, call, compile_source, file_name};

/// Time-limit hits in a row that suspend a hook.
const STRIKES: u32 = 3;

/// The rules in force. Cheap to clone; every clone sees the same files and counters.
#[derive(Clone)]
pub struct Rules {
    inner: Arc<Inner>,
}

struct Inner {
    engine: Engine,
    dir: Option<PathBuf>,
    deadline: Duration,
    files: RwLock<Arc<Vec<Arc<Loaded>>>>,
    stats: Mutex<HashMap<(String, &'static str), Counters>>,
    pool: Arc<Semaphore>,
    /// Files seen changed at the last settled reload, by digest: compiled once they stop changing.
    pending: Mutex<HashMap<String, u64>>,
}

/// One file as last read: its last good compilation and the error of its current text, if any.
struct Loaded {
    name: String,
    digest: u64,
    good: Option<Arc<RuleFile>>,
    error: Option<RuleError>,
    changed_at: u64,
}

#[derive(Debug, Clone, Default)]
struct Counters {
    calls: u64,
    errors: u64,
    last_error: Option<String>,
    last_error_at: Option<u64>,
    strikes: u32,
    suspended: bool,
}

/// What one file's hook answered.
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome<T> {
    pub file: String,
    #[serde(flatten)]
    pub result: Outcome<T>,
    /// Where in the file a script error happened, when the engine knows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
}

/// A hook that failed: the message and where in its file, when known.
struct Failed {
    message: String,
    line: Option<usize>,
    column: Option<usize>,
}

impl Failed {
    fn answer(message: String) -> Self {
        Failed { message, line: None, column: None }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome<T> {
    Answer(T),
    Error(String),
}

/// The Rules screen's view: each file, its hooks and their counters.
#[derive(Debug, Clone, Serialize)]
pub struct RulesStatus {
    pub dir: Option<String>,
    pub deadline_ms: u64,
    pub files: Vec<FileStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileStatus {
    pub name: String,
    /// `ok`, `error` (the file does not compile; its last good version, if any, is in force).
    pub status: &'static str,
    pub in_force: bool,
    pub changed_at: u64,
    pub error: Option<ErrorView>,
    pub hooks: Vec<HookStatus>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorView {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct HookStatus {
    pub hook: &'static str,
    pub calls: u64,
    pub errors: u64,
    pub last_error: Option<String>,
    pub last_error_at: Option<u64>,
    pub suspended: bool,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn digest(source: &str) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    source.hash(&mut hasher);
    hasher.finish()
}

impl Rules {
    /// Rules read from `dir` (`None`: no rules at all), loaded now.
    pub fn load(dir: Option<PathBuf>) -> Rules {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 4);
        let rules = Rules {
            inner: Arc::new(Inner {
                engine: super::engine(),
                dir,
                deadline: CALL_DEADLINE,
                files: RwLock::new(Arc::new(Vec::new())),
                stats: Mutex::new(HashMap::new()),
                pool: Arc::new(Semaphore::new(threads)),
                pending: Mutex::new(HashMap::new()),
            }),
        };
        rules.reload();
        rules
    }

    pub fn dir(&self) -> Option<&Path> {
        self.inner.dir.as_deref()
    }

    fn snapshot(&self) -> Arc<Vec<Arc<Loaded>>> {
        Arc::clone(&self.inner.files.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn counters(&self) -> std::sync::MutexGuard<'_, HashMap<(String, &'static str), Counters>> {
        self.inner.stats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reads the folder again and recompiles files whose text changed. Returns whether anything did.
    pub fn reload(&self) -> bool {
        self.reload_with(false)
    }

    /// As `reload`, but a changed file is compiled only once it reads the same twice in a row,
    /// so an editor caught halfway through saving does not replace a good rule with a fragment.
    pub fn reload_settled(&self) -> bool {
        self.reload_with(true)
    }

    fn reload_with(&self, settled: bool) -> bool {
        let Some(dir) = &self.inner.dir else { return false };
        let current = self.snapshot();
        let mut next = Vec::new();
        let mut changed = false;
        for (path, source) in read_sources(dir) {
            let name = file_name(&path);
            let old = current.iter().find(|loaded| loaded.name == name);
            let digest = source.as_deref().map_or(0, digest);
            if let Some(old) = old.filter(|old| old.digest == digest && source.is_ok()) {
                next.push(Arc::clone(old));
                continue;
            }
            if settled && self.unsettled(&name, digest) {
                if let Some(old) = old {
                    next.push(Arc::clone(old));
                }
                continue;
            }
            changed = true;
            next.push(Arc::new(self.compile(&path, name, source, digest, old.and_then(|o| o.good.clone()))));
        }
        for gone in current.iter().filter(|old| !next.iter().any(|new| new.name == old.name)) {
            tracing::info!(target: "centralita::rules", rule = %gone.name, "rule file removed");
            changed = true;
        }
        if changed {
            *self.inner.files.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
        }
        changed
    }

    /// Whether `name` changed since the last look (remembering what it reads now).
    fn unsettled(&self, name: &str, digest: u64) -> bool {
        let mut pending = self.inner.pending.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = pending.insert(name.to_owned(), digest);
        previous != Some(digest)
    }

    fn compile(
        &self,
        path: &Path,
        name: String,
        source: Result<String, String>,
        digest: u64,
        previous: Option<Arc<RuleFile>>,
    ) -> Loaded {
        let compiled = source
            .map_err(|message| RuleError {
                file: path.to_path_buf(),
                line: None,
                column: None,
                message,
                stopped: false,
            })
            .and_then(|source| compile_source(&self.inner.engine, path, &source));
        let changed_at = now_ms();
        match compiled {
            Ok(rule) => {
                tracing::info!(target: "centralita::rules", rule = %name, hooks = ?rule.hooks, "rule loaded");
                self.counters().retain(|(file, _), _| *file != name);
                Loaded { name, digest, good: Some(Arc::new(rule)), error: None, changed_at }
            }
            Err(err) => {
                let kept = if previous.is_some() { "; its previous version stays in force" } else { "" };
                tracing::error!(target: "centralita::rules", rule = %name, "rule does not compile: {err}{kept}");
                Loaded { name, digest, good: previous, error: Some(err), changed_at }
            }
        }
    }

    /// Whether any file in force defines `hook`.
    pub fn has(&self, hook: &str) -> bool {
        self.snapshot().iter().any(|file| file.good.as_ref().is_some_and(|rule| rule.hooks.contains(&hook)))
    }

    /// Runs `hook` of every file that defines it, in file-name order.
    fn run<T>(
        &self,
        hook: &'static str,
        args: &[Dynamic],
        count: bool,
        parse: impl Fn(Dynamic) -> Result<T, String>,
    ) -> Vec<FileOutcome<T>> {
        let files = self.snapshot();
        let outcomes = files.iter().filter_map(|file| {
            let (result, line, column) = match self.call_file(file, hook, args, count, &parse)? {
                Ok(answer) => (Outcome::Answer(answer), None, None),
                Err(failed) => (Outcome::Error(failed.message), failed.line, failed.column),
            };
            Some(FileOutcome { file: file.name.clone(), result, line, column })
        });
        outcomes.collect()
    }

    /// One file's `hook`, if it defines it. With `count`, the call, its error and strikes are
    /// recorded and a suspended hook is skipped; a dry run counts nothing.
    fn call_file<T>(
        &self,
        file: &Loaded,
        hook: &'static str,
        args: &[Dynamic],
        count: bool,
        parse: impl Fn(Dynamic) -> Result<T, String>,
    ) -> Option<Result<T, Failed>> {
        let rule = file.good.as_ref().filter(|rule| rule.hooks.contains(&hook))?;
        let key = (file.name.clone(), hook);
        if count && self.counters().get(&key).is_some_and(|c| c.suspended) {
            return None;
        }
        let deadline = if hook == "assign" { ASSIGN_DEADLINE.min(self.inner.deadline) } else { self.inner.deadline };
        let (result, logged, stopped) = match call(&self.inner.engine, rule, hook, args.to_vec(), deadline) {
            Ok(value) => (parse(value).map_err(Failed::answer), None, false),
            Err(err) => {
                let failed = Failed { message: err.message.clone(), line: err.line, column: err.column };
                (Err(failed), Some(err.to_string()), err.stopped)
            }
        };
        if count {
            // The log and the counters keep the full text (file:line:column: message).
            let error = logged.or_else(|| result.as_ref().err().map(|failed| failed.message.clone()));
            self.record(key, error.as_ref(), stopped);
        }
        Some(result)
    }

    fn record(&self, key: (String, &'static str), error: Option<&String>, stopped: bool) {
        let mut stats = self.counters();
        let counters = stats.entry(key.clone()).or_default();
        counters.calls += 1;
        let Some(error) = error else {
            counters.strikes = 0;
            return;
        };
        counters.errors += 1;
        counters.last_error = Some(error.clone());
        counters.last_error_at = Some(now_ms());
        tracing::warn!(target: "centralita::rules", rule = %key.0, hook = key.1, "rule failed, built-in behaviour applies: {error}");
        if stopped {
            counters.strikes += 1;
            if counters.strikes >= STRIKES && !counters.suspended {
                counters.suspended = true;
                tracing::error!(target: "centralita::rules", rule = %key.0, hook = key.1,
                    "hook suspended after {STRIKES} runaway calls in a row; it runs again once the file changes");
            }
        }
    }

    /// What a hook asked for was refused by the core (an unknown group, an empty reply): counted
    /// as the hook's error, since the rule is what must change.
    pub fn refused(&self, file: &str, hook: &'static str, message: &str) {
        let mut stats = self.counters();
        let counters = stats.entry((file.to_owned(), hook)).or_default();
        counters.errors += 1;
        counters.last_error = Some(format!("refused: {message}"));
        counters.last_error_at = Some(now_ms());
    }

    /// `on_message` of every file: the actions each asked for, in order.
    pub fn on_message(&self, conversation: Dynamic, message: Dynamic) -> Vec<FileOutcome<Vec<Action>>> {
        self.run("on_message", &[conversation, message], true, parse_actions)
    }

    /// `should_close`: the first file that wants the conversation closed, with its message.
    pub fn should_close(&self, conversation: Dynamic, now: u64) -> Option<(String, Option<String>)> {
        let now = Dynamic::from_int(i64::try_from(now).unwrap_or(i64::MAX));
        self.run("should_close", &[conversation, now], true, parse_close).into_iter().find_map(|outcome| match outcome
            .result
        {
            Outcome::Answer(Some(message)) => Some((outcome.file, message)),
            _ => None,
        })
    }

    /// `assign`: the first file that picks an agent or leaves the conversation queued decides;
    /// `Pick::Default` when none does (no hook, errors, or every file said "default").
    pub fn assign(&self, conversation: Dynamic, candidates: &[Candidate]) -> Pick {
        let ids: Vec<u64> = candidates.iter().map(|c| c.id).collect();
        let args = [conversation, data::candidates(candidates)];
        let outcomes = self.run("assign", &args, true, |value| parse_assign(value, &ids));
        outcomes
            .into_iter()
            .find_map(|outcome| match outcome.result {
                Outcome::Answer(Pick::Default) | Outcome::Error(_) => None,
                Outcome::Answer(pick) => Some(pick),
            })
            .unwrap_or(Pick::Default)
    }

    /// `permit`: the role check's decision passed through every file in turn; a file that fails
    /// leaves it as it was.
    pub fn permit(&self, user: Dynamic, action: &str, resource: Dynamic, decision: bool) -> bool {
        let mut decision = decision;
        for file in self.snapshot().iter() {
            let args = [user.clone(), Dynamic::from(action.to_owned()), resource.clone(), Dynamic::from_bool(decision)];
            if let Some(Ok(answer)) = self.call_file(file, "permit", &args, true, parse_permit) {
                decision = answer;
            }
        }
        decision
    }

    /// What `on_message` and `should_close` would do for a conversation, changing nothing and
    /// counting nothing (the Rules screen's dry run).
    pub fn dry_run(&self, conversation: Dynamic, message: Option<Dynamic>, now: u64) -> DryRun {
        let on_message = message
            .map(|message| self.run("on_message", &[conversation.clone(), message], false, parse_actions))
            .unwrap_or_default();
        let now = Dynamic::from_int(i64::try_from(now).unwrap_or(i64::MAX));
        let should_close = self.run("should_close", &[conversation, now], false, |value| {
            parse_close(value).map(|close| CloseView { close: close.is_some(), message: close.flatten() })
        });
        DryRun { on_message, should_close }
    }

    /// Runs `job` on the bounded pool of blocking threads (never on the async reactor). `None` if
    /// the job panicked.
    pub async fn blocking<T: Send + 'static>(&self, job: impl FnOnce(&Rules) -> T + Send + 'static) -> Option<T> {
        // The permit goes with the job: a caller that gives up does not free the slot early.
        let permit = Arc::clone(&self.inner.pool).acquire_owned().await.ok()?;
        let rules = self.clone();
        tokio::task::spawn_blocking(move || {
            let answer = job(&rules);
            drop(permit);
            answer
        })
        .await
        .ok()
    }

    /// Each file, its hooks and counters.
    pub fn status(&self) -> RulesStatus {
        let stats = self.counters().clone();
        let files = self.snapshot().iter().map(|file| file_status(file, &stats)).collect();
        RulesStatus {
            dir: self.inner.dir.as_ref().map(|dir| dir.display().to_string()),
            deadline_ms: u64::try_from(self.inner.deadline.as_millis()).unwrap_or(u64::MAX),
            files,
        }
    }
}

fn file_status(file: &Loaded, stats: &HashMap<(String, &'static str), Counters>) -> FileStatus {
    let hooks = file.good.as_ref().map(|rule| rule.hooks.clone()).unwrap_or_default();
    let hooks = hooks
        .into_iter()
        .map(|hook| {
            let counters = stats.get(&(file.name.clone(), hook)).cloned().unwrap_or_default();
            HookStatus {
                hook,
                calls: counters.calls,
                errors: counters.errors,
                last_error: counters.last_error,
                last_error_at: counters.last_error_at,
                suspended: counters.suspended,
            }
        })
        .collect();
    FileStatus {
        name: file.name.clone(),
        status: if file.error.is_some() { "error" } else { "ok" },
        in_force: file.good.is_some(),
        changed_at: file.changed_at,
        error: file.error.as_ref().map(|err| ErrorView {
            line: err.line,
            column: err.column,
            message: err.message.clone(),
        }),
        hooks,
    }
}

/// A dry run's answers, per file.
#[derive(Debug, Clone, Serialize)]
pub struct DryRun {
    pub on_message: Vec<FileOutcome<Vec<Action>>>,
    pub should_close: Vec<FileOutcome<CloseView>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CloseView {
    pub close: bool,
    pub message: Option<String>,
}

/// The `*.rhai` files of a folder, sorted, each with its text or why it could not be read. A
/// folder that does not exist has no rules.
fn read_sources(dir: &Path) -> Vec<(PathBuf, Result<String, String>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rhai") && path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let source = std::fs::read_to_string(&path).map_err(|err| format!("cannot read the file: {err}"));
            (path, source)
        })
        .collect()
}

/// `rules test`: one hook of one file against a JSON fixture, without a server. Returns the
/// answer as JSON: the actions for `on_message`, `{close, message}` for `should_close`,
/// `{"agent": id}`, `"leave"` or `"default"` for `assign`, the decision for `permit`.
pub fn dry_run_file(path: &Path, hook: &str, fixture: &serde_json::Value) -> Result<serde_json::Value, String> {
    if !HOOKS.contains(&hook) {
        return Err(format!("unknown hook `{hook}` (the hooks are {})", HOOKS.join(", ")));
    }
    let engine = super::engine();
    let rule = super::compile(&engine, path).map_err(|err| err.to_string())?;
    if !rule.hooks.contains(&hook) {
        return Err(format!("{} does not define `{hook}`", rule.name));
    }
    let arg = |key: &str| -> Result<Dynamic, String> {
        let value = fixture.get(key).ok_or_else(|| format!("the fixture has no `{key}` (the hook {hook} needs it)"))?;
        data::from_json(value)
    };
    let run = |args: Vec<Dynamic>| call(&engine, &rule, hook, args, CALL_DEADLINE).map_err(|err| err.to_string());
    let json = |value: Vec<Action>| serde_json::to_value(value).unwrap_or_default();
    match hook {
        "on_message" => parse_actions(run(vec![arg("conversation")?, arg("message")?])?).map(json),
        "should_close" => {
            let now = fixture.get("now").and_then(serde_json::Value::as_u64).unwrap_or_else(now_ms);
            let now = Dynamic::from_int(i64::try_from(now).unwrap_or(i64::MAX));
            let close = parse_close(run(vec![arg("conversation")?, now])?)?;
            Ok(serde_json::json!({ "close": close.is_some(), "message": close.flatten() }))
        }
        "assign" => {
            let candidates = arg("candidates")?;
            let ids: Vec<u64> = fixture["candidates"]
                .as_array()
                .map(|list| list.iter().filter_map(|c| c["id"].as_u64()).collect())
                .unwrap_or_default();
            let pick = parse_assign(run(vec![arg("conversation")?, candidates])?, &ids)?;
            Ok(serde_json::to_value(pick).unwrap_or_default())
        }
        _ => {
            let args = vec![arg("user")?, arg("action")?, arg("resource")?, arg("decision")?];
            parse_permit(run(args)?).map(|decision| serde_json::json!(decision))
        }
    }
}

#[cfg(test)]
mod tests;
