//! Classification of export failures per the OTLP specification ("Failures", "Throttling"):
//! which gRPC codes and HTTP statuses may be retried.

use std::time::Duration;

use strata_pipelines::ConsumeError;

/// gRPC codes the OTLP spec lists as retryable: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED
/// (treated as retryable: the peer is overloaded), ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS.
pub fn grpc_retryable(code: tonic::Code) -> bool {
    use tonic::Code::*;
    matches!(
        code,
        Cancelled
            | DeadlineExceeded
            | ResourceExhausted
            | Aborted
            | OutOfRange
            | Unavailable
            | DataLoss
    )
}

/// Maps a gRPC status from a peer to a [`ConsumeError`].
pub fn from_grpc_status(endpoint: &str, status: &tonic::Status) -> ConsumeError {
    let msg = format!(
        "export to {endpoint} failed: {:?}: {}",
        status.code(),
        status.message()
    );
    if grpc_retryable(status.code()) {
        ConsumeError::retryable(msg)
    } else {
        ConsumeError::permanent(msg)
    }
}

/// HTTP statuses the OTLP/HTTP spec lists as retryable: 429, 502, 503, 504.
pub fn http_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is not used by OTLP peers
/// and is ignored).
pub fn retry_after(value: Option<&http::HeaderValue>) -> Option<Duration> {
    value?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_per_spec() {
        assert!(grpc_retryable(tonic::Code::Unavailable));
        assert!(!grpc_retryable(tonic::Code::InvalidArgument));
        assert!(http_retryable(503) && http_retryable(429));
        assert!(!http_retryable(400) && !http_retryable(500));
        assert_eq!(
            retry_after(Some(&http::HeaderValue::from_static("7"))),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(None), None);
    }
}
