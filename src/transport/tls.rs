//! Server TLS from PEM files, re-read when they change. Each new connection asks
//! [`ReloadingTls::current`] for the configuration to use: it looks at the files' sizes,
//! modification times and inodes, and when they changed since the last load builds a new
//! rustls `ServerConfig` and swaps it in. Connections already open keep the one they
//! started with. A replacement that does not load (a key that does not match the
//! certificate, say, while only one of the two has been written) is logged once and the
//! previous configuration stays in use until the files load again.
//!
//! With a client CA, a client may present a certificate: one that does not chain to the
//! CA fails the handshake; one that does is handed to the request as a
//! [`super::ClientCertificate`]; a client without one is served as before (customers and
//! devices authenticate with tokens).

use crate::error::{Error, Result};
use rustls::{
    RootCertStore, ServerConfig,
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
    server::WebPkiClientVerifier,
};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::SystemTime,
};

/// The PEM files of the server's TLS setup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub certificate: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Certificate authorities that client certificates must chain to; `None` asks for
    /// no client certificates.
    pub client_ca: Option<PathBuf>,
}

/// What identifies a version of a file: changed by any write or replacement.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(path).ok()?;
    Some((metadata.modified().ok()?, metadata.len(), metadata.ino()))
}

#[derive(Debug)]
struct Loaded {
    stamps: Vec<Stamp>,
    config: Arc<ServerConfig>,
    /// The stamps of the last version that failed to load, so that it is reported once.
    failed: Option<Vec<Stamp>>,
}

/// The server's TLS configuration, following its files.
#[derive(Debug)]
pub struct ReloadingTls {
    files: TlsFiles,
    loaded: Mutex<Loaded>,
}

impl ReloadingTls {
    /// Loads the files. Errors: `Internal`, naming the file that cannot be read or used
    /// and why.
    pub fn load(files: TlsFiles) -> Result<Self> {
        let stamps = stamps(&files);
        let config = Arc::new(server_config(&files)?);
        Ok(Self {
            files,
            loaded: Mutex::new(Loaded {
                stamps,
                config,
                failed: None,
            }),
        })
    }

    /// The configuration for a new connection: reloaded first if the files changed.
    pub fn current(&self) -> Arc<ServerConfig> {
        let stamps = stamps(&self.files);
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if stamps != loaded.stamps && loaded.failed.as_ref() != Some(&stamps) {
            match server_config(&self.files) {
                Ok(config) => {
                    tracing::info!(certificate = %self.files.certificate.display(), "TLS files reloaded");
                    loaded.config = Arc::new(config);
                    loaded.stamps = stamps;
                    loaded.failed = None;
                }
                Err(error) => {
                    tracing::warn!(%error, "the changed TLS files do not load; serving the previous ones");
                    loaded.failed = Some(stamps);
                }
            }
        }
        loaded.config.clone()
    }
}

fn stamps(files: &TlsFiles) -> Vec<Stamp> {
    [
        Some(&files.certificate),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|path| stamp(path))
    .collect()
}

fn read(what: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| Error::Internal(format!("reading {what} {}: {e}", path.display())))
}

fn certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = read(what, path)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Internal(format!("{what} {} is not valid PEM: {e}", path.display())))?;
    if certificates.is_empty() {
        return Err(Error::Internal(format!(
            "{what} {} holds no PEM certificate (`-----BEGIN CERTIFICATE-----`)",
            path.display()
        )));
    }
    Ok(certificates)
}

/// The rustls configuration the files describe: HTTP/2 only (ALPN `h2`), ring's crypto.
fn server_config(files: &TlsFiles) -> Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates("the TLS certificate", &files.certificate)?;
    let key_pem = read("the TLS key", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| {
        Error::Internal(format!(
            "the TLS key {} holds no usable PEM private key: {e}",
            files.key.display()
        ))
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Internal(format!("TLS protocol versions: {e}")))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        Error::Internal(format!(
            "the TLS key {} does not fit the certificate {}: {e}",
            files.key.display(),
            files.certificate.display()
        ))
    })?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

fn client_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates("the TLS client CA", path)? {
        roots.add(certificate).map_err(|e| {
            Error::Internal(format!(
                "the TLS client CA {} holds an unusable certificate: {e}",
                path.display()
            ))
        })?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .allow_unauthenticated()
        .build()
        .map_err(|e| Error::Internal(format!("the TLS client CA {}: {e}", path.display())))
}
