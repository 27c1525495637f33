//! The command line: `serve`, and `config example|check`. Exit codes: 0 done, 2 could not start
//! (configuration, data dir, port, certificate), 1 failed while running.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use centralita::config::{self, ConfigFile, Settings};
use centralita::server;

/// jemalloc, not the system's malloc: glibc kept the 19 MiB buffer of each password hash in its
/// per-thread arenas (500 wrong sign-ins left a server at 3.5 GB, never returned). With jemalloc a
/// storm of sign-ins holds only the buffers of the hashes running, which its background thread
/// gives back to the system within about 10 s of the last (issue 13, finding 4). Without that
/// thread jemalloc would return each buffer at once, and the next hash would fault 19 MiB of
/// fresh pages back in: sign-ins in a storm were 2.4 times slower.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(name = "centralita", version, about = "Self-hosted contact center: one binary, HTTPS, embedded database.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (HTTPS only).
    Serve(ServeArgs),
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Rhai rule scripts.
    Rules {
        #[command(subcommand)]
        action: RulesAction,
    },
    /// Manage users on a stopped server (recovery and scripts).
    User {
        #[command(subcommand)]
        action: UserAction,
    },
}

#[derive(Subcommand)]
enum RulesAction {
    /// Compile every *.rhai in DIR (default: rules) and report each file's hooks or its error
    /// with line and column; exit 1 if any file fails.
    Check {
        #[arg(default_value = "rules")]
        dir: PathBuf,
    },
    /// Run one hook of FILE against a JSON fixture and print its answer as JSON (the actions for
    /// on_message), without a server. Exit 1 if the rule fails.
    Test {
        file: PathBuf,
        /// on_message, should_close, assign or permit.
        #[arg(long)]
        hook: String,
        /// JSON with the hook's arguments by name: conversation and message (on_message),
        /// conversation and now (should_close), conversation and candidates (assign), user, action,
        /// resource and decision (permit).
        #[arg(long, value_name = "F.json")]
        fixture: PathBuf,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Create a user who can sign in at once with the password read from standard input.
    Add(UserAddArgs),
    /// Set a user's password from standard input; their sessions end.
    ResetPassword(UserPasswordArgs),
    /// Remove a user's two-factor login (lost phone and recovery codes); their sessions end.
    ClearTwoFactor(UserEmailArgs),
}

#[derive(clap::Args)]
struct UserEmailArgs {
    #[command(flatten)]
    settings: SettingsArgs,
    #[arg(long)]
    email: String,
}

#[derive(clap::Args)]
struct UserAddArgs {
    #[command(flatten)]
    settings: SettingsArgs,
    #[arg(long)]
    email: String,
    /// A role: admin, supervisor, agent, orders_admin or stakeholder. Repeat for several.
    #[arg(long = "role", required = true)]
    roles: Vec<String>,
    /// An optional permission (e.g. dispenser, transfer). Repeat for several.
    #[arg(long = "permission")]
    permissions: Vec<String>,
    #[arg(long, default_value = "Admin")]
    first_name: String,
    #[arg(long, default_value = "centralita")]
    last_name: String,
    /// Read the password from standard input (the first line).
    #[arg(long, required = true)]
    password_stdin: bool,
}

#[derive(clap::Args)]
struct UserPasswordArgs {
    #[command(flatten)]
    settings: SettingsArgs,
    #[arg(long)]
    email: String,
    /// Read the password from standard input (the first line).
    #[arg(long, required = true)]
    password_stdin: bool,
    /// Keep the user's API tokens (by default they are revoked, as a reset by link does).
    #[arg(long)]
    keep_tokens: bool,
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    settings: SettingsArgs,
}

/// The flags that override settings, shared by `serve` and `config check`.
#[derive(clap::Args)]
struct SettingsArgs {
    /// TOML configuration file (also CENTRALITA_CONFIG). Without one, built-in defaults apply.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address and port to serve HTTPS on, e.g. 127.0.0.1:8443.
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Folder for the database, attachments and the self-signed certificate.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<String>,
    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT")]
    log_format: Option<String>,
    /// Folder of Rhai rule scripts (default: `rules` beside the config file, or ./rules).
    #[arg(long, value_name = "DIR")]
    rules_dir: Option<String>,
}

#[derive(Subcommand)]
enum ConfigAction {
    /// Print a commented TOML file with every key and its default.
    Example,
    /// Check a configuration (file, environment and flags) and print the result.
    Check(SettingsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => match load_settings(&args.settings) {
            Ok(settings) => serve(settings),
            Err(message) => fail(&message, 2),
        },
        Command::Config { action: ConfigAction::Example } => print_out(&config::example()),
        Command::Rules { action: RulesAction::Check { dir } } => match centralita::cli::check_rules(&dir) {
            Ok((report, true)) => print_out(&report),
            Ok((report, false)) => {
                let _ = print_out(&report);
                ExitCode::from(1)
            }
            Err(err) => fail(&err.message, err.code),
        },
        Command::Rules { action: RulesAction::Test { file, hook, fixture } } => {
            match centralita::cli::test_rule(&file, &hook, &fixture) {
                Ok(answer) => print_out(&format!("{answer}\n")),
                Err(err) => fail(&err.message, err.code),
            }
        }
        Command::User { action } => match centralita::cli::run_user(user_request(action)) {
            Ok(message) => print_out(&format!("{message}\n")),
            Err(err) => fail(&err.message, err.code),
        },
        Command::Config { action: ConfigAction::Check(args) } => match load_settings(&args) {
            Ok(settings) => print_out(&format!("# configuration is valid\n{}", settings.describe())),
            Err(message) => fail(&message, 2),
        },
    }
}

/// Turns the command line into what `cli::run_user` needs, reading settings and the password.
fn user_request(action: UserAction) -> Result<centralita::cli::UserRequest, centralita::cli::CliError> {
    let settings_args = match &action {
        UserAction::Add(args) => &args.settings,
        UserAction::ResetPassword(args) => &args.settings,
        UserAction::ClearTwoFactor(args) => &args.settings,
    };
    let settings = load_settings(settings_args).map_err(|message| centralita::cli::CliError { message, code: 2 })?;
    let password = || centralita::cli::read_password(std::io::stdin().lock());
    Ok(match action {
        UserAction::Add(args) => centralita::cli::UserRequest::Add {
            data_dir: settings.data_dir,
            email: args.email,
            roles: args.roles,
            permissions: args.permissions,
            first_name: args.first_name,
            last_name: args.last_name,
            password: password()?,
        },
        UserAction::ResetPassword(args) => centralita::cli::UserRequest::ResetPassword {
            data_dir: settings.data_dir,
            email: args.email,
            password: password()?,
            keep_tokens: args.keep_tokens,
        },
        UserAction::ClearTwoFactor(args) => {
            centralita::cli::UserRequest::ClearTwoFactor { data_dir: settings.data_dir, email: args.email }
        }
    })
}

fn load_settings(args: &SettingsArgs) -> Result<Settings, String> {
    let path = args.config.clone().or_else(|| std::env::var_os("CENTRALITA_CONFIG").map(PathBuf::from));
    let text = match &path {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|err| format!("config error: cannot read {}: {err}", path.display()))?,
        ),
        None => None,
    };
    let file = path.as_deref().zip(text.as_deref()).map(|(path, text)| ConfigFile { path, text });
    let env: Vec<(String, String)> = std::env::vars().collect();
    let flags: Vec<(&str, String)> = [
        ("listen", args.listen.clone()),
        ("data_dir", args.data_dir.clone()),
        ("log.format", args.log_format.clone()),
        ("rules.dir", args.rules_dir.clone()),
    ]
    .into_iter()
    .filter_map(|(key, value)| value.map(|value| (key, value)))
    .collect();
    config::resolve(file, &env, &flags).map_err(|err| err.to_string())
}

fn serve(settings: Settings) -> ExitCode {
    centralita::logging::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => return fail(&format!("cannot start the async runtime: {err}"), 2),
    };
    runtime.block_on(async {
        let running = match server::start(settings).await {
            Ok(running) => running,
            Err(err) => return fail(&err.to_string(), 2),
        };
        wait_for_stop_signal().await;
        tracing::info!("stop requested; finishing requests in flight");
        match running.shutdown().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => fail(&format!("stopping: {err}"), 1),
        }
    })
}

async fn wait_for_stop_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// Writes to standard output, turning a closed pipe or full disk into a one-line error.
fn print_out(text: &str) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => fail(&format!("cannot write to standard output: {err}"), 1),
    }
}

fn fail(message: &str, code: u8) -> ExitCode {
    eprintln!("centralita: {message}");
    ExitCode::from(code)
}
