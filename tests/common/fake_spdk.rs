//! A fake SPDK target: a JSON-RPC server on a unix socket, and SPDK's `rpc_http_proxy.py` in
//! front of it, replaying the recorded responses of `tests/fixtures/spdk/` with the client's id.
//! It stands in for what cannot run here (an SPDK application needs hugepages and a DPU), and
//! can misbehave on demand, per method.
//!
//! Behaviour copied from the recordings (`tests/fixtures/spdk/README.md`): responses are one
//! line of compact JSON plus `\n`; requests need no delimiter and are parsed as a stream;
//! invalid JSON closes the connection without an answer; params given to a method that takes
//! none get -32602; an unknown method gets -32601; `bdev_get_iostat` with `names` (v26.05
//! style) gets -32603 like v25.09 does. The proxy answers HTTP/1.0 without `Content-Length`,
//! 200 even for JSON-RPC errors, 401 with an empty body for wrong credentials.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the fake answers one method.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// The recorded response.
    Normal,
    /// Half of the recorded response, then the connection is closed.
    CloseMidResponse,
    /// No answer for this long (past the client's timeout).
    Stall(Duration),
    /// A line that is not JSON.
    Garbage,
    /// A JSON-RPC error (-19, "No such device", as recorded).
    RpcError,
    /// "Method not found" (-32601), as an SPDK without the method answers.
    UnknownMethod,
    /// Serve this fixture file (relative to `tests/fixtures/spdk/`) instead.
    File(&'static str),
}

#[derive(Default)]
struct State {
    modes: HashMap<String, Mode>,
    calls: HashMap<String, usize>,
    credentials: (String, String),
    /// Per method: fixture files served in turn, the last one repeated.
    sequences: HashMap<String, VecDeque<String>>,
    /// Every call's params, per method, in order.
    params: HashMap<String, Vec<Value>>,
    /// Bdevs whose histogram is enabled (`bdev_enable_histogram`).
    hist_enabled: HashSet<String>,
    /// Per bdev: `bdev_get_histogram` fixture files served in turn, the last one repeated.
    histograms: HashMap<String, VecDeque<String>>,
    /// Bdevs beyond those of the recorded `bdev_get_bdevs`.
    extra_bdevs: HashSet<String>,
}

/// The recorded bdevs (`real/bdev_get_bdevs.json`).
const RECORDED_BDEVS: [&str; 4] = ["Malloc0", "Malloc1", "Null0", "Nvme0n1"];

/// A running fake target.
pub struct FakeSpdk {
    state: Arc<Mutex<State>>,
    /// The unix socket path.
    pub socket: PathBuf,
    /// The HTTP proxy's port on 127.0.0.1.
    pub proxy_port: u16,
    /// The HTTPS proxy's port on 127.0.0.1 (certificate for 127.0.0.1 by the CA in `ca_file`).
    pub tls_proxy_port: u16,
    /// PEM file of the CA that signed the HTTPS proxy's certificate.
    pub ca_file: PathBuf,
    /// The JSON-RPC server's TCP port on 127.0.0.1 (`spdk_tgt -r 127.0.0.1:port`).
    pub tcp_port: u16,
    _dir: tempfile::TempDir,
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/spdk")
}

/// The recorded response of `file` (under the fixtures), with `id` in place of the recorded one.
pub fn recorded(file: &str, id: &Value) -> Value {
    let text = std::fs::read_to_string(fixtures().join(file))
        .unwrap_or_else(|e| panic!("fixture {file}: {e}"));
    let mut v: Value = serde_json::from_str(&text).unwrap();
    v["id"] = id.clone();
    v
}

/// The recorded `result` of `file`.
pub fn recorded_result(file: &str) -> Value {
    recorded(file, &Value::Null)["result"].clone()
}

fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// What to write back for one request: bytes, then whether to close the connection.
enum Reply {
    Bytes(Vec<u8>, bool),
    Stall(Duration),
}

impl FakeSpdk {
    /// Starts the socket server and the proxy (credentials `user`/`secret`).
    pub async fn start() -> FakeSpdk {
        Self::start_at(None).await
    }

    /// [`FakeSpdk::start`] with the socket at `socket` (else in a temp dir).
    pub async fn start_at(socket: Option<PathBuf>) -> FakeSpdk {
        let dir = tempfile::tempdir().unwrap();
        let socket = socket.unwrap_or_else(|| dir.path().join("spdk.sock"));
        let state = Arc::new(Mutex::new(State {
            credentials: ("user".into(), "secret".into()),
            ..Default::default()
        }));
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_socket(stream, st.clone()));
            }
        });
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp_port = tcp.local_addr().unwrap().port();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = tcp.accept().await {
                tokio::spawn(serve_socket(stream, st.clone()));
            }
        });
        let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy_port = proxy.local_addr().unwrap().port();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = proxy.accept().await {
                tokio::spawn(serve_proxy(stream, st.clone()));
            }
        });
        let pki = super::tls::TestPki::new(dir.path());
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server.clone());
        let tls_proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tls_proxy_port = tls_proxy.local_addr().unwrap().port();
        let st = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = tls_proxy.accept().await {
                let (acceptor, st) = (acceptor.clone(), st.clone());
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve_proxy(tls, st).await;
                    }
                });
            }
        });
        FakeSpdk {
            tls_proxy_port,
            ca_file: pki.ca_file,
            state,
            socket,
            proxy_port,
            tcp_port,
            _dir: dir,
        }
    }

    /// Sets how `method` is answered from now on.
    pub fn set(&self, method: &str, mode: Mode) {
        self.state.lock().unwrap().modes.insert(method.into(), mode);
    }

    /// Sets the proxy's credentials.
    pub fn set_credentials(&self, user: &str, password: &str) {
        self.state.lock().unwrap().credentials = (user.into(), password.into());
    }

    /// Serves `files` (relative to `tests/fixtures/spdk/`) for `method` in turn, then the last
    /// one for every later call.
    pub fn set_sequence(&self, method: &str, files: &[&str]) {
        self.state.lock().unwrap().sequences.insert(
            method.into(),
            files.iter().map(|f| (*f).to_owned()).collect(),
        );
    }

    /// Serves the `bdev_get_histogram` recordings `files` (names under
    /// `tests/fixtures/spdk-extra/histogram/`) for `bdev` in turn, the last one repeated. The
    /// bdev's histogram must be enabled first, as in SPDK (else -12).
    pub fn set_histograms(&self, bdev: &str, files: &[&str]) {
        self.state.lock().unwrap().histograms.insert(
            bdev.into(),
            files
                .iter()
                .map(|f| format!("../spdk-extra/histogram/{f}"))
                .collect(),
        );
    }

    /// Adds a bdev to those SPDK knows (histogram calls for others get -19).
    pub fn add_bdev(&self, bdev: &str) {
        self.state.lock().unwrap().extra_bdevs.insert(bdev.into());
    }

    /// What an SPDK restart does to histograms: every one is disabled.
    pub fn restart(&self) {
        self.state.lock().unwrap().hist_enabled.clear();
    }

    /// The params of every call of `method`, in order.
    pub fn params(&self, method: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .params
            .get(method)
            .cloned()
            .unwrap_or_default()
    }

    /// How many times `method` was called.
    pub fn calls(&self, method: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .calls
            .get(method)
            .copied()
            .unwrap_or(0)
    }
}

fn answer(state: &Mutex<State>, req: &Value) -> Reply {
    let id = req.get("id").cloned().unwrap_or(Value::Null);
    let Some(method) = req.get("method").and_then(Value::as_str) else {
        return Reply::Bytes(line(&error(&Value::Null, -32600, "Invalid request")), false);
    };
    if req.get("jsonrpc").is_some_and(|v| v != "2.0") {
        return Reply::Bytes(line(&error(&Value::Null, -32600, "Invalid request")), false);
    }
    let params = req.get("params").filter(|p| !p.is_null());
    let (mode, sequenced) = {
        let mut s = state.lock().unwrap();
        *s.calls.entry(method.to_owned()).or_default() += 1;
        s.params
            .entry(method.to_owned())
            .or_default()
            .push(params.cloned().unwrap_or(Value::Null));
        let sequenced = s.sequences.get_mut(method).and_then(next_file);
        (
            s.modes.get(method).cloned().unwrap_or(Mode::Normal),
            sequenced,
        )
    };
    if matches!(method, "bdev_enable_histogram" | "bdev_get_histogram") {
        return histogram(state, method, params, &id);
    }
    let file = match (&mode, method, params) {
        (Mode::File(f), _, _) => f.to_string(),
        (_, _, _) if sequenced.is_some() => sequenced.unwrap_or_default(),
        (_, "spdk_get_version", Some(_)) => {
            return Reply::Bytes(
                line(&error(
                    &id,
                    -32602,
                    "spdk_get_version method requires no parameters",
                )),
                false,
            );
        }
        (_, "bdev_get_iostat", Some(p)) if p.get("names").is_some() => {
            return Reply::Bytes(
                line(&error(&id, -32603, "spdk_json_decode_object failed")),
                false,
            );
        }
        (_, "bdev_get_iostat", Some(p)) if p.get("per_channel") == Some(&json!(true)) => {
            "real/bdev_get_iostat__per_channel.json".into()
        }
        _ => format!("real/{method}.json"),
    };
    if !fixtures().join(&file).exists() {
        return Reply::Bytes(line(&error(&id, -32601, "Method not found")), false);
    }
    let full = line(&recorded(&file, &id));
    match mode {
        Mode::Normal | Mode::File(_) => Reply::Bytes(full, false),
        Mode::CloseMidResponse => Reply::Bytes(full[..full.len() / 2].to_vec(), true),
        Mode::Stall(d) => Reply::Stall(d),
        Mode::Garbage => Reply::Bytes(b"<html>502 Bad Gateway</html>\n".to_vec(), false),
        Mode::RpcError => Reply::Bytes(line(&error(&id, -19, "No such device")), false),
        Mode::UnknownMethod => Reply::Bytes(line(&error(&id, -32601, "Method not found")), false),
    }
}

/// The next file of a sequence: the front, popped unless it is the last.
fn next_file(q: &mut VecDeque<String>) -> Option<String> {
    if q.len() > 1 {
        q.pop_front()
    } else {
        q.front().cloned()
    }
}

/// `bdev_enable_histogram` and `bdev_get_histogram` as SPDK v25.09 answers them (the recorded
/// errors: -19 for an unknown bdev, -12 for a histogram that is not enabled).
fn histogram(state: &Mutex<State>, method: &str, params: Option<&Value>, id: &Value) -> Reply {
    let mut s = state.lock().unwrap();
    let name = params
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if !RECORDED_BDEVS.contains(&name.as_str()) && !s.extra_bdevs.contains(&name) {
        return Reply::Bytes(
            line(&recorded(
                "../spdk-extra/histogram/error__bdev_get_histogram_no_such_bdev.json",
                id,
            )),
            false,
        );
    }
    if method == "bdev_enable_histogram" {
        if params.and_then(|p| p.get("enable")) == Some(&json!(true)) {
            s.hist_enabled.insert(name);
        } else {
            s.hist_enabled.remove(&name);
        }
        return Reply::Bytes(
            line(&json!({"jsonrpc": "2.0", "id": id, "result": true})),
            false,
        );
    }
    if !s.hist_enabled.contains(&name) {
        return Reply::Bytes(
            line(&recorded(
                "../spdk-extra/histogram/error__bdev_get_histogram_not_enabled.json",
                id,
            )),
            false,
        );
    }
    let file = s
        .histograms
        .get_mut(&name)
        .and_then(next_file)
        .unwrap_or_else(|| {
            "../spdk-extra/histogram/bdev_get_histogram__Malloc0__before_io.json".into()
        });
    Reply::Bytes(line(&recorded(&file, id)), false)
}

fn line(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec(v).unwrap();
    b.push(b'\n');
    b
}

async fn serve_socket<S>(mut stream: S, state: Arc<Mutex<State>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        // SPDK parses the byte stream: handle every complete value, keep a partial one.
        let mut consumed = 0;
        let mut requests = Vec::new();
        {
            let mut it = serde_json::Deserializer::from_slice(&buf).into_iter::<Value>();
            loop {
                match it.next() {
                    Some(Ok(v)) => {
                        requests.push(v);
                        consumed = it.byte_offset();
                    }
                    Some(Err(e)) if e.is_eof() => break,
                    Some(Err(_)) => return, // invalid JSON: close without an answer
                    None => break,
                }
            }
        }
        buf.drain(..consumed);
        for req in requests {
            match answer(&state, &req) {
                Reply::Bytes(b, close) => {
                    if stream.write_all(&b).await.is_err() || close {
                        return;
                    }
                }
                Reply::Stall(d) => tokio::time::sleep(d).await,
            }
        }
    }
}

async fn serve_proxy<S>(mut stream: S, state: Arc<Mutex<State>>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let header = |name: &str| {
        head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    };
    let len: usize = header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let (user, password) = state.lock().unwrap().credentials.clone();
    let want = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    if header("authorization").as_deref() != Some(want.as_str()) {
        // Counted as `unauthorized:<method>`, to see what a client tries without credentials.
        if let Some(m) = serde_json::from_slice::<Value>(&buf[head_end..head_end + len])
            .ok()
            .and_then(|v| v.get("method").and_then(Value::as_str).map(str::to_owned))
        {
            *state
                .lock()
                .unwrap()
                .calls
                .entry(format!("unauthorized:{m}"))
                .or_default() += 1;
        }
        let _ = stream
            .write_all(b"HTTP/1.0 401 Unauthorized\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nWWW-Authenticate: text/html\r\nContent-type: text/html\r\n\r\n")
            .await;
        return;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&buf[head_end..head_end + len]) else {
        let _ = stream
            .write_all(b"HTTP/1.0 500 Internal Server Error\r\nContent-type: text/html\r\n\r\n")
            .await;
        return;
    };
    let head =
        b"HTTP/1.0 200 OK\r\nServer: BaseHTTP/0.6 Python/3.11.7\r\nContent-type: text/html\r\n\r\n";
    match answer(&state, &req) {
        Reply::Bytes(b, _) => {
            let _ = stream.write_all(head).await;
            let _ = stream.write_all(&b).await;
            let _ = stream.shutdown().await;
        }
        Reply::Stall(d) => tokio::time::sleep(d).await,
    }
}
