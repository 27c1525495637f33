//! The web UI from `web/` (embedded; read from disk in debug builds): text files compressed by
//! `Accept-Encoding` (`encoding`), cached for a year under `/assets/<version>/` (`site`), else
//! revalidated by ETag; page routes get `index.html`, so the UI routes in the browser.

mod encoding;
mod site;

use std::borrow::Cow;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::ApiError;
use crate::domain::error_code::ErrorCode;
use encoding::{Coding, compressible, negotiate};

#[derive(Embed)]
#[folder = "web/"]
struct Web;

/// How long a browser may keep a file without asking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Freshness {
    /// Under the current version's prefix: the URL changes when the file does.
    Immutable,
    /// `/widget.js`, which other sites load by that URL: an update reaches them within minutes.
    Short,
    /// Everything else (`index.html`, page routes, the old unversioned paths): ask every time.
    Revalidate,
}

impl Freshness {
    fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Freshness::Immutable => "public, max-age=31536000, immutable",
            Freshness::Short => "public, max-age=300",
            Freshness::Revalidate => "no-cache",
        })
    }
}

/// What a request names: a file's name (for its type), its key among the compressed copies (the
/// page has one per language), bytes and content hash.
struct Found {
    name: String,
    key: String,
    data: Bytes,
    hash: [u8; 32],
}

pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::method_not_allowed().into_response();
    }
    let site = site::current();
    let requested = uri.path().trim_start_matches('/');
    let (path, versioned) = match requested.strip_prefix("assets/") {
        Some(rest) => match rest.split_once('/') {
            Some((version, path)) => (path, Some(version == site.version)),
            None => return no_such_file(),
        },
        None => (requested, None),
    };
    let language =
        site::language_of(headers.get(header::ACCEPT_LANGUAGE).and_then(|value| value.to_str().ok()).unwrap_or(""));
    let index = || {
        let (data, hash) = site.index(language);
        Found { name: "index.html".to_owned(), key: format!("index.html:{}", site::LANGUAGES[language]), data, hash }
    };
    let (found, freshness) = match path {
        "" | "index.html" => (index(), Freshness::Revalidate),
        // The one file other sites load: `<script src="https://…/widget.js">`.
        "widget.js" if versioned.is_none() => match file("widget/widget.js") {
            Some(found) => (found, Freshness::Short),
            None => return no_such_file(),
        },
        path => match file(path) {
            Some(found) if versioned == Some(true) => (found, Freshness::Immutable),
            Some(found) => (found, Freshness::Revalidate),
            None if versioned.is_none() && is_page_route(path) => (index(), Freshness::Revalidate),
            None => return no_such_file(),
        },
    };
    answer(&method, &headers, found, freshness).await
}

fn file(path: &str) -> Option<Found> {
    let file = Web::get(path)?;
    let data = match file.data {
        Cow::Borrowed(data) => Bytes::from_static(data),
        Cow::Owned(data) => Bytes::from(data),
    };
    Some(Found { name: path.to_owned(), key: path.to_owned(), data, hash: file.metadata.sha256_hash() })
}

fn no_such_file() -> Response {
    ApiError::not_found(ErrorCode::NotFound, "There is no such file.").into_response()
}

async fn answer(method: &Method, headers: &HeaderMap, found: Found, freshness: Freshness) -> Response {
    let text = compressible(&found.name);
    let coding = if text { negotiate(&accepted(headers)) } else { Coding::Identity };
    let etag = etag(&found.hash, coding.tag());
    let mut response = if matches_etag(headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if *method == Method::HEAD {
        Response::new(Body::empty())
    } else if coding == Coding::Identity {
        Response::new(Body::from(found.data))
    } else {
        Response::new(Body::from(encoding::encoded(&found.key, found.hash, found.data).await.get(coding)))
    };
    let out = response.headers_mut();
    out.insert(header::CONTENT_TYPE, content_type(&found.name));
    out.insert(header::CACHE_CONTROL, freshness.header());
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    if found.name == "index.html" {
        // The page preloads the strings of the browser's language.
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding, accept-language"));
    } else if text {
        out.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    if let Some(name) = coding.header().filter(|_| response.status() == StatusCode::OK) {
        response.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static(name));
    }
    response
}

/// Every `Accept-Encoding` value, joined (a client may send the header more than once).
fn accepted(headers: &HeaderMap) -> String {
    let values: Vec<&str> =
        headers.get_all(header::ACCEPT_ENCODING).iter().filter_map(|value| value.to_str().ok()).collect();
    values.join(",")
}

/// `If-None-Match` names this ETag (alone, in a list, or as a weak one).
fn matches_etag(headers: &HeaderMap, etag: &str) -> bool {
    headers.get_all(header::IF_NONE_MATCH).iter().filter_map(|value| value.to_str().ok()).any(|value| {
        value.split(',').map(|tag| tag.trim().trim_start_matches("W/")).any(|tag| tag == etag || tag == "*")
    })
}

/// A path with no file extension outside the API is a page of the UI.
fn is_page_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    !path.starts_with("api/") && !last.contains('.')
}

/// A strong ETag per representation: the content hash, and the coding's suffix.
fn etag(hash: &[u8; 32], coding: &str) -> String {
    let hex: String = hash[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("\"{hex}{coding}\"")
}

fn content_type(name: &str) -> HeaderValue {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || mime.subtype() == mime_guess::mime::JAVASCRIPT
        || mime.subtype() == mime_guess::mime::JSON;
    let value = if text { format!("{mime}; charset=utf-8") } else { mime.to_string() };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 22: the staff UI stays small enough for a remote agent on a slow link. Counted: every
    /// file under `js/` and `css/` (all of them are loaded: the modules are preloaded), plus the
    /// larger of the two string files (a browser loads one language). Not counted: the widget
    /// (customers' sites load it, not staff), `index.html` and the icon. Each file gzipped on its
    /// own at level 9, as served to a browser without brotli (brotli is smaller still).
    #[test]
    fn the_staff_ui_is_at_most_120_kb_gzipped() {
        const BUDGET: usize = 120 * 1024;
        let size = |name: &str| Web::get(name).map_or(0, |file| encoding::gzip(&file.data).len());
        let code: usize = Web::iter()
            .filter(|name| (name.starts_with("js/") || name.starts_with("css/")) && compressible(name))
            .map(|name| size(&name))
            .sum();
        let strings = size("i18n/es.json").max(size("i18n/en.json"));
        let total = code + strings;
        println!(
            "staff UI gzip: {:.1} KB (js + css {:.1} KB, one language's strings {:.1} KB), budget {} KB",
            total as f64 / 1024.0,
            code as f64 / 1024.0,
            strings as f64 / 1024.0,
            BUDGET / 1024
        );
        assert!(code > 10 * 1024, "the count found the UI's files");
        assert!(total <= BUDGET, "the staff UI is {total} bytes gzipped, over the budget of {BUDGET}");
    }

    #[test]
    fn page_routes_are_paths_without_an_extension_outside_the_api() {
        assert!(is_page_route("conversations"));
        assert!(is_page_route("admin/users"));
        assert!(!is_page_route("app.js"));
        assert!(!is_page_route("api/v1/nothing"));
    }

    #[test]
    fn text_types_say_utf_8() {
        assert_eq!(content_type("app.js").to_str().unwrap(), "text/javascript; charset=utf-8");
        assert_eq!(content_type("index.html").to_str().unwrap(), "text/html; charset=utf-8");
        assert_eq!(content_type("logo.png").to_str().unwrap(), "image/png");
    }
}
