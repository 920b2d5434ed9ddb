//! A real S3 server for tests: `s3s` (the S3 protocol, with SigV4 authentication) over
//! `s3s-fs` (objects as files in a temp dir), served by hyper on a free loopback port,
//! on its own thread and runtime. It logs every request line and stops on drop.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use hyper_util::rt::TokioIo;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::sync::oneshot;

/// The access key the server accepts.
pub const ACCESS_KEY_ID: &str = "warden-test";
/// The secret key the server accepts.
pub const SECRET_ACCESS_KEY: &str = "warden-test-secret-0123456789";
/// The bucket that exists from the start.
pub const BUCKET: &str = "backups";

/// A running S3 server; stopped and its files removed on drop.
pub struct S3Server {
    /// The data directory: `<root>/<bucket>/<key>`.
    root: tempfile::TempDir,
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<String>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl S3Server {
    /// Starts a server with one bucket ([`BUCKET`]) and one key pair
    /// ([`ACCESS_KEY_ID`], [`SECRET_ACCESS_KEY`]).
    pub fn start() -> Self {
        let root = tempfile::Builder::new().prefix("etcd-warden-s3").tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("create the bucket directory");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("local address");
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs over the temp dir");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY_ID, SECRET_ACCESS_KEY));
        let service = builder.build();
        let (stop, stopped) = oneshot::channel();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        let thread = std::thread::spawn(move || serve(listener, service, log, stopped));
        Self { root, addr, requests, stop: Some(stop), thread: Some(thread) }
    }

    /// The endpoint URL, e.g. `http://127.0.0.1:40123`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Where the object with `key` lives on disk.
    pub fn object_file(&self, key: &str) -> PathBuf {
        self.root.path().join(BUCKET).join(key)
    }

    /// Every request so far, as `METHOD /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().expect("request log").clone()
    }

    /// The server's data directory.
    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Accepts connections until `stopped` fires; dropping the runtime ends open ones.
fn serve(
    listener: TcpListener,
    service: s3s::service::S3Service,
    log: Arc<Mutex<Vec<String>>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
        loop {
            let socket = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((socket, _)) => socket,
                    Err(_) => continue,
                },
                _ = &mut stopped => return,
            };
            let (service, log) = (service.clone(), Arc::clone(&log));
            let logged = hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                log.lock().expect("request log").push(format!("{} {}", request.method(), request.uri()));
                hyper::service::Service::call(&service, request)
            });
            tokio::spawn(async move {
                let connection =
                    hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), logged);
                let _ = connection.await;
            });
        }
    });
}
