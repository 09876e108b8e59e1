//! `strata-loadgen`: drives an OTLP endpoint with traces, metrics or logs over gRPC or HTTP at a
//! fixed rate or as fast as it can, and reports items/s, errors by status and latency.
//!
//! ```sh
//! strata-loadgen --endpoint 127.0.0.1:4317 --signal traces --rate 10000 --duration 30s \
//!     --items-per-request 100 --attributes 10 --value-size 20 --concurrency 1
//! ```
//!
//! Requests are pre-encoded ([`strata_loadgen::Template`]); each trace request gets fresh
//! trace ids. The summary goes to stdout (one JSON object with `--json`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BufMut;
use clap::{Parser, ValueEnum};
use strata_loadgen::{RawDec, Shape, Template, grpc_path, http_path};
use strata_pipelines::Signal;
use tokio::sync::Mutex;

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Protocol {
    Grpc,
    Http,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
enum SignalArg {
    Traces,
    Metrics,
    Logs,
}

/// OTLP load generator.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// host:port of the OTLP receiver.
    #[arg(long, default_value = "127.0.0.1:4317")]
    endpoint: String,
    /// OTLP transport.
    #[arg(long, value_enum, default_value = "grpc")]
    protocol: Protocol,
    /// Signal to send.
    #[arg(long, value_enum, default_value = "traces")]
    signal: SignalArg,
    /// Items per second in total; 0 sends as fast as the endpoint answers.
    #[arg(long, default_value_t = 10_000)]
    rate: u64,
    /// How long to send (humantime: 30s, 2m).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    duration: Duration,
    /// Concurrent senders, each with its own connection.
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Items (spans, data points, log records) per request.
    #[arg(long, default_value_t = 100)]
    items_per_request: usize,
    /// Attributes per item.
    #[arg(long, default_value_t = 10)]
    attributes: usize,
    /// Bytes per attribute value.
    #[arg(long, default_value_t = 20)]
    value_size: usize,
    /// Request compression.
    #[arg(long, value_enum, default_value = "none")]
    compression: Compression,
    /// Print the summary as one JSON object.
    #[arg(long)]
    json: bool,
    /// TLS (gRPC): the CA that signed the server's certificate (the endpoint is then
    /// `https://`, verified as `localhost`).
    #[arg(long)]
    ca_file: Option<String>,
    /// mTLS: the client certificate (PEM), with `--key-file`.
    #[arg(long)]
    cert_file: Option<String>,
    /// mTLS: the client key (PEM).
    #[arg(long)]
    key_file: Option<String>,
    /// A bearer token sent as `authorization: Bearer <token>` with every request.
    #[arg(long)]
    token: Option<String>,
    /// Open a new connection (and TLS handshake) for every request: measures handshakes.
    #[arg(long)]
    reconnect: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}"))?;
    Ok(match unit {
        "ms" => Duration::from_millis(n),
        "s" | "" => Duration::from_secs(n),
        "m" => Duration::from_secs(n * 60),
        _ => return Err(format!("invalid duration unit in {s:?} (ms, s, m)")),
    })
}

#[derive(Default)]
struct Stats {
    ok_requests: u64,
    ok_items: u64,
    errors: BTreeMap<String, u64>,
    latencies_us: Vec<u64>,
}

enum Client {
    /// The channel, gzip, and the `authorization` value to send.
    Grpc(tonic::transport::Channel, bool, Option<http::HeaderValue>),
    Http(reqwest::Client, String),
}

/// One unary call with `message` as the request, framed the way grpc-go (the Collector's load
/// generator, Go SDKs) frames it: prefix and message in one DATA frame that also ends the
/// stream (tonic's client sends a separate empty DATA frame for `END_STREAM`).
async fn grpc_unary(
    ch: &mut tonic::transport::Channel,
    path: &'static str,
    message: bytes::Bytes,
    gzip: bool,
    authorization: Option<&http::HeaderValue>,
) -> Result<(), tonic::Status> {
    use tonic::client::GrpcService;
    let message = if gzip {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&message)
            .and_then(|_| enc.finish())
            .map(bytes::Bytes::from)
            .map_err(|e| tonic::Status::internal(e.to_string()))?
    } else {
        message
    };
    let mut framed = bytes::BytesMut::with_capacity(5 + message.len());
    framed.put_u8(u8::from(gzip));
    framed.put_u32(message.len() as u32);
    framed.put_slice(&message);
    let mut req = http::Request::builder()
        .method(http::Method::POST)
        .version(http::Version::HTTP_2)
        .uri(path)
        .header("te", "trailers")
        .header("content-type", "application/grpc")
        .body(tonic::body::Body::new(http_body_util::Full::new(
            framed.freeze(),
        )))
        .map_err(|e| tonic::Status::internal(e.to_string()))?;
    if gzip {
        req.headers_mut()
            .insert("grpc-encoding", http::HeaderValue::from_static("gzip"));
    }
    if let Some(a) = authorization {
        req.headers_mut().insert("authorization", a.clone());
    }
    std::future::poll_fn(|cx| GrpcService::poll_ready(ch, cx))
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let resp = GrpcService::call(ch, req)
        .await
        .map_err(|e| tonic::Status::from_error(e.into()))?;
    if let Some(s) = tonic::Status::from_header_map(resp.headers())
        && s.code() != tonic::Code::Ok
    {
        return Err(s);
    }
    let status = resp.status();
    let mut body =
        tonic::codec::Streaming::new_response(RawDec, resp.into_body(), status, None, None);
    body.message().await?;
    body.trailers().await?;
    Ok(())
}

impl Client {
    async fn connect(args: &Args, signal: Signal) -> Result<Client, String> {
        match args.protocol {
            Protocol::Grpc => {
                let scheme = if args.ca_file.is_some() {
                    "https"
                } else {
                    "http"
                };
                let mut ep = tonic::transport::Endpoint::from_shared(format!(
                    "{scheme}://{}",
                    args.endpoint
                ))
                .map_err(|e| e.to_string())?;
                if let Some(ca) = &args.ca_file {
                    let read = |f: &str| std::fs::read(f).map_err(|e| format!("{f}: {e}"));
                    let mut tls = tonic::transport::ClientTlsConfig::new()
                        .ca_certificate(tonic::transport::Certificate::from_pem(read(ca)?))
                        .domain_name("localhost");
                    if let (Some(c), Some(k)) = (&args.cert_file, &args.key_file) {
                        tls =
                            tls.identity(tonic::transport::Identity::from_pem(read(c)?, read(k)?));
                    }
                    ep = ep.tls_config(tls).map_err(|e| e.to_string())?;
                }
                let ch = ep
                    .connect()
                    .await
                    .map_err(|e| format!("cannot connect to {}: {e}", args.endpoint))?;
                let token = match &args.token {
                    Some(t) => Some(
                        http::HeaderValue::from_str(&format!("Bearer {t}"))
                            .map_err(|e| e.to_string())?,
                    ),
                    None => None,
                };
                Ok(Client::Grpc(
                    ch,
                    args.compression == Compression::Gzip,
                    token,
                ))
            }
            Protocol::Http => Ok(Client::Http(
                reqwest::Client::builder()
                    .build()
                    .map_err(|e| e.to_string())?,
                format!("http://{}{}", args.endpoint, http_path(signal)),
            )),
        }
    }

    /// Sends one request; `Err` is the status to count.
    async fn send(&mut self, signal: Signal, body: bytes::Bytes, gzip: bool) -> Result<(), String> {
        match self {
            Client::Grpc(ch, gzip, token) => {
                grpc_unary(ch, grpc_path(signal), body, *gzip, token.as_ref())
                    .await
                    .map_err(|s| format!("grpc {:?}", s.code()))
            }
            Client::Http(c, url) => {
                let mut req = c
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf");
                let body = if gzip {
                    use std::io::Write;
                    let mut enc =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                    enc.write_all(&body).map_err(|e| e.to_string())?;
                    req = req.header("content-encoding", "gzip");
                    bytes::Bytes::from(enc.finish().map_err(|e| e.to_string())?)
                } else {
                    body
                };
                let resp = req
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| format!("transport: {e}"))?;
                let status = resp.status();
                let _ = resp.bytes().await;
                if status.is_success() {
                    Ok(())
                } else {
                    Err(format!("http {}", status.as_u16()))
                }
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Arc::new(Args::parse());
    let _ = rustls::crypto::ring::default_provider().install_default();
    let signal = match args.signal {
        SignalArg::Traces => Signal::Traces,
        SignalArg::Metrics => Signal::Metrics,
        SignalArg::Logs => Signal::Logs,
    };
    let template = Arc::new(Template::new(
        signal,
        Shape {
            items: args.items_per_request,
            attributes: args.attributes,
            value_size: args.value_size,
        },
    ));
    let run = std::process::id() as u64 ^ (Instant::now().elapsed().as_nanos() as u64);
    let stats = Arc::new(Mutex::new(Stats::default()));
    let start = Instant::now();
    let deadline = start + args.duration;
    // Each sender's share of the rate, as an interval between its requests.
    let interval = (args.rate > 0).then(|| {
        Duration::from_secs_f64(
            args.concurrency as f64 * args.items_per_request as f64 / args.rate as f64,
        )
    });
    let mut workers = Vec::new();
    for w in 0..args.concurrency {
        let (args, template, stats) = (args.clone(), template.clone(), stats.clone());
        workers.push(tokio::spawn(async move {
            let mut client = match Client::connect(&args, signal).await {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("strata-loadgen: {e}");
                    std::process::exit(2);
                }
            };
            let mut tick = interval.map(|i| {
                let mut t = tokio::time::interval_at(
                    tokio::time::Instant::now() + i.mul_f64(w as f64 / args.concurrency as f64),
                    i,
                );
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            let mut seq = (w as u64) << 40;
            let mut local = Stats::default();
            while Instant::now() < deadline {
                if let Some(t) = &mut tick {
                    t.tick().await;
                    if Instant::now() >= deadline {
                        break;
                    }
                }
                let body = template.fresh(run, seq);
                seq += template.items as u64;
                let t0 = Instant::now();
                if args.reconnect {
                    match Client::connect(&args, signal).await {
                        Ok(c) => client = c,
                        Err(e) => {
                            *local.errors.entry(e).or_default() += 1;
                            continue;
                        }
                    }
                }
                let r = client
                    .send(signal, body, args.compression == Compression::Gzip)
                    .await;
                local.latencies_us.push(t0.elapsed().as_micros() as u64);
                match r {
                    Ok(()) => {
                        local.ok_requests += 1;
                        local.ok_items += template.items as u64;
                    }
                    Err(status) => *local.errors.entry(status).or_default() += 1,
                }
            }
            let mut s = stats.lock().await;
            s.ok_requests += local.ok_requests;
            s.ok_items += local.ok_items;
            for (k, v) in local.errors {
                *s.errors.entry(k).or_default() += v;
            }
            s.latencies_us.extend(local.latencies_us);
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let mut s = stats.lock().await;
    s.latencies_us.sort_unstable();
    let summary = serde_json::json!({
        "signal": signal.as_str(),
        "protocol": format!("{:?}", args.protocol).to_lowercase(),
        "compression": format!("{:?}", args.compression).to_lowercase(),
        "seconds": elapsed,
        "requests_ok": s.ok_requests,
        "items_ok": s.ok_items,
        "items_per_second": s.ok_items as f64 / elapsed,
        "errors": s.errors,
        "latency_ms": {
            "p50": percentile(&s.latencies_us, 0.50),
            "p99": percentile(&s.latencies_us, 0.99),
            "max": percentile(&s.latencies_us, 1.0),
        },
        "request_bytes": template.bytes.len(),
    });
    if args.json {
        println!("{summary}");
    } else {
        println!(
            "{} {} items in {:.1} s: {:.0} items/s acknowledged; errors {:?}; latency p50 {:.2} ms, p99 {:.2} ms",
            s.ok_items,
            signal.item_name(),
            elapsed,
            s.ok_items as f64 / elapsed,
            s.errors,
            percentile(&s.latencies_us, 0.50),
            percentile(&s.latencies_us, 0.99),
        );
    }
}
