//! Settings: defaults, then a TOML file, then `CENTRALITA_*` environment, then command-line flags,
//! merged by one pure function (`resolve`) so every layer is checked the same way and the tests need
//! no files or environment.

mod keys;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use keys::{KEYS, Key, Kind, example};

/// The server's settings after merging every layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    /// Base of links in e-mails, without a trailing slash.
    pub public_url: Option<String>,
    pub admin_email: String,
    pub log: LogSettings,
    pub tls: TlsSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub routing: RoutingSettings,
    pub smtp: SmtpSettings,
    pub metrics_token: Option<String>,
    pub rules: RulesSettings,
    pub retention: RetentionSettings,
}

/// How long finished records are kept before the retention job deletes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionSettings {
    pub webhook_deliveries_days: u64,
    pub mail_days: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesSettings {
    pub dir: PathBuf,
    pub sweep: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    pub session_idle: Duration,
    pub session_max: Duration,
    pub lockout_attempts: u32,
    pub lockout_wait: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingSettings {
    pub presence_grace: Duration,
    pub offline_return: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// `None`: mail stays in the outbox.
    pub url: Option<String>,
    pub from: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// A configured certificate and key; `None` in `Settings::tls.files` means self-signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub files: Option<TlsFiles>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    pub max_connections: usize,
    pub max_sockets_per_user: usize,
    pub max_sockets_per_visitor: usize,
    pub max_sockets_per_address: usize,
    pub tls_handshake_timeout: Duration,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub shutdown_grace: Duration,
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// Where a value came from, so an error can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "built-in default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag --{name}"),
        }
    }
}

/// A configuration problem, written as one line that names where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config error in {origin}: {message}")]
pub struct ConfigError {
    pub origin: Source,
    pub message: String,
}

impl ConfigError {
    fn new(source: &Source, message: impl Into<String>) -> Self {
        ConfigError { origin: source.clone(), message: message.into() }
    }
}

/// A configuration file's path and contents, read by the caller.
pub struct ConfigFile<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    Text(String),
    Number(u64),
}

type Layer = BTreeMap<&'static str, (Value, Source)>;

/// Merges defaults, the file, the environment (`CENTRALITA_*` pairs; others are ignored) and flags
/// (pairs of key name and value), later layers winning, and checks the result.
pub fn resolve(
    file: Option<ConfigFile<'_>>,
    env: &[(String, String)],
    flags: &[(&str, String)],
) -> Result<Settings, ConfigError> {
    let mut merged = defaults();
    if let Some(file) = &file {
        merged.extend(file_layer(file)?);
    }
    merged.extend(env_layer(env)?);
    merged.extend(flag_layer(flags)?);
    let mut settings = Settings::from_layer(&merged)?;
    if settings.rules.dir.as_os_str().is_empty() {
        let beside = file.and_then(|file| file.path.parent().map(|dir| dir.join("rules")));
        settings.rules.dir = beside.unwrap_or_else(|| PathBuf::from("rules"));
    }
    Ok(settings)
}

fn defaults() -> Layer {
    let mut layer = Layer::new();
    for key in KEYS {
        if let Some(text) = key.default {
            // Defaults are checked by a unit test, so parsing cannot fail here.
            if let Ok(value) = parse_text(key, text, &Source::Default) {
                layer.insert(key.name, (value, Source::Default));
            }
        }
    }
    layer
}

fn file_layer(file: &ConfigFile<'_>) -> Result<Layer, ConfigError> {
    let source = Source::File(file.path.to_path_buf());
    let table: toml::Table = file.text.parse().map_err(|err: toml::de::Error| {
        let line = err.span().map(|span| line_of(file.text, span.start));
        let at = line.map(|n| format!("line {n}: ")).unwrap_or_default();
        ConfigError::new(&source, format!("{at}{}", err.message().trim()))
    })?;
    let mut layer = Layer::new();
    flatten(&table, "", &source, &mut layer)?;
    Ok(layer)
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).map_or(1, |before| before.matches('\n').count() + 1)
}

fn flatten(table: &toml::Table, prefix: &str, source: &Source, layer: &mut Layer) -> Result<(), ConfigError> {
    for (name, value) in table {
        let full = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
        if let toml::Value::Table(inner) = value
            && KEYS.iter().any(|key| key.name.starts_with(&format!("{full}.")))
        {
            flatten(inner, &full, source, layer)?;
            continue;
        }
        let key = keys::find(&full).ok_or_else(|| unknown_key(source, &full))?;
        layer.insert(key.name, (from_toml(key, value, source)?, source.clone()));
    }
    Ok(())
}

fn unknown_key(source: &Source, name: &str) -> ConfigError {
    let hint = keys::suggest(name).map(|known| format!(" (did you mean \"{known}\"?)")).unwrap_or_default();
    ConfigError::new(source, format!("unknown key \"{name}\"{hint}; `centralita config example` lists every key"))
}

fn from_toml(key: &Key, value: &toml::Value, source: &Source) -> Result<Value, ConfigError> {
    match (key.kind, value) {
        (Kind::Number { .. }, toml::Value::Integer(n)) => {
            let n = u64::try_from(*n).map_err(|_| out_of_range(key, source))?;
            check_range(key, n, source)
        }
        (Kind::Text | Kind::OneOf(_), toml::Value::String(text)) => parse_text(key, text, source),
        (kind, other) => Err(ConfigError::new(
            source,
            format!("key \"{}\": expected {}, found {}", key.name, expected(kind), other.type_str()),
        )),
    }
}

/// Parses an environment or flag string (or a default) as the key's kind.
fn parse_text(key: &Key, text: &str, source: &Source) -> Result<Value, ConfigError> {
    match key.kind {
        Kind::Text => Ok(Value::Text(text.to_owned())),
        Kind::OneOf(words) if words.contains(&text) => Ok(Value::Text(text.to_owned())),
        Kind::OneOf(_) => Err(ConfigError::new(
            source,
            format!("key \"{}\": expected {}, found \"{text}\"", key.name, expected(key.kind)),
        )),
        Kind::Number { .. } => match text.trim().parse::<u64>() {
            Ok(n) => check_range(key, n, source),
            Err(_) => Err(ConfigError::new(
                source,
                format!("key \"{}\": expected {}, found \"{text}\"", key.name, expected(key.kind)),
            )),
        },
    }
}

fn check_range(key: &Key, n: u64, source: &Source) -> Result<Value, ConfigError> {
    match key.kind {
        Kind::Number { min, max } if (min..=max).contains(&n) => Ok(Value::Number(n)),
        _ => Err(out_of_range(key, source)),
    }
}

fn out_of_range(key: &Key, source: &Source) -> ConfigError {
    ConfigError::new(source, format!("key \"{}\": expected {}", key.name, expected(key.kind)))
}

fn expected(kind: Kind) -> String {
    match kind {
        Kind::Text => "a string".to_owned(),
        Kind::Number { min, max } => format!("a whole number from {min} to {max}"),
        Kind::OneOf(words) => format!("one of {}", words.join(", ")),
    }
}

fn env_layer(env: &[(String, String)]) -> Result<Layer, ConfigError> {
    let mut layer = Layer::new();
    for (name, text) in env {
        if !name.starts_with("CENTRALITA_") || name == "CENTRALITA_CONFIG" {
            continue;
        }
        let source = Source::Env(name.clone());
        let key = keys::find_by_env(name).ok_or_else(|| {
            ConfigError::new(&source, "not a setting; `centralita config example` lists every key with its variable")
        })?;
        layer.insert(key.name, (parse_text(key, text, &source)?, source));
    }
    Ok(layer)
}

fn flag_layer(flags: &[(&str, String)]) -> Result<Layer, ConfigError> {
    let mut layer = Layer::new();
    for (name, text) in flags {
        let source = Source::Flag(name.replace(['_', '.'], "-"));
        let key = keys::find(name).ok_or_else(|| unknown_key(&source, name))?;
        layer.insert(key.name, (parse_text(key, text, &source)?, source));
    }
    Ok(layer)
}

impl Settings {
    fn from_layer(layer: &Layer) -> Result<Settings, ConfigError> {
        let read = Reader(layer);
        let (listen_text, listen_source) = read.text("listen")?;
        let listen = listen_text.parse().map_err(|_| {
            ConfigError::new(
                &listen_source,
                format!("key \"listen\": \"{listen_text}\" is not an address:port like 0.0.0.0:8443"),
            )
        })?;
        let (level, level_source) = read.text("log.level")?;
        if tracing_subscriber::EnvFilter::try_new(&level).is_err() {
            return Err(ConfigError::new(&level_source, format!("key \"log.level\": \"{level}\" is not a log filter")));
        }
        let format = match read.text("log.format")?.0.as_str() {
            "json" => LogFormat::Json,
            _ => LogFormat::Text,
        };
        let (admin_email, admin_source) = read.text("admin_email")?;
        let admin_email = crate::domain::account::normalize_email(&admin_email)
            .map_err(|err| ConfigError::new(&admin_source, format!("key \"admin_email\": {}", err.message)))?;
        let (from, from_source) = read.text("smtp.from")?;
        if from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::new(
                &from_source,
                format!("key \"smtp.from\": \"{from}\" is not an address like Name <a@b.c>"),
            ));
        }
        Ok(Settings {
            listen,
            data_dir: PathBuf::from(read.text("data_dir")?.0),
            public_url: read.public_url()?,
            admin_email,
            log: LogSettings { format, level },
            tls: TlsSettings { files: read.tls_files()? },
            http: HttpSettings {
                max_connections: usize::try_from(read.number("http.max_connections")?).unwrap_or(usize::MAX),
                max_sockets_per_user: usize::try_from(read.number("http.max_sockets_per_user")?).unwrap_or(usize::MAX),
                max_sockets_per_visitor: usize::try_from(read.number("http.max_sockets_per_visitor")?)
                    .unwrap_or(usize::MAX),
                max_sockets_per_address: usize::try_from(read.number("http.max_sockets_per_address")?)
                    .unwrap_or(usize::MAX),
                tls_handshake_timeout: read.seconds("http.tls_handshake_timeout_secs")?,
                header_read_timeout: read.seconds("http.header_read_timeout_secs")?,
                idle_timeout: read.seconds("http.idle_timeout_secs")?,
                shutdown_grace: read.seconds("http.shutdown_grace_secs")?,
                trusted_proxies: read.addresses("http.trusted_proxies")?,
            },
            auth: AuthSettings {
                session_idle: read.seconds("auth.session_idle_secs")?,
                session_max: read.seconds("auth.session_max_secs")?,
                lockout_attempts: u32::try_from(read.number("auth.lockout_attempts")?).unwrap_or(u32::MAX),
                lockout_wait: read.seconds("auth.lockout_secs")?,
            },
            routing: RoutingSettings {
                presence_grace: read.seconds("routing.presence_grace_secs")?,
                offline_return: read.seconds("routing.offline_return_secs")?,
            },
            smtp: SmtpSettings { url: read.optional_text("smtp.url"), from },
            metrics_token: read.optional_text("metrics.token"),
            rules: RulesSettings {
                dir: read.optional_text("rules.dir").map(PathBuf::from).unwrap_or_default(),
                sweep: read.seconds("rules.sweep_secs")?,
            },
            retention: RetentionSettings {
                webhook_deliveries_days: read.number("retention.webhook_deliveries_days")?,
                mail_days: read.number("retention.mail_days")?,
            },
        })
    }

    /// The settings in force as `key = value` lines, secrets masked.
    pub fn describe(&self) -> String {
        let text = |value: &str| toml::Value::String(value.to_owned()).to_string();
        let path = |value: &Path| text(&value.display().to_string());
        let (cert, key) = match &self.tls.files {
            Some(files) => (path(&files.cert), path(&files.key)),
            None => ("(self-signed)".to_owned(), "(self-signed)".to_owned()),
        };
        let format = match self.log.format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        let optional = |value: &Option<String>| value.as_deref().map_or("(unset)".to_owned(), text);
        let proxies: Vec<String> = self.http.trusted_proxies.iter().map(ToString::to_string).collect();
        let lines = [
            ("listen", text(&self.listen.to_string())),
            ("data_dir", path(&self.data_dir)),
            ("public_url", optional(&self.public_url)),
            ("admin_email", text(&self.admin_email)),
            ("log.format", text(format)),
            ("log.level", text(&self.log.level)),
            ("tls.cert", cert),
            ("tls.key", key),
            ("http.max_connections", self.http.max_connections.to_string()),
            ("http.max_sockets_per_user", self.http.max_sockets_per_user.to_string()),
            ("http.max_sockets_per_visitor", self.http.max_sockets_per_visitor.to_string()),
            ("http.max_sockets_per_address", self.http.max_sockets_per_address.to_string()),
            ("http.tls_handshake_timeout_secs", self.http.tls_handshake_timeout.as_secs().to_string()),
            ("http.header_read_timeout_secs", self.http.header_read_timeout.as_secs().to_string()),
            ("http.idle_timeout_secs", self.http.idle_timeout.as_secs().to_string()),
            ("http.shutdown_grace_secs", self.http.shutdown_grace.as_secs().to_string()),
            ("http.trusted_proxies", text(&proxies.join(", "))),
            ("auth.session_idle_secs", self.auth.session_idle.as_secs().to_string()),
            ("auth.session_max_secs", self.auth.session_max.as_secs().to_string()),
            ("auth.lockout_attempts", self.auth.lockout_attempts.to_string()),
            ("auth.lockout_secs", self.auth.lockout_wait.as_secs().to_string()),
            ("routing.presence_grace_secs", self.routing.presence_grace.as_secs().to_string()),
            ("routing.offline_return_secs", self.routing.offline_return.as_secs().to_string()),
            ("rules.dir", path(&self.rules.dir)),
            ("rules.sweep_secs", self.rules.sweep.as_secs().to_string()),
            ("retention.webhook_deliveries_days", self.retention.webhook_deliveries_days.to_string()),
            ("retention.mail_days", self.retention.mail_days.to_string()),
            ("smtp.url", if self.smtp.url.is_some() { "(set)" } else { "(unset)" }.to_owned()),
            ("smtp.from", text(&self.smtp.from)),
            ("metrics.token", if self.metrics_token.is_some() { "(set)" } else { "(unset)" }.to_owned()),
        ];
        lines.iter().map(|(key, value)| format!("{key} = {value}\n")).collect()
    }

    /// The settings with every default, as `centralita serve` with no file, environment or flags.
    pub fn defaults() -> Settings {
        // The defaults are valid by construction (unit-tested), so this cannot fail.
        resolve(None, &[], &[]).unwrap_or_else(|err| unreachable!("built-in defaults are invalid: {err}"))
    }
}

struct Reader<'a>(&'a Layer);

impl Reader<'_> {
    fn text(&self, name: &str) -> Result<(String, Source), ConfigError> {
        match self.0.get(name) {
            Some((Value::Text(text), source)) => Ok((text.clone(), source.clone())),
            _ => Err(ConfigError::new(&Source::Default, format!("key \"{name}\" has no value"))),
        }
    }

    fn optional_text(&self, name: &str) -> Option<String> {
        self.text(name).ok().map(|(text, _)| text).filter(|text| !text.is_empty())
    }

    fn number(&self, name: &str) -> Result<u64, ConfigError> {
        match self.0.get(name) {
            Some((Value::Number(n), _)) => Ok(*n),
            _ => Err(ConfigError::new(&Source::Default, format!("key \"{name}\" has no value"))),
        }
    }

    fn seconds(&self, name: &str) -> Result<Duration, ConfigError> {
        self.number(name).map(Duration::from_secs)
    }

    fn source_of(&self, name: &str) -> Source {
        self.0.get(name).map(|(_, source)| source.clone()).unwrap_or(Source::Default)
    }

    fn addresses(&self, name: &str) -> Result<Vec<std::net::IpAddr>, ConfigError> {
        let Some(list) = self.optional_text(name) else {
            return Ok(Vec::new());
        };
        list.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse().map_err(|_| {
                    ConfigError::new(&self.source_of(name), format!("key \"{name}\": \"{item}\" is not an IP address"))
                })
            })
            .collect()
    }

    fn public_url(&self) -> Result<Option<String>, ConfigError> {
        let Some(url) = self.optional_text("public_url") else {
            return Ok(None);
        };
        let url = url.trim_end_matches('/').to_owned();
        let rest = url.strip_prefix("https://").unwrap_or_default();
        if rest.is_empty() || rest.contains(char::is_whitespace) {
            let message =
                format!("key \"public_url\": \"{url}\" must be an https:// address like https://soporte.example.com");
            return Err(ConfigError::new(&self.source_of("public_url"), message));
        }
        Ok(Some(url))
    }

    fn tls_files(&self) -> Result<Option<TlsFiles>, ConfigError> {
        match (self.optional_text("tls.cert"), self.optional_text("tls.key")) {
            (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert: cert.into(), key: key.into() })),
            (None, None) => Ok(None),
            (cert, _) => {
                let (set, missing) = if cert.is_some() { ("tls.cert", "tls.key") } else { ("tls.key", "tls.cert") };
                let source = self.0.get(set).map(|(_, source)| source.clone()).unwrap_or(Source::Default);
                Err(ConfigError::new(
                    &source,
                    format!("key \"{set}\" is set but \"{missing}\" is not; set both or neither"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> ConfigFile<'_> {
        ConfigFile { path: Path::new("/etc/centralita/centralita.toml"), text }
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_rules_folder_is_beside_the_config_file_unless_set() {
        assert_eq!(Settings::defaults().rules.dir, PathBuf::from("rules"));
        assert_eq!(resolve(Some(file("")), &[], &[]).unwrap().rules.dir, PathBuf::from("/etc/centralita/rules"));
        let flags = [("rules.dir", "/srv/rules".to_owned())];
        assert_eq!(resolve(Some(file("")), &[], &flags).unwrap().rules.dir, PathBuf::from("/srv/rules"));
    }

    #[test]
    fn defaults_serve_https_on_8443_with_a_local_data_dir() {
        let settings = Settings::defaults();
        assert_eq!(settings.listen, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("./centralita-data"));
        assert_eq!(settings.tls.files, None);
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.http.max_connections, 4096);
        let http = &settings.http;
        assert_eq!((http.max_sockets_per_user, http.max_sockets_per_visitor, http.max_sockets_per_address), (8, 4, 64));
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let text = "listen = \"127.0.0.1:1000\"\ndata_dir = \"/srv/a\"\n[http]\nidle_timeout_secs = 30\n";
        let environment = env(&[("CENTRALITA_LISTEN", "127.0.0.1:2000"), ("CENTRALITA_LOG_FORMAT", "json")]);
        let flags = [("listen", "127.0.0.1:3000".to_owned())];
        let settings = resolve(Some(file(text)), &environment, &flags).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(settings.data_dir, PathBuf::from("/srv/a"));
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.http.idle_timeout, Duration::from_secs(30));
        let settings = resolve(Some(file(text)), &environment, &[]).unwrap();
        assert_eq!(settings.listen, "127.0.0.1:2000".parse().unwrap());
    }

    #[test]
    fn the_example_parses_back_to_the_defaults() {
        let text = example();
        let mut expected = Settings::defaults();
        expected.rules.dir = PathBuf::from("/etc/centralita/rules");
        assert_eq!(resolve(Some(file(&text)), &[], &[]).unwrap(), expected);
        for key in KEYS {
            assert!(text.contains(&key.env_name()), "{} is undocumented", key.name);
        }
    }

    #[test]
    fn a_misspelled_key_is_named_with_a_suggestion() {
        let err = resolve(Some(file("listn = \"127.0.0.1:1\"")), &[], &[]).unwrap_err();
        assert_eq!(err.origin, Source::File("/etc/centralita/centralita.toml".into()));
        assert!(err.message.contains("unknown key \"listn\""), "{err}");
        assert!(err.message.contains("did you mean \"listen\""), "{err}");
        let err = resolve(Some(file("[http]\nidle_timeout = 3")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"http.idle_timeout\""), "{err}");
        let err = resolve(Some(file("[nope]\nx = 3")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"nope\""), "{err}");
    }

    #[test]
    fn a_wrong_type_names_the_key_and_both_types() {
        let err = resolve(Some(file("[http]\nmax_connections = \"many\"")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"http.max_connections\""), "{err}");
        assert!(err.message.contains("whole number") && err.message.contains("found string"), "{err}");
        let err = resolve(Some(file("listen = 8443")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"listen\": expected a string, found integer"), "{err}");
        let err = resolve(Some(file("[http]\nmax_connections = 0")), &[], &[]).unwrap_err();
        assert!(err.message.contains("from 1 to"), "{err}");
    }

    #[test]
    fn a_toml_syntax_error_gives_its_line_on_one_line() {
        let err = resolve(Some(file("listen = \"a\"\n\n[http\n")), &[], &[]).unwrap_err();
        assert!(err.message.starts_with("line 3: "), "{err}");
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn environment_values_are_checked_and_unknown_names_refused() {
        let err = resolve(None, &env(&[("CENTRALITA_HTTP_MAX_CONNECTIONS", "lots")]), &[]).unwrap_err();
        assert_eq!(err.origin, Source::Env("CENTRALITA_HTTP_MAX_CONNECTIONS".into()));
        let err = resolve(None, &env(&[("CENTRALITA_LISTN", "x")]), &[]).unwrap_err();
        assert!(err.to_string().contains("CENTRALITA_LISTN"), "{err}");
        let ignored = env(&[("HOME", "/root"), ("CENTRALITA_CONFIG", "/etc/c.toml")]);
        assert_eq!(resolve(None, &ignored, &[]).unwrap(), Settings::defaults());
        let err = resolve(None, &env(&[("CENTRALITA_LOG_FORMAT", "xml")]), &[]).unwrap_err();
        assert!(err.message.contains("one of text, json"), "{err}");
    }

    #[test]
    fn proxies_urls_and_senders_are_checked() {
        let settings = resolve(
            Some(file("public_url = \"https://a.example.com/\"\n[http]\ntrusted_proxies = \"127.0.0.1, ::1\"")),
            &[],
            &[],
        )
        .unwrap();
        assert_eq!(settings.public_url.as_deref(), Some("https://a.example.com"));
        assert_eq!(settings.http.trusted_proxies.len(), 2);
        let err = resolve(Some(file("[http]\ntrusted_proxies = \"10.0.0.1, proxy\"")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"proxy\" is not an IP address"), "{err}");
        let err = resolve(Some(file("public_url = \"http://a.example.com\"")), &[], &[]).unwrap_err();
        assert!(err.message.contains("https://"), "{err}");
        let err = resolve(Some(file("[smtp]\nfrom = \"not a mailbox\"")), &[], &[]).unwrap_err();
        assert!(err.message.contains("smtp.from"), "{err}");
        let err = resolve(None, &env(&[("CENTRALITA_ADMIN_EMAIL", "nobody")]), &[]).unwrap_err();
        assert!(err.message.contains("admin_email"), "{err}");
    }

    #[test]
    fn retention_days_default_to_30_and_zero_is_refused() {
        let defaults = Settings::defaults();
        assert_eq!(defaults.retention, RetentionSettings { webhook_deliveries_days: 30, mail_days: 30 });
        let set = resolve(Some(file("[retention]\nmail_days = 7\nwebhook_deliveries_days = 90")), &[], &[]).unwrap();
        assert_eq!(set.retention, RetentionSettings { webhook_deliveries_days: 90, mail_days: 7 });
        let err = resolve(Some(file("[retention]\nmail_days = 0")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"retention.mail_days\": expected a whole number from 1 to 3650"), "{err}");
        let err = resolve(None, &env(&[("CENTRALITA_RETENTION_WEBHOOK_DELIVERIES_DAYS", "0")]), &[]).unwrap_err();
        assert!(err.message.contains("retention.webhook_deliveries_days"), "{err}");
    }

    #[test]
    fn describe_masks_secrets() {
        let settings = resolve(
            None,
            &env(&[("CENTRALITA_METRICS_TOKEN", "s3cret"), ("CENTRALITA_SMTP_URL", "smtps://u:pw@h")]),
            &[],
        )
        .unwrap();
        let text = settings.describe();
        assert!(!text.contains("s3cret") && !text.contains("pw@"), "{text}");
        assert!(text.contains("metrics.token = (set)"), "{text}");
    }

    #[test]
    fn bad_addresses_and_half_tls_settings_are_refused() {
        let err = resolve(None, &[], &[("listen", "localhost".to_owned())]).unwrap_err();
        assert_eq!(err.origin, Source::Flag("listen".into()));
        assert!(err.message.contains("not an address:port"), "{err}");
        let err = resolve(Some(file("[tls]\ncert = \"/c.pem\"")), &[], &[]).unwrap_err();
        assert!(err.message.contains("\"tls.key\" is not"), "{err}");
        let settings = resolve(Some(file("[tls]\ncert = \"/c.pem\"\nkey = \"/k.pem\"")), &[], &[]).unwrap();
        assert_eq!(settings.tls.files, Some(TlsFiles { cert: "/c.pem".into(), key: "/k.pem".into() }));
    }
}
