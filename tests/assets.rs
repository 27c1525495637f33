//! The web UI's files over real TLS, as a browser on a slow link gets them (issue 22): compressed by
//! `Accept-Encoding`, long-cached under the versioned prefix that `index.html` points at, the old
//! paths and `/widget.js` still where they were.

mod common;

use std::io::Read;

use common::*;
use reqwest::StatusCode;

struct Got {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |value| value.to_str().unwrap())
    }

    /// The body as sent, undone from its `Content-Encoding`.
    fn decoded(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self.header("content-encoding") {
            "br" => brotli::Decompressor::new(&self.body[..], 4096).read_to_end(&mut out).unwrap(),
            "gzip" => flate2::read::GzDecoder::new(&self.body[..]).read_to_end(&mut out).unwrap(),
            "" => return self.body.clone(),
            other => panic!("unexpected coding {other}"),
        };
        out
    }
}

async fn fetch(server: &TestServer, path: &str, accept: Option<&str>) -> Got {
    let mut request = server.client.get(server.url(path));
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    Got { status, headers, body }
}

/// The `/assets/<version>` prefix `index.html` loads its script from.
fn prefix_of(index: &str) -> String {
    let at = index.find("src=\"/assets/").expect("index.html loads its script from /assets/") + 5;
    let end = index[at..].find("/js/app.js").expect("the script is app.js") + at;
    index[at..end].to_owned()
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

#[tokio::test]
async fn text_files_are_compressed_by_what_the_browser_accepts() {
    let server = TestServer::start().await;
    let plain = fetch(&server, "/js/app.js", None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.header("content-encoding"), "", "no Accept-Encoding: identity");
    assert!(String::from_utf8_lossy(&plain.body).contains("import"), "the script itself");
    for (accept, coding) in [
        ("gzip, deflate, br", "br"),
        ("gzip", "gzip"),
        ("br;q=0.2, gzip;q=0.9", "gzip"),
        ("gzip;q=0, br", "br"),
        ("br;q=0, gzip;q=0", ""),
        ("identity", ""),
        ("deflate", ""),
    ] {
        let got = fetch(&server, "/js/app.js", Some(accept)).await;
        assert_eq!(got.status, StatusCode::OK, "{accept}");
        assert_eq!(got.header("content-encoding"), coding, "Accept-Encoding: {accept}");
        assert_eq!(got.header("vary").to_ascii_lowercase(), "accept-encoding", "{accept}");
        assert_eq!(got.decoded(), plain.body, "{accept}: the same script once decoded");
        if !coding.is_empty() {
            assert!(
                got.body.len() * 2 < plain.body.len(),
                "{accept}: {} of {} bytes",
                got.body.len(),
                plain.body.len()
            );
        }
    }
    for path in ["/", "/css/base.css", "/i18n/en.json", "/favicon.svg", "/widget.js"] {
        let got = fetch(&server, path, Some("br")).await;
        assert_eq!((got.status, got.header("content-encoding")), (StatusCode::OK, "br"), "{path}");
        assert!(!got.decoded().is_empty());
    }
    // Each representation has its own ETag, and a revalidation answers 304 for it.
    let gzip = fetch(&server, "/js/app.js", Some("gzip")).await;
    let brotli = fetch(&server, "/js/app.js", Some("br")).await;
    assert_ne!(gzip.header("etag"), brotli.header("etag"));
    assert_ne!(gzip.header("etag"), plain.header("etag"));
    let again = server
        .client
        .get(server.url("/js/app.js"))
        .header("accept-encoding", "br")
        .header("if-none-match", brotli.header("etag"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    server.stop().await;
}

#[tokio::test]
async fn api_answers_are_gzipped_by_the_layer_and_left_plain_otherwise() {
    let server = TestServer::start().await;
    let zipped = fetch(&server, "/api/v1/openapi.json", Some("gzip, br")).await;
    assert_eq!(zipped.status, StatusCode::OK);
    assert_eq!(zipped.header("content-encoding"), "gzip");
    let document: serde_json::Value = serde_json::from_slice(&zipped.decoded()).unwrap();
    assert!(document["paths"].is_object());
    let plain = fetch(&server, "/api/v1/openapi.json", None).await;
    assert_eq!(plain.header("content-encoding"), "");
    assert_eq!(plain.body, zipped.decoded());
    server.stop().await;
}

#[tokio::test]
async fn the_page_is_revalidated_and_its_files_are_cached_for_a_year_under_the_version() {
    let server = TestServer::start().await;
    let index = fetch(&server, "/", None).await;
    assert_eq!(index.header("cache-control"), "no-cache");
    let html = String::from_utf8(index.body.clone()).unwrap();
    let prefix = prefix_of(&html);
    assert_eq!(prefix.len(), "/assets/".len() + 16, "{prefix}");
    for file in ["/css/tokens.css", "/css/base.css", "/favicon.svg"] {
        assert!(html.contains(&format!("\"{prefix}{file}\"")), "index.html loads {file} from {prefix}: {html}");
    }
    for module in ["js/api.js", "js/i18n.js", "js/views/conversations.js"] {
        assert!(
            html.contains(&format!("<link rel=\"modulepreload\" href=\"{prefix}/{module}\">")),
            "{module} preloaded: {html}"
        );
    }
    assert!(!html.contains("widget/widget.js"), "the staff page does not load the widget");
    // What the modules fetch first comes with them: who is signed in, the strings of the browser's
    // language (Spanish when it has neither).
    assert!(html.contains("<link rel=\"preload\" href=\"/api/v1/me\" as=\"fetch\" crossorigin>"), "{html}");
    assert!(html.contains(&format!("href=\"{prefix}/i18n/es.json\" as=\"fetch\" crossorigin>")), "{html}");
    let english = server.client.get(server.url("/")).header("accept-language", "en-GB,en;q=0.9").send().await.unwrap();
    assert_eq!(english.headers()["vary"], "accept-encoding, accept-language");
    let english = english.text().await.unwrap();
    assert!(english.contains(&format!("href=\"{prefix}/i18n/en.json\" as=\"fetch\"")), "{english}");
    assert!(!english.contains("i18n/es.json"), "{english}");
    for page in ["/conversations", "/admin/users", "/index.html"] {
        let got = fetch(&server, page, None).await;
        assert_eq!((got.status, got.header("cache-control")), (StatusCode::OK, "no-cache"), "{page}");
        assert_eq!(got.body, index.body, "{page} is the same page");
    }
    for file in ["/js/app.js", "/js/views/list.js", "/css/workspace.css", "/i18n/es.json", "/favicon.svg"] {
        let versioned = fetch(&server, &format!("{prefix}{file}"), Some("br")).await;
        assert_eq!(versioned.status, StatusCode::OK, "{prefix}{file}");
        assert_eq!(versioned.header("cache-control"), IMMUTABLE, "{prefix}{file}");
        // The old path still serves the same file, revalidated each time.
        let old = fetch(&server, file, Some("br")).await;
        assert_eq!((old.status, old.header("cache-control")), (StatusCode::OK, "no-cache"), "{file}");
        assert_eq!(old.decoded(), versioned.decoded(), "{file}");
    }
    // Another version's prefix (a page loaded before an upgrade) gets today's file, not cached.
    let stale = fetch(&server, "/assets/0123456789abcdef/js/app.js", None).await;
    assert_eq!((stale.status, stale.header("cache-control")), (StatusCode::OK, "no-cache"));
    for missing in [format!("{prefix}/js/nothing.js"), format!("{prefix}/conversations"), "/assets/x".to_owned()] {
        assert_eq!(fetch(&server, &missing, None).await.status, StatusCode::NOT_FOUND, "{missing}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_widget_keeps_its_url_with_a_short_cache() {
    let server = TestServer::start().await;
    let script = fetch(&server, "/widget.js", Some("gzip")).await;
    assert_eq!(script.status, StatusCode::OK);
    assert_eq!(script.header("content-type"), "text/javascript; charset=utf-8");
    assert_eq!(script.header("cache-control"), "public, max-age=300");
    assert_eq!(script.header("content-encoding"), "gzip");
    let on_disk = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/web/widget/widget.js")).unwrap();
    assert_eq!(script.decoded(), on_disk);
    server.stop().await;
}
