//! The web UI, embedded from `web/` (read from disk in debug builds). Answers with the MIME type,
//! an ETag and `no-cache` (revalidate: a 304 costs a round trip, not the file), and serves
//! `index.html` for page routes so the UI can route in the browser.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use super::ApiError;
use crate::domain::error_code::ErrorCode;

#[derive(Embed)]
#[folder = "web/"]
struct Web;

pub async fn serve(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return ApiError::method_not_allowed().into_response();
    }
    let path = match uri.path().trim_start_matches('/') {
        "" => "index.html",
        // The one file other sites load: `<script src="https://…/widget.js">`.
        "widget.js" => "widget/widget.js",
        path => path,
    };
    let (name, file) = match Web::get(path) {
        Some(file) => (path, file),
        None if is_page_route(path) => match Web::get("index.html") {
            Some(file) => ("index.html", file),
            None => {
                return ApiError::not_found(ErrorCode::NotFound, "The web UI is missing from this build.")
                    .into_response();
            }
        },
        None => return ApiError::not_found(ErrorCode::NotFound, "There is no such file.").into_response(),
    };
    let etag = etag(&file.metadata.sha256_hash());
    let mut response = if headers.get(header::IF_NONE_MATCH).is_some_and(|given| given.as_bytes() == etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if method == Method::HEAD {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(file.data))
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(name));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    response
}

/// A path with no file extension outside the API is a page of the UI.
fn is_page_route(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    !path.starts_with("api/") && !last.contains('.')
}

fn etag(hash: &[u8; 32]) -> String {
    let hex: String = hash[..16].iter().map(|byte| format!("{byte:02x}")).collect();
    format!("\"{hex}\"")
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
