//! The UI as one version: a hash over every file in `web/` names the prefix
//! `/assets/<hash>/` under which files are cached for a year, and `index.html` is rewritten to load
//! from it, with a `modulepreload` for every staff module (one round trip for the whole module
//! graph instead of one per level of imports).

use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;

use super::Web;

/// Where the files live on disk (read from there in debug builds).
const FOLDER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/web/");

/// The UI's languages; the first is the default (as in `web/js/i18n.js`).
pub const LANGUAGES: [&str; 2] = ["es", "en"];

/// One version of the UI.
pub struct Site {
    /// Hex of the hash over all files (names and contents).
    pub version: String,
    /// The served `index.html` per language in `LANGUAGES`, pointing at `/assets/<version>/`.
    pub index: [Bytes; 2],
    /// The content hash of each `index` (for the compressed copies and the ETag).
    pub index_hash: [[u8; 32]; 2],
}

impl Site {
    /// The page, and its hash, preloading the strings of `language` (an index in `LANGUAGES`).
    pub fn index(&self, language: usize) -> (Bytes, [u8; 32]) {
        let language = language.min(LANGUAGES.len() - 1);
        (self.index[language].clone(), self.index_hash[language])
    }
}

/// The language the browser will pick when the person has not chosen one: the first of its
/// languages (`Accept-Language`, in order, refused ones skipped) that the UI has, else Spanish.
pub fn language_of(accept: &str) -> usize {
    accept
        .split(',')
        .filter(|item| {
            !item
                .split(';')
                .skip(1)
                .any(|param| param.trim().strip_prefix("q=").is_some_and(|q| q.trim().parse::<f32>() == Ok(0.0)))
        })
        .filter_map(|item| {
            let tag = item.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            LANGUAGES.iter().position(|language| tag.get(..2) == Some(language))
        })
        .next()
        .unwrap_or(0)
}

/// A cheap stamp of what is on disk (names, sizes, modification times) in debug builds, where the
/// files may change under a running server; nothing in release builds, where they are embedded.
type Stamp = Vec<(String, u64, u128)>;

fn stamp() -> Stamp {
    if !cfg!(debug_assertions) {
        return Vec::new();
    }
    Web::iter()
        .map(|name| {
            let meta = std::fs::metadata(format!("{FOLDER}{name}")).ok();
            let size = meta.as_ref().map_or(0, |meta| meta.len());
            let modified = meta
                .and_then(|meta| meta.modified().ok())
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |since| since.as_nanos());
            (name.into_owned(), size, modified)
        })
        .collect()
}

/// The UI's current version, built once (and again in debug builds when a file changed).
pub fn current() -> Arc<Site> {
    type Known = Mutex<Option<(Stamp, Arc<Site>)>>;
    static CURRENT: OnceLock<Known> = OnceLock::new();
    let slot = CURRENT.get_or_init(|| Mutex::new(None));
    let now = stamp();
    if let Ok(known) = slot.lock()
        && let Some((seen, site)) = known.as_ref()
        && *seen == now
    {
        return site.clone();
    }
    let site = Arc::new(build());
    if let Ok(mut known) = slot.lock() {
        *known = Some((now, site.clone()));
    }
    site
}

fn build() -> Site {
    let mut names: Vec<String> = Web::iter().map(|name| name.into_owned()).collect();
    names.sort();
    let mut all = ring::digest::Context::new(&ring::digest::SHA256);
    for name in &names {
        if let Some(file) = Web::get(name) {
            all.update(name.as_bytes());
            all.update(&[0]);
            all.update(&file.metadata.sha256_hash());
        }
    }
    let digest = all.finish();
    let version: String = digest.as_ref()[..8].iter().map(|byte| format!("{byte:02x}")).collect();
    let html = Web::get("index.html").map(|file| String::from_utf8_lossy(&file.data).into_owned()).unwrap_or_default();
    let modules =
        static_modules("js/app.js", |name| Web::get(name).map(|file| String::from_utf8_lossy(&file.data).into_owned()));
    let page = |language: &str| {
        let index = rewrite_index(&html, &format!("/assets/{version}"), &modules, &names, language);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, index.as_bytes()).as_ref());
        (Bytes::from(index), hash)
    };
    let (es, en) = (page(LANGUAGES[0]), page(LANGUAGES[1]));
    Site { version, index: [es.0, en.0], index_hash: [es.1, en.1] }
}

/// The staff UI's files: everything but the widget other sites embed.
pub fn is_staff_file(name: &str) -> bool {
    !name.starts_with("widget/")
}

/// The modules the page runs before anything is shown: `entry` and what it imports statically
/// (`import … from './x.js'`, `import './x.js'`), followed through each module. A module reached
/// only by a dynamic `import('./x.js')` (the admin screens) loads when it is opened.
pub fn static_modules(entry: &str, read: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let mut found = vec![entry.to_owned()];
    let mut next = 0;
    while let Some(name) = found.get(next).cloned() {
        next += 1;
        let Some(text) = read(&name) else { continue };
        for specifier in static_imports(&text) {
            if let Some(path) = resolve(&name, specifier)
                && !found.contains(&path)
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

/// The relative specifiers after `from ` or `import ` (not `import(`), in quotes.
fn static_imports(text: &str) -> impl Iterator<Item = &str> {
    ["from ", "import "].into_iter().flat_map(move |keyword| {
        text.match_indices(keyword).filter_map(move |(at, _)| {
            let rest = &text[at + keyword.len()..];
            let quote = rest.chars().next().filter(|c| *c == '\'' || *c == '"')?;
            let end = rest[1..].find(quote)?;
            Some(&rest[1..=end]).filter(|specifier| specifier.starts_with("./") || specifier.starts_with("../"))
        })
    })
}

/// `specifier` (relative) from the module `from`, as a file name in `web/`; None if it leaves it.
fn resolve(from: &str, specifier: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for part in specifier.split('/') {
        match part {
            "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// `index.html` with every `="/file"` attribute that names a staff file moved under `prefix`, its
/// `<html lang>` set to `language`, and before `</head>` a `modulepreload` link for each of `modules` (the page's static module graph)
/// and a `preload` for what the modules fetch first (who is signed in, the strings of
/// `language`), so that these come in the same round trip as the modules instead of one after them.
pub fn rewrite_index(html: &str, prefix: &str, modules: &[String], names: &[String], language: &str) -> String {
    let mut out = String::with_capacity(html.len() + 2048);
    let mut rest = html;
    while let Some(at) = rest.find("=\"/") {
        let (before, after) = rest.split_at(at + 2);
        out.push_str(before);
        let value = after[1..].find('"').map_or("", |end| &after[1..=end]);
        if names.iter().any(|name| name == value) && is_staff_file(value) {
            out.push_str(prefix);
        }
        rest = after;
    }
    out.push_str(rest);
    // The page's language before its script runs (what a screen reader reads it in meanwhile).
    let mut out = out.replacen("<html lang=\"es\">", &format!("<html lang=\"{language}\">"), 1);
    let mut preloads: String = modules
        .iter()
        .filter(|name| names.contains(name) && is_staff_file(name))
        .map(|name| format!("  <link rel=\"modulepreload\" href=\"{prefix}/{name}\">\n"))
        .collect();
    // `crossorigin` (anonymous): the mode and credentials of a plain same-origin fetch(), so the
    // page's own fetch takes the preloaded answer.
    let strings = format!("i18n/{language}.json");
    if names.contains(&strings) {
        preloads.push_str(&format!("  <link rel=\"preload\" href=\"{prefix}/{strings}\" as=\"fetch\" crossorigin>\n"));
    }
    preloads.push_str("  <link rel=\"preload\" href=\"/api/v1/me\" as=\"fetch\" crossorigin>\n");
    match out.find("</head>") {
        Some(at) => out.insert_str(at, &preloads),
        None => out.push_str(&preloads),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_points_at_the_prefix_and_preloads_the_modules_given() {
        let names: Vec<String> =
            ["css/base.css", "favicon.svg", "js/app.js", "js/views/list.js", "widget/widget.js", "i18n/es.json"]
                .map(String::from)
                .to_vec();
        let html = "<head>\n<link rel=\"icon\" href=\"/favicon.svg\">\n<link rel=\"stylesheet\" href=\"/css/base.css\">\n\
                    <script type=\"module\" src=\"/js/app.js\"></script>\n</head>\n<body><a href=\"/conversations\">x</a>\
                    <img src=\"/missing.png\"></body>";
        let modules = ["js/app.js", "js/views/list.js"].map(String::from).to_vec();
        let out = rewrite_index(html, "/assets/abc", &modules, &names, "es");
        assert!(out.contains("href=\"/assets/abc/favicon.svg\""), "{out}");
        assert!(out.contains("href=\"/assets/abc/css/base.css\""), "{out}");
        assert!(out.contains("src=\"/assets/abc/js/app.js\""), "{out}");
        assert!(out.contains("<link rel=\"modulepreload\" href=\"/assets/abc/js/views/list.js\">\n"), "{out}");
        assert!(
            out.contains("<link rel=\"preload\" href=\"/assets/abc/i18n/es.json\" as=\"fetch\" crossorigin>"),
            "{out}"
        );
        assert!(out.contains("<link rel=\"preload\" href=\"/api/v1/me\" as=\"fetch\" crossorigin>\n</head>"), "{out}");
        assert!(out.contains("href=\"/conversations\""), "page links stay: {out}");
        assert!(out.contains("src=\"/missing.png\""), "unknown files stay: {out}");
        assert!(!out.contains("modulepreload\" href=\"/assets/abc/widget"), "{out}");
    }

    #[test]
    fn an_unclosed_attribute_is_copied_as_it_is() {
        let names = vec!["a.js".to_owned()];
        let out = rewrite_index("<p x=\"/a.js", "/p", &names, &names, "es");
        assert!(out.starts_with("<p x=\"/a.js"), "{out}");
    }

    #[test]
    fn the_modules_preloaded_are_the_static_imports_followed_not_the_dynamic_ones() {
        let files = [
            (
                "js/app.js",
                "import { a } from './api.js';\nimport './ui.js';\nconst v = () => import('./views/users.js');",
            ),
            ("js/api.js", "import {\n  t,\n} from \"./i18n.js\";\nexport const a = 1; // from 'nowhere'"),
            ("js/i18n.js", "import { a } from './api.js';\nfetch(new URL('../i18n/es.json', import.meta.url));"),
            ("js/ui.js", "import { h } from './views/../dom.js';"),
            ("js/dom.js", ""),
            ("js/views/users.js", "import { h } from '../dom.js';"),
        ];
        let read = |name: &str| files.iter().find(|(file, _)| *file == name).map(|(_, text)| (*text).to_owned());
        assert_eq!(
            static_modules("js/app.js", read),
            ["js/api.js", "js/app.js", "js/dom.js", "js/i18n.js", "js/ui.js"]
        );
        assert_eq!(resolve("js/app.js", "../../x.js"), None);
    }

    #[test]
    fn the_real_page_preloads_the_workspace_but_not_the_admin_screens() {
        let (index, _) = current().index(0);
        let index = String::from_utf8_lossy(&index);
        for module in ["js/app.js", "js/ui.js", "js/views/conversations.js", "js/views/list.js", "js/views/auth.js"] {
            assert!(index.contains(&format!("/{module}\">")), "{module} preloaded: {index}");
        }
        for module in ["js/views/users.js", "js/views/rules.js", "js/views/profile.js"] {
            assert!(!index.contains(&format!("/{module}\">")), "{module} loads when opened: {index}");
        }
    }

    #[test]
    fn the_version_names_all_files() {
        let site = current();
        assert_eq!(site.version.len(), 16);
        let (index, _) = site.index(1);
        let index = String::from_utf8_lossy(&index);
        assert!(index.contains(&format!("/assets/{}/js/app.js", site.version)), "{index}");
        assert!(index.contains(&format!("/assets/{}/i18n/en.json", site.version)), "{index}");
        assert_ne!(site.index_hash[0], site.index_hash[1]);
        assert!(index.contains("<html lang=\"en\">"), "{index}");
        assert!(String::from_utf8_lossy(&site.index(0).0).contains("<html lang=\"es\">"));
    }

    #[test]
    fn the_strings_preloaded_are_the_browsers_first_language_the_ui_has() {
        assert_eq!(LANGUAGES[language_of("en-US,en;q=0.9,es;q=0.8")], "en");
        assert_eq!(LANGUAGES[language_of("fr-FR, es;q=0.5, en;q=0.4")], "es");
        assert_eq!(LANGUAGES[language_of("de, EN-gb;q=0.3")], "en");
        assert_eq!(LANGUAGES[language_of("en;q=0, es")], "es");
        assert_eq!(LANGUAGES[language_of("")], "es");
        assert_eq!(LANGUAGES[language_of("fr")], "es");
    }
}
