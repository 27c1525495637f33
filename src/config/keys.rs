//! Every setting, documented once. The merge, the environment names and `config example` all read this list.

/// What kind of value a setting holds; decides how a TOML value or an environment string is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text (a path, an address, a token).
    Text,
    /// A whole number in the range.
    Number { min: u64, max: u64 },
    /// One of the listed words.
    OneOf(&'static [&'static str]),
}

/// One setting: its dotted name, what it holds, its default and what it is for.
#[derive(Debug)]
pub struct Key {
    pub name: &'static str,
    pub kind: Kind,
    /// `None`: not set unless the administrator sets it.
    pub default: Option<&'static str>,
    /// Shown in `config example` as a comment; a value to suggest for keys with no default.
    pub doc: &'static str,
    pub example: Option<&'static str>,
}

impl Key {
    /// `CENTRALITA_` followed by the name in capitals, dots as underscores: `http.idle_timeout_secs`
    /// is `CENTRALITA_HTTP_IDLE_TIMEOUT_SECS`.
    pub fn env_name(&self) -> String {
        format!("CENTRALITA_{}", self.name.replace('.', "_").to_uppercase())
    }

    /// The part of the name after the section, as written inside a TOML `[section]`.
    fn leaf(&self) -> &'static str {
        self.name.rsplit('.').next().unwrap_or(self.name)
    }

    fn section(&self) -> Option<&'static str> {
        self.name.rsplit_once('.').map(|(section, _)| section)
    }
}

const SECONDS: Kind = Kind::Number { min: 1, max: 86_400 };

pub const KEYS: &[Key] = &[
    Key {
        name: "listen",
        kind: Kind::Text,
        default: Some("0.0.0.0:8443"),
        doc: "Address and port to serve HTTPS on. Plain HTTP is never served.",
        example: None,
    },
    Key {
        name: "data_dir",
        kind: Kind::Text,
        default: Some("./centralita-data"),
        doc: "Folder for the database, attachments and the self-signed certificate. Relative paths are relative to the working directory.",
        example: None,
    },
    Key {
        name: "public_url",
        kind: Kind::Text,
        default: None,
        doc: "Address people use to reach this server, for links in e-mails (invites, password resets). Unset: https://localhost:<port>.",
        example: Some("https://soporte.example.com"),
    },
    Key {
        name: "admin_email",
        kind: Kind::Text,
        default: Some("admin@localhost"),
        doc: "E-mail of the administrator created on first start with an empty database; its one-time setup link is printed to the log.",
        example: None,
    },
    Key {
        name: "log.format",
        kind: Kind::OneOf(&["text", "json"]),
        default: Some("text"),
        doc: "Log format on standard error: text for people, json for log collectors.",
        example: None,
    },
    Key {
        name: "log.level",
        kind: Kind::Text,
        default: Some("info"),
        doc: "Log filter (tracing syntax, e.g. \"info\" or \"info,centralita::access=warn\"). RUST_LOG overrides it.",
        example: None,
    },
    Key {
        name: "tls.cert",
        kind: Kind::Text,
        default: None,
        doc: "PEM certificate chain. Unset: a self-signed certificate is made on first start and kept in data_dir/tls. Reloaded when the file changes.",
        example: Some("/etc/centralita/tls/fullchain.pem"),
    },
    Key {
        name: "tls.key",
        kind: Kind::Text,
        default: None,
        doc: "PEM private key for tls.cert (set both or neither). Reloaded when the file changes.",
        example: Some("/etc/centralita/tls/privkey.pem"),
    },
    Key {
        name: "auth.session_idle_secs",
        kind: Kind::Number { min: 60, max: 2_592_000 },
        default: Some("28800"),
        doc: "A signed-in browser with no request for this long is signed out.",
        example: None,
    },
    Key {
        name: "auth.session_max_secs",
        kind: Kind::Number { min: 60, max: 31_536_000 },
        default: Some("604800"),
        doc: "A browser session ends this long after sign-in, however active.",
        example: None,
    },
    Key {
        name: "auth.lockout_attempts",
        kind: Kind::Number { min: 1, max: 1000 },
        default: Some("5"),
        doc: "Sign-in attempts per account (and four times as many per client address) before waiting is enforced.",
        example: None,
    },
    Key {
        name: "auth.lockout_secs",
        kind: SECONDS,
        default: Some("60"),
        doc: "The first wait after too many attempts; it doubles with each further failure, up to an hour.",
        example: None,
    },
    Key {
        name: "routing.presence_grace_secs",
        kind: Kind::Number { min: 1, max: 3600 },
        default: Some("15"),
        doc: "An agent whose last browser tab closed counts as online this much longer (reloads, flaky links).",
        example: None,
    },
    Key {
        name: "routing.offline_return_secs",
        kind: Kind::Number { min: 1, max: 86_400 },
        default: Some("300"),
        doc: "An agent offline this long gets their open conversations returned to the head of the queue.",
        example: None,
    },
    Key {
        name: "rules.dir",
        kind: Kind::Text,
        default: None,
        doc: "Folder of Rhai rule scripts (*.rhai), reloaded within 2 s of a change. Unset: the folder `rules` beside the configuration file, or ./rules without one.",
        example: Some("/etc/centralita/rules"),
    },
    Key {
        name: "rules.sweep_secs",
        kind: Kind::Number { min: 1, max: 3600 },
        default: Some("30"),
        doc: "How often open conversations idle for a minute or more are offered to the rules' should_close hook.",
        example: None,
    },
    Key {
        name: "retention.webhook_deliveries_days",
        kind: Kind::Number { min: 1, max: 3650 },
        default: Some("30"),
        doc: "Delivered webhook deliveries are deleted this many days after delivery; pending ones are kept until delivered.",
        example: None,
    },
    Key {
        name: "retention.mail_days",
        kind: Kind::Number { min: 1, max: 3650 },
        default: Some("30"),
        doc: "Sent mail is deleted from the outbox this many days after it was sent; unsent mail is kept until sent.",
        example: None,
    },
    Key {
        name: "http.max_connections",
        kind: Kind::Number { min: 1, max: 1_000_000 },
        default: Some("4096"),
        doc: "Most connections served at once, open WebSockets included; more are closed at once until one ends.",
        example: None,
    },
    Key {
        name: "http.max_sockets_per_user",
        kind: Kind::Number { min: 1, max: 1_000_000 },
        default: Some("8"),
        doc: "Most live WebSockets (open browser tabs, programs) one staff user may hold at once; one more is closed at once with 4008 too_many_sockets.",
        example: None,
    },
    Key {
        name: "http.max_sockets_per_visitor",
        kind: Kind::Number { min: 1, max: 1_000_000 },
        default: Some("4"),
        doc: "Most live widget WebSockets one visitor may hold at once; one more is closed at once with 4008 too_many_sockets.",
        example: None,
    },
    Key {
        name: "http.max_sockets_per_address",
        kind: Kind::Number { min: 1, max: 1_000_000 },
        default: Some("64"),
        doc: "Most live WebSockets, staff and widget together, open at once from one client address (after http.trusted_proxies; an IPv6 address counts by its /64); one more is closed at once with 4008 too_many_sockets. An office behind one NAT shares it.",
        example: None,
    },
    Key {
        name: "http.tls_handshake_timeout_secs",
        kind: SECONDS,
        default: Some("10"),
        doc: "A client that has not finished the TLS handshake by then is disconnected.",
        example: None,
    },
    Key {
        name: "http.header_read_timeout_secs",
        kind: SECONDS,
        default: Some("10"),
        doc: "A client must send a request's headers within this time (HTTP/1.1, also between keep-alive requests).",
        example: None,
    },
    Key {
        name: "http.idle_timeout_secs",
        kind: SECONDS,
        default: Some("120"),
        doc: "A connection with no traffic in either direction for this long is closed. A WebSocket is pinged every 30 s (a quarter of this, if less) and closed with 1001 idle_timeout once its client has sent nothing, not even the answer to a ping, for this long.",
        example: None,
    },
    Key {
        name: "http.shutdown_grace_secs",
        kind: SECONDS,
        default: Some("10"),
        doc: "On stop, requests in flight get this long to finish.",
        example: None,
    },
    Key {
        name: "http.trusted_proxies",
        kind: Kind::Text,
        default: None,
        doc: "Comma-separated addresses of reverse proxies whose X-Forwarded-For header is believed. Unset: the header is ignored.",
        example: Some("127.0.0.1, ::1"),
    },
    Key {
        name: "smtp.url",
        kind: Kind::Text,
        default: None,
        doc: "SMTP server for outgoing mail: smtps://user:pass@host:465, or smtp://user:pass@host:587?tls=required for STARTTLS. Unset: mail stays in the outbox, readable by administrators.",
        example: Some("smtps://centralita%40example.com:password@mail.example.com:465"),
    },
    Key {
        name: "smtp.from",
        kind: Kind::Text,
        default: Some("centralita <centralita@localhost>"),
        doc: "Sender of outgoing mail.",
        example: None,
    },
    Key {
        name: "metrics.token",
        kind: Kind::Text,
        default: None,
        doc: "GET /metrics answers loopback clients; with a token set, also any client sending `Authorization: Bearer <token>`.",
        example: Some("a-long-random-string"),
    },
];

pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

pub fn find_by_env(env_name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.env_name() == env_name)
}

/// The known key closest to a misspelled one, when it is close enough to be a likely typo.
pub fn suggest(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (edit_distance(name, key.name), key.name))
        .filter(|(distance, _)| *distance <= 3)
        .min()
        .map(|(_, name)| name)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(previous + 1);
        }
    }
    row[b.len()]
}

/// A commented TOML file with every key at its default; keys with no default are shown commented out.
pub fn example() -> String {
    let mut out = String::from(
        "# centralita configuration. Every key is optional; shown here with its default.\n\
         # Precedence: defaults < this file (--config) < CENTRALITA_* environment < command-line flags.\n",
    );
    let mut section = None;
    for key in KEYS {
        if key.section() != section {
            section = key.section();
            if let Some(name) = section {
                out.push_str(&format!("\n[{name}]\n"));
            }
        }
        out.push_str(&format!("\n# {}\n# Environment: {}\n", key.doc, key.env_name()));
        match (key.default, key.example) {
            (Some(value), _) => out.push_str(&format!("{} = {}\n", key.leaf(), toml_literal(key, value))),
            (None, Some(value)) => out.push_str(&format!("# {} = {}\n", key.leaf(), toml_literal(key, value))),
            (None, None) => out.push_str(&format!("# {} =\n", key.leaf())),
        }
    }
    out
}

fn toml_literal(key: &Key, value: &str) -> String {
    match key.kind {
        Kind::Number { .. } => value.to_owned(),
        Kind::Text | Kind::OneOf(_) => toml::Value::String(value.to_owned()).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_unique_and_uppercase() {
        let mut names: Vec<String> = KEYS.iter().map(Key::env_name).collect();
        assert!(names.contains(&"CENTRALITA_HTTP_IDLE_TIMEOUT_SECS".to_owned()));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
    }

    #[test]
    fn suggests_the_nearest_key_for_a_typo() {
        assert_eq!(suggest("listn"), Some("listen"));
        assert_eq!(suggest("http.idle_timeout_sec"), Some("http.idle_timeout_secs"));
        assert_eq!(suggest("completely_unrelated"), None);
    }

    #[test]
    fn defaults_fit_their_kind() {
        for key in KEYS {
            if let Some(value) = key.default {
                match key.kind {
                    Kind::Number { min, max } => {
                        let n: u64 = value.parse().expect("numeric default");
                        assert!((min..=max).contains(&n), "{}", key.name);
                    }
                    Kind::OneOf(words) => assert!(words.contains(&value), "{}", key.name),
                    Kind::Text => {}
                }
            }
        }
    }
}
