//! TLS: a configured certificate (reloaded when its files change) or a self-signed one made on first
//! start and kept in the data dir. The server config resolves the certificate per handshake, so a
//! reload applies to new connections while open ones keep theirs.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::TlsFiles;

const SELF_SIGNED_CERT: &str = "self-signed.crt";
const SELF_SIGNED_KEY: &str = "self-signed.key";
/// How often configured certificate files are checked for changes.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("{path} holds no PEM certificate")]
    NoCertificate { path: PathBuf },
    #[error("{path} holds no usable PEM private key: {message}")]
    BadKey { path: PathBuf, message: String },
    #[error("the certificate in {cert} does not go with the key in {key}: {message}")]
    Mismatch { cert: PathBuf, key: PathBuf, message: String },
    #[error("cannot make a self-signed certificate: {0}")]
    Generate(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The certificate in force and where it came from.
pub struct Tls {
    pub server_config: Arc<rustls::ServerConfig>,
    pub resolver: Arc<CertResolver>,
    /// The configured files to watch with their contents when loaded; `None` for the self-signed
    /// certificate.
    pub watched: Option<(TlsFiles, Vec<u8>)>,
}

impl Tls {
    /// Loads the configured files, or the self-signed certificate from `data_dir/tls` (made on first
    /// use). Missing or broken configured files are an error, never a silent fallback.
    pub fn setup(files: Option<&TlsFiles>, data_dir: &Path) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (key, watched) = match files {
            Some(files) => {
                // Read before loading: a change in between is then seen as a change, not missed.
                let contents = read_both(files).unwrap_or_default();
                (load(files, &provider)?, Some((files.clone(), contents)))
            }
            None => (self_signed(&data_dir.join("tls"), &provider)?, None),
        };
        let resolver = Arc::new(CertResolver { current: RwLock::new(Arc::new(key)), provider: Arc::clone(&provider) });
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls { server_config: Arc::new(config), resolver, watched })
    }
}

/// Hands out the current certificate to each handshake; swapped whole on reload.
#[derive(Debug)]
pub struct CertResolver {
    current: RwLock<Arc<CertifiedKey>>,
    provider: Arc<CryptoProvider>,
}

impl CertResolver {
    pub fn current(&self) -> Arc<CertifiedKey> {
        match self.current.read() {
            Ok(key) => Arc::clone(&key),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// SHA-256 of the leaf certificate in force, as colon-separated hex.
    pub fn fingerprint(&self) -> String {
        self.current().cert.first().map(|cert| fingerprint(cert)).unwrap_or_default()
    }

    fn replace(&self, key: CertifiedKey) {
        match self.current.write() {
            Ok(mut current) => *current = Arc::new(key),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(key),
        }
    }

    /// Loads `files` again if their contents differ from `seen` (and remembers them); keeps the old
    /// certificate, and logs why, if the new files are not usable.
    pub fn reload_if_changed(&self, files: &TlsFiles, seen: &mut Vec<u8>) {
        let Ok(contents) = read_both(files) else {
            return; // Mid-rename or briefly missing: try again next round.
        };
        if *seen == contents {
            return;
        }
        *seen = contents;
        match load(files, &self.provider) {
            Ok(key) => {
                self.replace(key);
                tracing::info!(fingerprint = %self.fingerprint(), "TLS certificate reloaded");
            }
            Err(err) => {
                tracing::error!(error = %err, "new TLS certificate files are not usable; keeping the previous certificate")
            }
        }
    }
}

impl ResolvesServerCert for CertResolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Watches the configured files and reloads them when they differ from `loaded` (their contents
/// at setup), until the task is dropped.
pub async fn watch(resolver: Arc<CertResolver>, files: TlsFiles, loaded: Vec<u8>) {
    let mut seen = loaded;
    let mut tick = tokio::time::interval(RELOAD_INTERVAL);
    loop {
        tick.tick().await;
        let (resolver, files, mut current) = (Arc::clone(&resolver), files.clone(), std::mem::take(&mut seen));
        let checked = tokio::task::spawn_blocking(move || {
            resolver.reload_if_changed(&files, &mut current);
            current
        });
        seen = checked.await.unwrap_or_default();
    }
}

fn read_both(files: &TlsFiles) -> std::io::Result<Vec<u8>> {
    let mut contents = std::fs::read(&files.cert)?;
    contents.extend(std::fs::read(&files.key)?);
    Ok(contents)
}

fn load(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let cert_pem = std::fs::read(&files.cert).map_err(|source| TlsError::Read { path: files.cert.clone(), source })?;
    let key_pem = std::fs::read(&files.key).map_err(|source| TlsError::Read { path: files.key.clone(), source })?;
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(&cert_pem).filter_map(Result::ok).collect();
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: files.cert.clone() });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|err| TlsError::BadKey { path: files.key.clone(), message: err.to_string() })?;
    CertifiedKey::from_der(chain, key, provider).map_err(|err| TlsError::Mismatch {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message: err.to_string(),
    })
}

/// Days a self-signed certificate is valid: Apple platforms refuse server certificates valid longer
/// than 825 days.
const SELF_SIGNED_DAYS: i64 = 825;
/// A self-signed certificate this old is replaced at start, a month before it would expire.
const RENEW_AFTER_DAYS: u64 = 795;

fn self_signed(dir: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let files = TlsFiles { cert: dir.join(SELF_SIGNED_CERT), key: dir.join(SELF_SIGNED_KEY) };
    if !files.cert.exists() && !files.key.exists() {
        generate(dir, &files)?;
    } else if age_days(&files.cert).is_some_and(|days| days >= RENEW_AFTER_DAYS) {
        tracing::warn!("the self-signed certificate is about to expire; making a new one (its fingerprint changes)");
        generate(dir, &files)?;
    }
    load(&files, provider)
}

fn age_days(path: &Path) -> Option<u64> {
    let modified = std::fs::metadata(path).ok()?.modified().ok()?;
    Some(modified.elapsed().ok()?.as_secs() / 86_400)
}

fn generate(dir: &Path, files: &TlsFiles) -> Result<(), TlsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| TlsError::Write { path: dir.to_path_buf(), source })?;
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    if let Some(host) = hostname() {
        names.push(host);
    }
    let mut params = rcgen::CertificateParams::new(names).map_err(|err| TlsError::Generate(err.to_string()))?;
    params.distinguished_name.push(rcgen::DnType::CommonName, "centralita (self-signed)");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(SELF_SIGNED_DAYS);
    let key = rcgen::KeyPair::generate().map_err(|err| TlsError::Generate(err.to_string()))?;
    let cert = params.self_signed(&key).map_err(|err| TlsError::Generate(err.to_string()))?;
    // The key first: a certificate without its key would be useless after a crash in between.
    write_atomically(&files.key, key.serialize_pem().as_bytes(), 0o600)?;
    write_atomically(&files.cert, cert.pem().as_bytes(), 0o644)?;
    tracing::info!(path = %files.cert.display(), "made a self-signed TLS certificate");
    Ok(())
}

fn hostname() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "localhost").then(|| name.to_owned())
}

/// Writes a file through a temporary name and renames it, so a crash never leaves half a file.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), TlsError> {
    let temporary = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let mut file =
            std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temporary, path)
    };
    write().map_err(|source| TlsError::Write { path: path.to_path_buf(), source })
}

/// SHA-256 of a DER certificate as colon-separated upper-case hex, as browsers show it.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, cert.as_ref());
    digest.as_ref().iter().map(|byte| format!("{byte:02X}")).collect::<Vec<_>>().join(":")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = Tls::setup(None, dir.path()).unwrap().resolver.fingerprint();
        let again = Tls::setup(None, dir.path()).unwrap().resolver.fingerprint();
        assert_eq!(first, again);
        assert_eq!(first.len(), 32 * 3 - 1);
        let mode = std::fs::metadata(dir.path().join("tls").join(SELF_SIGNED_KEY)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn missing_configured_files_fail_loudly() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles { cert: dir.path().join("nope.pem"), key: dir.path().join("nope.key") };
        let err = Tls::setup(Some(&files), dir.path()).err().expect("must fail");
        assert!(err.to_string().contains("nope.pem"), "{err}");
    }

    #[test]
    fn a_broken_replacement_keeps_the_old_certificate() {
        let dir = tempfile::tempdir().unwrap();
        Tls::setup(None, dir.path()).unwrap();
        let files = TlsFiles {
            cert: dir.path().join("tls").join(SELF_SIGNED_CERT),
            key: dir.path().join("tls").join(SELF_SIGNED_KEY),
        };
        let tls = Tls::setup(Some(&files), dir.path()).unwrap();
        let before = tls.resolver.fingerprint();
        let mut seen = read_both(&files).unwrap();
        std::fs::write(&files.cert, "not a certificate").unwrap();
        tls.resolver.reload_if_changed(&files, &mut seen);
        assert_eq!(tls.resolver.fingerprint(), before);
    }
}
