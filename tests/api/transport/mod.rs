//! The listener seen from the network: connection hygiene (handshake deadline, idle
//! timeout, keepalive, streams per connection), the per-caller cap on event streams,
//! back-off when descriptors run out, TLS and mutual TLS. Some scenarios speak raw
//! HTTP/2 frames, because a well-behaved client never does what they test.
//!
//! What the scenarios share is here.

mod accept;
mod connections;
mod memory;
mod tls;
mod watch_quota;

use crate::support::{Db, WAIT};
use chrono::Utc;
use std::{net::SocketAddr, path::PathBuf, sync::Arc};
use tessera::{Application, Settings, domain::clock::ManualClock};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
    task::JoinHandle,
    time::timeout,
};

use crate::support::test_db::TestDb;

/// A server started with chosen settings, reached by address (for clients the shared
/// `TestApp` cannot be: raw sockets, TLS).
pub struct Server {
    pub addr: SocketAddr,
    pub settings: Settings,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    _database: TestDb,
}

impl Server {
    /// Starts a server on a fresh database of `db` (or `None` without PostgreSQL).
    pub async fn start(db: Db, adjust: impl FnOnce(&mut Settings)) -> Option<Self> {
        let database = match db {
            Db::Sqlite => TestDb::sqlite(),
            Db::Postgres => TestDb::postgres().await,
        };
        let mut settings = Settings::for_database(database.url());
        settings.listen = "127.0.0.1:0".parse().unwrap();
        settings.admin_token = Some(crate::support::ADMIN_TOKEN.to_owned());
        settings.lifecycle_interval_seconds = 0;
        settings.housekeeping_interval_minutes = 0;
        settings.shutdown_grace_seconds = 2;
        adjust(&mut settings);
        let app = Application::build_with_clock(&settings, Arc::new(ManualClock::new(Utc::now())))
            .await
            .expect("the server starts");
        let addr = app.local_addr();
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until_stopped(async {
                let _ = stopped.await;
            })
            .await
            .expect("the server runs");
        });
        Some(Self {
            addr,
            settings,
            shutdown: Some(shutdown),
            task: Some(task),
            _database: database,
        })
    }

    /// Stops the server and waits until it has finished.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = timeout(WAIT, task).await;
        }
    }
}

/// Reads until the peer closes the connection (or it fails): how many bytes came first.
/// Panics if it stays open for `within`.
pub async fn closed_within(stream: &mut TcpStream, within: std::time::Duration) -> usize {
    let mut received = 0;
    let mut buf = [0u8; 4096];
    timeout(within, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => received += n,
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the connection is still open after {within:?}"));
    received
}

/// HTTP/2 frame types (RFC 9113, section 6).
pub mod frame {
    pub const HEADERS: u8 = 0x1;
    pub const RST_STREAM: u8 = 0x3;
    pub const SETTINGS: u8 = 0x4;
    pub const PING: u8 = 0x6;
    pub const GOAWAY: u8 = 0x7;
    pub const ACK: u8 = 0x1;
    pub const END_HEADERS: u8 = 0x4;
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub const MAX_CONCURRENT_STREAMS: u16 = 0x3;
    /// RST_STREAM error code REFUSED_STREAM.
    pub const REFUSED_STREAM: u32 = 0x7;
}

/// One HTTP/2 frame.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The value of `id` in a SETTINGS frame.
    pub fn setting(&self, id: u16) -> Option<u32> {
        self.payload.chunks_exact(6).find_map(|entry| {
            (u16::from_be_bytes([entry[0], entry[1]]) == id)
                .then(|| u32::from_be_bytes([entry[2], entry[3], entry[4], entry[5]]))
        })
    }

    /// The error code of a RST_STREAM frame.
    pub fn error_code(&self) -> u32 {
        u32::from_be_bytes(self.payload[..4].try_into().unwrap())
    }
}

/// A hand-driven HTTP/2 client over plain TCP: it does only what the test says (it does
/// not even answer pings unless told to).
pub struct RawH2 {
    pub stream: TcpStream,
    buffer: Vec<u8>,
    /// The server's SETTINGS, once read.
    pub server_settings: Option<Frame>,
}

impl RawH2 {
    /// Connects and sends the preface and an empty SETTINGS frame; then reads until the
    /// server's SETTINGS arrive, and acknowledges them.
    pub async fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).await.expect("the server accepts");
        let mut h2 = Self {
            stream,
            buffer: Vec::new(),
            server_settings: None,
        };
        h2.stream
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
            .await
            .unwrap();
        h2.send(frame::SETTINGS, 0, 0, &[]).await;
        loop {
            let frame = h2.next().await.expect("the server sends its SETTINGS");
            if frame.kind == frame::SETTINGS && frame.flags & frame::ACK == 0 {
                h2.server_settings = Some(frame);
                h2.send(frame::SETTINGS, frame::ACK, 0, &[]).await;
                return h2;
            }
        }
    }

    pub async fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        let mut bytes = Vec::with_capacity(9 + payload.len());
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        bytes.push(kind);
        bytes.push(flags);
        bytes.extend_from_slice(&stream.to_be_bytes());
        bytes.extend_from_slice(payload);
        self.stream.write_all(&bytes).await.unwrap();
    }

    /// Opens stream `stream` with the request headers of a gRPC call of `path`, and
    /// leaves it open (no END_STREAM: the request message never comes).
    pub async fn open_call(&mut self, stream: u32, path: &str) {
        let mut block = vec![0x83, 0x86]; // :method POST, :scheme http (static table)
        literal(&mut block, 0x04, None, path); // :path
        literal(&mut block, 0x01, None, "localhost"); // :authority
        literal(&mut block, 0x0f, Some(0x10), "application/grpc"); // content-type (31)
        block.push(0x00); // te: trailers, a literal name
        block.push(2);
        block.extend_from_slice(b"te");
        block.push(8);
        block.extend_from_slice(b"trailers");
        self.send(frame::HEADERS, frame::END_HEADERS, stream, &block)
            .await;
    }

    /// The next frame, or `None` once the server closed the connection.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if self.buffer.len() >= 9 {
                let length = u32::from_be_bytes([0, self.buffer[0], self.buffer[1], self.buffer[2]])
                    as usize;
                if self.buffer.len() >= 9 + length {
                    let frame = Frame {
                        kind: self.buffer[3],
                        flags: self.buffer[4],
                        stream: u32::from_be_bytes(self.buffer[5..9].try_into().unwrap())
                            & 0x7fff_ffff,
                        payload: self.buffer[9..9 + length].to_vec(),
                    };
                    self.buffer.drain(..9 + length);
                    return Some(frame);
                }
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buffer.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Frames until one that `wanted` accepts (returned), or `None` if the connection
    /// closes first. Panics after `within`.
    pub async fn until(
        &mut self,
        within: std::time::Duration,
        wanted: impl Fn(&Frame) -> bool,
    ) -> Option<Frame> {
        timeout(within, async {
            while let Some(frame) = self.next().await {
                if wanted(&frame) {
                    return Some(frame);
                }
            }
            None
        })
        .await
        .unwrap_or_else(|_| panic!("no such frame within {within:?}"))
    }
}

/// An HPACK literal header field without indexing, its name from the static table.
fn literal(block: &mut Vec<u8>, name_index: u8, continued: Option<u8>, value: &str) {
    block.push(name_index);
    block.extend(continued);
    assert!(value.len() < 127);
    block.push(value.len() as u8);
    block.extend_from_slice(value.as_bytes());
}

/// A test PKI for TLS: CAs, server and client certificates, as PEM files in a scratch
/// directory.
pub struct Pki {
    pub dir: PathBuf,
}

/// A certificate authority that signs test certificates.
pub struct Ca {
    pub pem: String,
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

/// A certificate and its key, as PEM.
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = ca_params(name);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        Self {
            pem: pem("CERTIFICATE", &der),
            issuer: rcgen::Issuer::new(params, key),
        }
    }

    /// A server certificate for `localhost` and 127.0.0.1, named `name`.
    pub fn server(&self, name: &str) -> Issued {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        self.issue(params)
    }

    /// A client certificate named `name`.
    pub fn client(&self, name: &str) -> Issued {
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params)
    }

    fn issue(&self, params: rcgen::CertificateParams) -> Issued {
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.signed_by(&key, &self.issuer).unwrap().der().to_vec();
        Issued {
            certificate_pem: pem("CERTIFICATE", &der),
            key_pem: pem("PRIVATE KEY", &key.serialize_der()),
        }
    }
}

fn ca_params(name: &str) -> rcgen::CertificateParams {
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
}

/// `der` as a PEM block labelled `label`.
pub fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

impl Pki {
    pub fn new() -> Self {
        let dir =
            std::env::temp_dir().join(format!("tessera-tls-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }

    /// Writes `contents` to `name` in the directory by replacing the file (a new inode),
    /// as deployment tools do: the path.
    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.join(name);
        let staged = self.dir.join(format!(".{name}.new"));
        std::fs::write(&staged, contents).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        path
    }

    /// Serves TLS with `server`'s certificate and key (and, if given, client certificates
    /// from `client_ca`).
    pub fn configure(&self, settings: &mut Settings, server: &Issued, client_ca: Option<&Ca>) {
        settings.tls_cert = Some(self.write("server.pem", &server.certificate_pem));
        settings.tls_key = Some(self.write("server.key", &server.key_pem));
        settings.tls_client_ca = client_ca.map(|ca| self.write("clients.pem", &ca.pem));
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
