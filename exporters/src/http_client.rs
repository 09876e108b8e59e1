//! What the HTTP exporters (`otlp_http`, `zipkin`) share: the client and the classification
//! of an unsuccessful response.

use std::collections::BTreeMap;
use std::time::Duration;

use strata_pipelines::ConsumeError;
use strata_pipelines::tls::TlsClientConfig;

use crate::classify::{http_retryable, retry_after};

/// A `reqwest` client sending `headers` with every request, with a whole-request `timeout`
/// and the client TLS settings (rustls).
///
/// # Errors
/// An invalid header name or value, unusable TLS files.
pub fn client(
    headers: &BTreeMap<String, String>,
    timeout: Duration,
    tls: &TlsClientConfig,
) -> Result<reqwest::Client, String> {
    let mut map = http::HeaderMap::new();
    for (k, v) in headers {
        let name = http::HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|e| format!("header {k}: {e}"))?;
        let val = http::HeaderValue::from_str(v).map_err(|e| format!("header {k}: {e}"))?;
        map.insert(name, val);
    }
    reqwest::Client::builder()
        .default_headers(map)
        .timeout(timeout)
        .tls_backend_preconfigured(tls.rustls_config()?)
        .build()
        .map_err(|e| e.to_string())
}

/// The error for a non-2xx answer from `url`: retryable for 429, 502, 503, 504 (waiting at
/// least the peer's `Retry-After`), permanent otherwise. The message quotes up to 512 bytes of
/// the body.
pub fn failure(
    url: &str,
    status: http::StatusCode,
    retry_after_header: Option<&http::HeaderValue>,
    body: &[u8],
) -> ConsumeError {
    let msg = format!(
        "export to {url} failed: HTTP {}: {}",
        status.as_u16(),
        String::from_utf8_lossy(&body[..body.len().min(512)])
    );
    if http_retryable(status.as_u16()) {
        ConsumeError::Retryable {
            error: msg.into(),
            retry_after: retry_after(retry_after_header),
        }
    } else {
        ConsumeError::permanent(msg)
    }
}

/// `raw` gzip-compressed (fast level).
///
/// # Errors
/// Only if the in-memory writer fails.
pub fn gzip(raw: &[u8]) -> std::io::Result<Vec<u8>> {
    gzip_level(raw, 1)
}

/// `raw` gzip-compressed at `level` (1 fastest to 9 smallest; clamped to that range).
///
/// # Errors
/// What the encoder reports (writing to memory does not fail in practice).
pub fn gzip_level(raw: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    use std::io::Write as _;
    let level = flate2::Compression::new(level.clamp(1, 9) as u32);
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
    enc.write_all(raw)?;
    enc.finish()
}
