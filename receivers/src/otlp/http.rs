//! OTLP/HTTP server (axum): `POST /v1/{traces,metrics,logs}`.

use std::io::Read as _;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use serde::Serialize;
use strata_pipelines::{
    Accepted, BoxConsumer, ConsumeError, Logs, Metrics, ReceiverObs, SignalData, Traces,
    wire::Encoded,
};

use super::receiver::{OtlpResponse, Refusal, deliver, deliver_encoded, door};

/// Seconds clients are asked to wait after a retryable refusal.
const RETRY_AFTER_SECS: &str = "5";

/// `google.rpc.Status`, the error body the OTLP/HTTP spec prescribes.
#[derive(Clone, PartialEq, prost::Message, Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// What the HTTP server shares between requests.
pub(super) struct HttpState {
    pub traces: Option<BoxConsumer<Traces>>,
    pub metrics: Option<BoxConsumer<Metrics>>,
    pub logs: Option<BoxConsumer<Logs>>,
    pub obs: ReceiverObs,
    pub max_bytes: usize,
    /// Authentication and the client context, checked before the body is read.
    pub gate: crate::server::Gate,
    /// `Content-Encoding`s accepted besides identity (`compression_algorithms`).
    pub encodings: Vec<String>,
    /// The traces, metrics and logs paths, for the 404 message.
    pub paths: Vec<String>,
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Encoding {
    Proto,
    Json,
}

fn error(enc: Encoding, status: StatusCode, grpc_code: i32, message: String) -> Response {
    let body = RpcStatus {
        code: grpc_code,
        message,
    };
    let (ct, bytes) = match enc {
        Encoding::Proto => ("application/x-protobuf", body.encode_to_vec()),
        Encoding::Json => (
            "application/json",
            serde_json::to_vec(&body).unwrap_or_default(),
        ),
    };
    let mut resp = (status, [(header::CONTENT_TYPE, ct)], bytes).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
    }
    resp
}

fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let mime = ct.split(';').next()?.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Proto),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// Decompresses `body` per `Content-Encoding`, refusing output over `max` bytes.
pub(crate) fn decompress(
    headers: &HeaderMap,
    body: Bytes,
    max: usize,
) -> Result<Bytes, (StatusCode, String)> {
    let ce = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    decompress_as(&ce, body, max)
}

/// The `Content-Encoding`s the OTLP/HTTP server decodes: the Collector's confighttp set
/// (`config/confighttp/compression.go`). `deflate` is read as zlib, as the Collector reads it;
/// `snappy` is the block format, or the framed format when the body starts with the framing
/// header (the Collector's auto-detection); `lz4` is the LZ4 frame format.
pub const ENCODINGS: [&str; 7] = [
    "gzip",
    "zstd",
    "zlib",
    "deflate",
    "snappy",
    "x-snappy-framed",
    "lz4",
];

/// The first bytes of every snappy framed stream (the stream identifier chunk).
const SNAPPY_FRAMING_HEADER: [u8; 10] =
    [0xff, 0x06, 0x00, 0x00, b's', b'N', b'a', b'P', b'p', b'Y'];

/// Decompresses `body` encoded as `ce` (one of [`ENCODINGS`], `identity` or empty), refusing
/// output over `max` bytes.
///
/// # Errors
/// 413 over the limit; 400 for an unknown encoding or a body that does not decompress.
pub fn decompress_as(ce: &str, body: Bytes, max: usize) -> Result<Bytes, (StatusCode, String)> {
    let mut out = Vec::new();
    let limit = max as u64 + 1;
    let res = match ce {
        "" | "identity" => return Ok(body),
        "gzip" => flate2::read::MultiGzDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        "zstd" => zstd::stream::read::Decoder::new(&body[..])
            .and_then(|d| d.take(limit).read_to_end(&mut out)),
        "zlib" | "deflate" => flate2::read::ZlibDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        "x-snappy-framed" => snap::read::FrameDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        "snappy" if body.starts_with(&SNAPPY_FRAMING_HEADER) => {
            snap::read::FrameDecoder::new(&body[..])
                .take(limit)
                .read_to_end(&mut out)
        }
        "snappy" => {
            // The block format states its decoded length first: checked before decoding.
            match snap::raw::decompress_len(&body) {
                Ok(n) if n > max => {
                    return Err((
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("decompressed body exceeds the limit of {max} bytes"),
                    ));
                }
                Ok(_) => snap::raw::Decoder::new()
                    .decompress_vec(&body)
                    .map(|v| {
                        out = v;
                        out.len()
                    })
                    .map_err(std::io::Error::other),
                Err(e) => Err(std::io::Error::other(e)),
            }
        }
        "lz4" => lz4_flex::frame::FrameDecoder::new(&body[..])
            .take(limit)
            .read_to_end(&mut out),
        other => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!(
                    "unsupported Content-Encoding {other:?} (supported: {}, identity)",
                    ENCODINGS.join(", ")
                ),
            ));
        }
    };
    match res {
        Err(e) => Err((StatusCode::BAD_REQUEST, format!("invalid {ce} body: {e}"))),
        Ok(_) if out.len() > max => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("decompressed body exceeds the limit of {max} bytes"),
        )),
        Ok(_) => Ok(Bytes::from(out)),
    }
}

/// Reads a request body of at most `max` bytes and decompresses it per `Content-Encoding`
/// (again at most `max` bytes).
///
/// # Errors
/// `(status, reason, message)`: 413 and `too_large` over the limit, 400 and `decode` for an
/// unreadable or undecompressable body; `reason` is the `refused_requests` label.
pub(crate) async fn read_body(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, (StatusCode, &'static str, String)> {
    let raw = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(e) => {
            let cause = e.into_inner();
            let mut source: Option<&(dyn std::error::Error + 'static)> = Some(cause.as_ref());
            let mut too_large = false;
            while let Some(err) = source {
                too_large |= err.is::<http_body_util::LengthLimitError>();
                source = err.source();
            }
            return Err(if too_large {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("request body exceeds the limit of {max} bytes"),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    "decode",
                    format!("cannot read body: {cause}"),
                )
            });
        }
    };
    decompress(headers, raw, max).map_err(|(status, msg)| {
        let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "decode"
        };
        (status, reason, msg)
    })
}

/// A signal the HTTP server handles: decodable from protobuf or OTLP/JSON, with its response.
pub(super) trait HttpSignal:
    SignalData + strata_translators::otlp_json::OtlpMessage
{
    /// The success response, with the partial success when items were dropped.
    fn response(enc: Encoding, accepted: &Accepted) -> (&'static str, Vec<u8>);
    /// The consumer for this signal.
    fn next(state: &HttpState) -> &Option<BoxConsumer<Self>>;
}

macro_rules! http_signal {
    ($t:ty, $resp:ty, $field:ident) => {
        impl HttpSignal for $t {
            fn response(enc: Encoding, accepted: &Accepted) -> (&'static str, Vec<u8>) {
                match enc {
                    Encoding::Proto => (
                        "application/x-protobuf",
                        <$resp as OtlpResponse>::from_accepted(accepted).encode_to_vec(),
                    ),
                    Encoding::Json => (
                        "application/json",
                        strata_translators::otlp_json::encode(
                            &<$resp as OtlpResponse>::from_accepted(accepted),
                        ),
                    ),
                }
            }
            fn next(state: &HttpState) -> &Option<BoxConsumer<Self>> {
                &state.$field
            }
        }
    };
}
http_signal!(Traces, ExportTraceServiceResponse, traces);
http_signal!(Metrics, ExportMetricsServiceResponse, metrics);
http_signal!(Logs, ExportLogsServiceResponse, logs);

/// The 401 of a refused credential, with its `WWW-Authenticate` challenge (RFC 9110 §11.6.1).
pub(crate) fn unauthorized(u: crate::server::Unauthenticated) -> Response {
    let mut r = error(Encoding::Json, StatusCode::UNAUTHORIZED, 16, u.message);
    if let Ok(v) = HeaderValue::from_str(&u.challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// The client context of `parts`' request, or the 401 refusing it.
pub(crate) fn authenticate(
    gate: &crate::server::Gate,
    parts: &http::request::Parts,
) -> Result<Arc<strata_pipelines::auth::ClientContext>, Box<Response>> {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<strata_pipelines::net::PeerInfo>>()
        .map(|c| &c.0);
    gate.check(&parts.headers, peer)
        .map_err(|u| Box::new(unauthorized(u)))
}

async fn handle<T: HttpSignal>(state: Arc<HttpState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let ctx = match authenticate(&state.gate, &parts) {
        Ok(c) => c,
        Err(r) => return *r,
    };
    strata_pipelines::auth::ClientContext::scope(
        ctx,
        handle_authenticated::<T>(&state, parts, body),
    )
    .await
}

async fn handle_authenticated<T: HttpSignal>(
    state: &HttpState,
    parts: http::request::Parts,
    body: Body,
) -> Response {
    let obs = &state.obs;
    let Some(enc) = encoding_of(&parts.headers) else {
        obs.refused_request("content_type");
        let got = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none")
            .to_owned();
        return error(
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            3,
            format!(
                "unsupported content type {got:?}: use application/x-protobuf or application/json"
            ),
        );
    };
    if strata_pipelines::memory::global().under_pressure() {
        obs.refused_request("memory_limit");
        return error(
            enc,
            StatusCode::SERVICE_UNAVAILABLE,
            14,
            "data refused: memory usage is above the memory_limiter's soft limit; retry later"
                .into(),
        );
    }
    if let Err(Refusal::Consume(e)) = door(T::next(state), obs) {
        return error(enc, StatusCode::SERVICE_UNAVAILABLE, 14, e.to_string());
    }
    let ce = parts
        .headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if !ce.is_empty() && ce != "identity" && !state.encodings.contains(&ce) {
        obs.refused_request("decode");
        return error(
            enc,
            StatusCode::BAD_REQUEST,
            3,
            format!(
                "Content-Encoding {ce:?} is not accepted here (compression_algorithms: {})",
                state.encodings.join(", ")
            ),
        );
    }
    let body = match read_body(&parts.headers, body, state.max_bytes).await {
        Ok(b) => b,
        Err((status, reason, msg)) => {
            obs.refused_request(reason);
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
                8
            } else {
                3
            };
            return error(enc, status, code, msg);
        }
    };
    // Protobuf stays encoded (checked against the OTLP schema); JSON is decoded.
    let refused = |msg: String| {
        obs.refused_request("decode");
        error(enc, StatusCode::BAD_REQUEST, 3, msg)
    };
    let delivered = match enc {
        Encoding::Proto => match Encoded::<T>::new(body) {
            Ok(d) => deliver_encoded(T::next(state), obs, d).await,
            Err(e) => return refused(format!("invalid protobuf payload: {e}")),
        },
        Encoding::Json => match strata_translators::otlp_json::decode::<T>(&body) {
            Ok(d) => deliver(T::next(state), obs, d).await,
            Err(e) => return refused(format!("invalid OTLP/JSON payload: {e}")),
        },
    };
    match delivered {
        Ok(accepted) => {
            let (ct, bytes) = T::response(enc, &accepted);
            (StatusCode::OK, [(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
        Err(Refusal::NoPipeline(signal)) => error(
            enc,
            StatusCode::NOT_FOUND,
            12,
            format!("this receiver is not in a {signal} pipeline"),
        ),
        Err(Refusal::Consume(ConsumeError::Permanent(e))) => {
            error(enc, StatusCode::BAD_REQUEST, 3, e.to_string())
        }
        Err(Refusal::Consume(ConsumeError::Retryable { error: e, .. })) => {
            error(enc, StatusCode::SERVICE_UNAVAILABLE, 14, e.to_string())
        }
    }
}

async fn not_found(State(state): State<Arc<HttpState>>, req: Request<Body>) -> Response {
    state.obs.refused_request("not_found");
    error(
        Encoding::Json,
        StatusCode::NOT_FOUND,
        5,
        format!(
            "unknown path {:?}: this receiver's OTLP/HTTP paths are {}",
            req.uri().path(),
            state.paths.join(", ")
        ),
    )
}

async fn method_not_allowed(State(state): State<Arc<HttpState>>, req: Request<Body>) -> Response {
    state.obs.refused_request("method");
    let mut r = error(
        Encoding::Json,
        StatusCode::METHOD_NOT_ALLOWED,
        12,
        format!("method {} not allowed: use POST", req.method()),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("POST"));
    r
}

/// The CORS layer for `c` (the Collector's semantics): matching origins get
/// `Access-Control-Allow-Origin`, preflights (`OPTIONS`) are answered with the allowed method
/// (`POST`) and headers and `max_age`.
pub(super) fn cors(c: &super::CorsConfig) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};
    let allowed = c.clone();
    let mut layer = CorsLayer::new()
        .allow_origin(AllowOrigin::predicate(move |origin, _| {
            origin.to_str().is_ok_and(|o| allowed.allows(o))
        }))
        .allow_methods([http::Method::POST]);
    layer = if c.allowed_headers.iter().any(|h| h == "*") {
        layer.allow_headers(AllowHeaders::mirror_request())
    } else {
        let mut names: Vec<http::HeaderName> = c
            .allowed_headers
            .iter()
            .filter_map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
            .collect();
        names.extend([
            header::CONTENT_TYPE,
            header::CONTENT_ENCODING,
            header::ACCEPT,
            header::ACCEPT_ENCODING,
        ]);
        layer.allow_headers(names)
    };
    if let Some(s) = c.max_age {
        layer = layer.max_age(std::time::Duration::from_secs(s));
    }
    let exposed: Vec<http::HeaderName> = c
        .exposed_headers
        .iter()
        .filter_map(|h| http::HeaderName::from_bytes(h.as_bytes()).ok())
        .collect();
    if !exposed.is_empty() {
        layer = layer.expose_headers(exposed);
    }
    layer
}

/// The router for the three OTLP/HTTP paths (`traces_url_path`, `metrics_url_path`,
/// `logs_url_path` of `paths`; default `/v1/{traces,metrics,logs}`).
pub(super) fn router(state: Arc<HttpState>, paths: [&str; 3]) -> axum::Router {
    use axum::routing::post;
    let s = state.clone();
    let t = state.clone();
    let m = state.clone();
    let l = state.clone();
    axum::Router::new()
        .route(
            paths[0],
            post(move |req: Request| handle::<Traces>(t.clone(), req)).fallback(method_not_allowed),
        )
        .route(
            paths[1],
            post(move |req: Request| handle::<Metrics>(m.clone(), req))
                .fallback(method_not_allowed),
        )
        .route(
            paths[2],
            post(move |req: Request| handle::<Logs>(l.clone(), req)).fallback(method_not_allowed),
        )
        .fallback(not_found)
        // Bodies are limited by `to_bytes` above; lift axum's default 2 MiB limit.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(s)
}

#[cfg(test)]
mod compression_tests {
    use super::*;

    /// Each of the Collector's encodings decodes, and each refuses output over the limit with
    /// 413 (snappy's block format before decoding, from its stated length).
    #[test]
    fn each_encoding_decodes_and_is_bounded() {
        use std::io::Write as _;
        let plain = vec![7u8; 10_000];
        let zlib = {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        let snappy = snap::raw::Encoder::new().compress_vec(&plain).unwrap();
        let framed = {
            let mut e = snap::write::FrameEncoder::new(Vec::new());
            e.write_all(&plain).unwrap();
            e.into_inner().unwrap()
        };
        let lz4 = {
            let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
            e.write_all(&plain).unwrap();
            e.finish().unwrap()
        };
        for (ce, body) in [
            ("zlib", &zlib),
            ("deflate", &zlib),
            ("snappy", &snappy),
            ("snappy", &framed),
            ("x-snappy-framed", &framed),
            ("lz4", &lz4),
        ] {
            let out = decompress_as(ce, Bytes::from(body.clone()), 10_000).unwrap();
            assert_eq!(&out[..], &plain[..], "{ce}");
            let (code, _) = decompress_as(ce, Bytes::from(body.clone()), 9_999).unwrap_err();
            assert_eq!(code, StatusCode::PAYLOAD_TOO_LARGE, "{ce}");
        }
        let (code, msg) =
            decompress_as("lz4", Bytes::from_static(b"not an lz4 frame at all"), 100).unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST, "{msg}");
        let (code, msg) = decompress_as("br", Bytes::from_static(b"x"), 100).unwrap_err();
        assert_eq!(code, StatusCode::BAD_REQUEST);
        assert!(msg.contains("lz4"), "{msg}");
    }
}
