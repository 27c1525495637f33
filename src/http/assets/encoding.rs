//! Compressed copies of the UI's text files: which coding a browser takes (`Accept-Encoding` with its
//! q-values), and each file compressed once (brotli and gzip) and kept in memory, keyed by name and
//! content hash so an edited file (debug builds read from disk) is compressed again.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;

/// The codings we send, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coding {
    Brotli,
    Gzip,
    Identity,
}

impl Coding {
    /// The `Content-Encoding` value, if any.
    pub fn header(self) -> Option<&'static str> {
        match self {
            Coding::Brotli => Some("br"),
            Coding::Gzip => Some("gzip"),
            Coding::Identity => None,
        }
    }

    /// The suffix of the ETag: each representation has its own strong ETag.
    pub fn tag(self) -> &'static str {
        match self {
            Coding::Brotli => "-br",
            Coding::Gzip => "-gz",
            Coding::Identity => "",
        }
    }
}

/// The coding to answer with for an `Accept-Encoding` header (all of its values joined): the
/// accepted one with the highest q-value, brotli before gzip on a tie; identity when neither is
/// accepted (a client that refuses identity too still gets it rather than a 406).
pub fn negotiate(accept: &str) -> Coding {
    let mut brotli = None;
    let mut gzip = None;
    let mut any = None;
    for item in accept.split(',') {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .filter_map(|param| param.trim().strip_prefix("q=").or_else(|| param.trim().strip_prefix("Q=")))
            .find_map(|value| value.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        match name.as_str() {
            "br" => brotli = Some(q),
            "gzip" | "x-gzip" => gzip = Some(q),
            "*" => any = Some(q),
            _ => {}
        }
    }
    let brotli = brotli.or(any).unwrap_or(0.0);
    let gzip = gzip.or(any).unwrap_or(0.0);
    if brotli > 0.0 && brotli >= gzip {
        Coding::Brotli
    } else if gzip > 0.0 {
        Coding::Gzip
    } else {
        Coding::Identity
    }
}

/// Whether a file is text worth compressing (the UI's html, js, css, json and svg).
pub fn compressible(name: &str) -> bool {
    let extension = name.rsplit_once('.').map(|(_, extension)| extension).unwrap_or("");
    matches!(extension, "html" | "js" | "mjs" | "css" | "json" | "svg" | "txt")
}

/// A file's bytes in the three codings.
pub struct Encoded {
    pub identity: Bytes,
    pub brotli: Bytes,
    pub gzip: Bytes,
}

impl Encoded {
    pub fn get(&self, coding: Coding) -> Bytes {
        match coding {
            Coding::Brotli => self.brotli.clone(),
            Coding::Gzip => self.gzip.clone(),
            Coding::Identity => self.identity.clone(),
        }
    }
}

/// Name → (content hash, compressed copies). One entry per file name, so an edited file replaces
/// its old copies. The map holds only what the content hash names, so servers sharing a process
/// (as tests run them) cannot see each other's state through it.
type Cache = Mutex<HashMap<String, ([u8; 32], Arc<Encoded>)>>;

fn cache() -> &'static Cache {
    static CACHE: OnceLock<Cache> = OnceLock::new();
    CACHE.get_or_init(Cache::default)
}

/// The file compressed both ways, from memory when this content was compressed before. Compressing
/// takes milliseconds per file, so the first request for a file runs it off the async threads.
pub async fn encoded(name: &str, hash: [u8; 32], data: Bytes) -> Arc<Encoded> {
    if let Some(found) = cached(name, hash) {
        return found;
    }
    let identity = data.clone();
    let compressed = tokio::task::spawn_blocking(move || compress(&data)).await;
    let (brotli, gzip) = match compressed {
        Ok(pair) => pair,
        // A panicking compressor (never seen) costs compression, not the page.
        Err(_) => (identity.clone(), identity.clone()),
    };
    let encoded = Arc::new(Encoded { identity, brotli, gzip });
    if let Ok(mut cache) = cache().lock() {
        cache.insert(name.to_owned(), (hash, encoded.clone()));
    }
    encoded
}

fn cached(name: &str, hash: [u8; 32]) -> Option<Arc<Encoded>> {
    let cache = cache().lock().ok()?;
    cache.get(name).filter(|(known, _)| *known == hash).map(|(_, encoded)| encoded.clone())
}

/// Brotli at its best quality and gzip at level 9: done once per file, so the slowest setting pays.
fn compress(data: &[u8]) -> (Bytes, Bytes) {
    (brotli(data).into(), gzip(data).into())
}

pub fn brotli(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 3);
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
        // Writing into a Vec cannot fail.
        let _ = writer.write_all(data);
    }
    out
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::best());
    let _ = encoder.write_all(data);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brotli_is_preferred_and_q_values_are_honoured() {
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Coding::Brotli);
        assert_eq!(negotiate("gzip"), Coding::Gzip);
        assert_eq!(negotiate("br;q=0.5, gzip;q=0.8"), Coding::Gzip);
        assert_eq!(negotiate("br;q=0, gzip"), Coding::Gzip);
        assert_eq!(negotiate("gzip;q=0, br;q=0"), Coding::Identity);
        assert_eq!(negotiate("*"), Coding::Brotli);
        assert_eq!(negotiate("*;q=0.1, br;q=0"), Coding::Gzip);
        assert_eq!(negotiate("identity"), Coding::Identity);
        assert_eq!(negotiate("deflate"), Coding::Identity);
        assert_eq!(negotiate(""), Coding::Identity);
        assert_eq!(negotiate("GZIP; Q=0.9"), Coding::Gzip);
        assert_eq!(negotiate("br;q=nonsense"), Coding::Brotli);
    }

    #[test]
    fn only_text_files_are_compressed() {
        assert!(compressible("js/app.js") && compressible("i18n/es.json") && compressible("favicon.svg"));
        assert!(!compressible("logo.png") && !compressible("README"));
    }

    #[test]
    fn both_codings_give_back_the_bytes() {
        let text = "const a = 1;\n".repeat(200);
        let (zipped, brotlied) = (gzip(text.as_bytes()), brotli(text.as_bytes()));
        let mut back = Vec::new();
        let mut gz = flate2::read::GzDecoder::new(&zipped[..]);
        std::io::Read::read_to_end(&mut gz, &mut back).unwrap();
        assert_eq!(back, text.as_bytes());
        let mut back = Vec::new();
        let mut br = brotli::Decompressor::new(&brotlied[..], 4096);
        std::io::Read::read_to_end(&mut br, &mut back).unwrap();
        assert_eq!(back, text.as_bytes());
    }
}
