//! Rules: Rhai scripts an administrator drops in the rules folder. One sandboxed engine (no
//! modules, no `eval`, bounded operations, call depth, expression depth, string, array and map
//! sizes, and a wall-clock deadline per call), scripts compiled once, hooks found by name.
//! `set` keeps the loaded files (hot reload, counters), `actions` reads what hooks return, `data`
//! builds the plain maps hooks receive.

pub mod actions;
pub mod data;
mod set;

pub use set::{DryRun, FileOutcome, HookStatus, Outcome, Rules, RulesStatus, dry_run_file};

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rhai::{AST, Dynamic, Engine, EvalAltResult, Position, Scope};

/// The hooks a rule file may define (R-RULE-2 … R-RULE-5).
pub const HOOKS: [&str; 4] = ["on_message", "should_close", "assign", "permit"];

/// Default wall-clock budget of one hook call.
pub const CALL_DEADLINE: Duration = Duration::from_millis(50);

/// `assign` runs on the writer's thread, where every millisecond holds up every change: its
/// budget is smaller.
pub const ASSIGN_DEADLINE: Duration = Duration::from_millis(10);

/// Bytes of log one hook call may write (`print`, `debug`, `log_info`, `log_warn`). A call that
/// goes over is stopped like a runaway and counts toward suspension: a rule printing 60 KB per
/// message would otherwise fill the disk with logs.
pub const LOG_BUDGET: usize = 16 * 1024;

thread_local! {
    /// When the call running on this thread must stop; checked by the engine's progress callback.
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The rule file whose hook runs on this thread, for its log lines.
    static CURRENT_FILE: RefCell<String> = const { RefCell::new(String::new()) };
    /// Bytes the call running on this thread has logged, against `LOG_BUDGET`.
    static LOGGED: Cell<usize> = const { Cell::new(0) };
}

#[derive(Clone, Copy)]
enum Level {
    Debug,
    Info,
    Warn,
}

/// Writes one line of a rule's log within the call's budget. The line that would pass the budget
/// is cut to what is left, one warning says the rest was dropped, and the call is then stopped.
fn rule_log(level: Level, line: Option<usize>, text: &str) {
    let logged = LOGGED.with(Cell::get);
    if logged > LOG_BUDGET {
        return;
    }
    let room = LOG_BUDGET - logged;
    let kept = if text.len() > room { cut(text, room) } else { text };
    LOGGED.with(|cell| cell.set(logged.saturating_add(text.len())));
    let rule = current_file();
    let line = line.unwrap_or(0);
    match level {
        Level::Debug => tracing::debug!(target: "centralita::rules", rule = %rule, line, "{kept}"),
        Level::Info => tracing::info!(target: "centralita::rules", rule = %rule, "{kept}"),
        Level::Warn => tracing::warn!(target: "centralita::rules", rule = %rule, "{kept}"),
    }
    if text.len() > room {
        tracing::warn!(target: "centralita::rules", rule = %rule,
            "this call wrote more than {LOG_BUDGET} bytes of log: the rest is dropped and the call stopped");
    }
}

/// The longest start of `text` of at most `bytes` bytes that ends on a character boundary.
fn cut(text: &str, bytes: usize) -> &str {
    let end = (0..=bytes.min(text.len())).rev().find(|&at| text.is_char_boundary(at)).unwrap_or(0);
    &text[..end]
}

fn over_log_budget() -> bool {
    LOGGED.with(Cell::get) > LOG_BUDGET
}

fn current_file() -> String {
    CURRENT_FILE.with(|file| file.borrow().clone())
}

/// Builds the sandboxed engine. Build it once (it costs ~200 µs) and share it.
pub fn engine() -> Engine {
    let mut engine = Engine::new();
    engine
        .set_max_operations(2_000_000)
        .set_max_call_levels(32)
        .set_max_expr_depths(64, 32)
        .set_max_string_size(64 * 1024)
        .set_max_array_size(10_000)
        .set_max_map_size(10_000)
        .set_max_variables(256)
        .set_max_functions(128)
        .set_max_modules(0);
    engine.disable_symbol("eval");
    // Rhai's core package can block a thread with `sleep`; a rule never may.
    engine.register_fn("sleep", |_: rhai::INT| -> Result<(), Box<EvalAltResult>> {
        Err("sleep is not allowed in rules".into())
    });
    engine.register_fn("sleep", |_: rhai::FLOAT| -> Result<(), Box<EvalAltResult>> {
        Err("sleep is not allowed in rules".into())
    });
    engine.on_progress(|_| {
        if over_log_budget() {
            return Some(Dynamic::from("log"));
        }
        let late = DEADLINE.with(|deadline| deadline.get().is_some_and(|at| Instant::now() > at));
        late.then(|| Dynamic::from("deadline"))
    });
    engine.on_print(|text| rule_log(Level::Info, None, text));
    engine.on_debug(|text, _, position| rule_log(Level::Debug, position.line(), text));
    engine.register_fn("log_info", |text: &str| rule_log(Level::Info, None, text));
    engine.register_fn("log_warn", |text: &str| rule_log(Level::Warn, None, text));
    engine.register_fn("local_hour", |ms: rhai::INT, offset_minutes: rhai::INT| local(ms, offset_minutes).0);
    engine.register_fn("local_weekday", |ms: rhai::INT, offset_minutes: rhai::INT| local(ms, offset_minutes).1);
    engine
}

/// Hour (0–23) and ISO weekday (1 = Monday … 7 = Sunday) of a time in milliseconds since the
/// epoch, shifted by a UTC offset in minutes: what a rule needs for business hours.
pub fn local(ms: rhai::INT, offset_minutes: rhai::INT) -> (rhai::INT, rhai::INT) {
    let minutes = ms.div_euclid(60_000).saturating_add(offset_minutes);
    let hour = minutes.div_euclid(60).rem_euclid(24);
    // 1970-01-01 was a Thursday (ISO weekday 4).
    let weekday = (minutes.div_euclid(24 * 60) + 3).rem_euclid(7) + 1;
    (hour, weekday)
}

/// Where a rule error is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
    /// The call was stopped by the time or operations limit (a runaway, not a mistake in data).
    pub stopped: bool,
}

impl std::fmt::Display for RuleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

fn located(file: &Path, position: Position, message: String) -> RuleError {
    RuleError { file: file.to_path_buf(), line: position.line(), column: position.position(), message, stopped: false }
}

/// One compiled rule file and the hooks it defines.
#[derive(Debug, Clone)]
pub struct RuleFile {
    pub path: PathBuf,
    /// The file name, as logs and the Rules screen show it.
    pub name: String,
    pub ast: AST,
    pub hooks: Vec<&'static str>,
}

/// Compiles one file; a syntax error comes back with its line and column.
pub fn compile(engine: &Engine, path: &Path) -> Result<RuleFile, RuleError> {
    let source = std::fs::read_to_string(path).map_err(|err| RuleError {
        file: path.to_path_buf(),
        line: None,
        column: None,
        message: err.to_string(),
        stopped: false,
    })?;
    compile_source(engine, path, &source)
}

/// Compiles a file's text already read.
pub fn compile_source(engine: &Engine, path: &Path, source: &str) -> Result<RuleFile, RuleError> {
    let ast = engine.compile(source).map_err(|err| located(path, err.1, err.0.to_string()))?;
    let hooks = HOOKS.into_iter().filter(|hook| ast.iter_functions().any(|f| f.name == *hook)).collect();
    Ok(RuleFile { path: path.to_path_buf(), name: file_name(path), ast, hooks })
}

pub fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

/// Every `*.rhai` in a folder, sorted by name, each compiled or with its error.
pub fn compile_dir(engine: &Engine, dir: &Path) -> Result<Vec<Result<RuleFile, RuleError>>, std::io::Error> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "rhai"))
        .collect();
    paths.sort();
    Ok(paths.iter().map(|path| compile(engine, path)).collect())
}

/// Calls a hook with a fresh scope under the wall-clock deadline. A runtime error or a limit hit
/// comes back as a `RuleError` (the caller then applies the built-in behaviour).
pub fn call(
    engine: &Engine,
    file: &RuleFile,
    hook: &str,
    args: impl rhai::FuncArgs,
    deadline: Duration,
) -> Result<Dynamic, RuleError> {
    DEADLINE.with(|cell| cell.set(Some(Instant::now() + deadline)));
    LOGGED.with(|cell| cell.set(0));
    CURRENT_FILE.with(|name| name.borrow_mut().clone_from(&file.name));
    // A fault inside the engine must cost this call, not the thread (which may be the writer's).
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        engine.call_fn::<Dynamic>(&mut Scope::new(), &file.ast, hook, args)
    }))
    .unwrap_or_else(|_| Err("the rule engine failed on this call".into()));
    DEADLINE.with(|cell| cell.set(None));
    if over_log_budget() {
        // Even a call that ended on its last `print` counts as a runaway.
        let message = format!("stopped after writing more than {LOG_BUDGET} bytes of log (the log limit of a rule)");
        return Err(RuleError { stopped: true, ..located(&file.path, Position::NONE, message) });
    }
    result.map_err(|err| {
        let stopped = matches!(*err, EvalAltResult::ErrorTerminated(..) | EvalAltResult::ErrorTooManyOperations(..));
        let message = match *err {
            EvalAltResult::ErrorTerminated(..) => {
                format!("stopped after {} ms (the time limit of a rule)", deadline.as_millis())
            }
            ref other => other.to_string(),
        };
        RuleError { stopped, ..located(&file.path, err.position(), message) }
    })
}

#[cfg(test)]
mod tests;
