//! Classification of export failures per the OTLP specification ("Failures", "Throttling"):
//! which gRPC codes and HTTP statuses may be retried.

use std::time::Duration;

use strata_pipelines::ConsumeError;

/// gRPC codes the OTLP spec lists as retryable: CANCELLED, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED
/// (only with `RetryInfo`; see [`from_grpc_status`]), ABORTED, OUT_OF_RANGE, UNAVAILABLE,
/// DATA_LOSS.
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

/// Maps a gRPC status to a [`ConsumeError`]. A retryable status carries the delay of its
/// `google.rpc.RetryInfo` detail, if any (OTLP spec, "OTLP/gRPC Throttling"). Per the spec,
/// `RESOURCE_EXHAUSTED` is retryable only when the peer sent `RetryInfo`. Statuses made locally
/// from transport errors (the request may never have been processed) are always retryable.
pub fn from_grpc_status(endpoint: &str, status: &tonic::Status) -> ConsumeError {
    use tonic_types::StatusExt as _;
    let msg = format!(
        "export to {endpoint} failed: {:?}: {}",
        status.code(),
        status.message()
    );
    let retry_after = status.get_details_retry_info().and_then(|r| r.retry_delay);
    // A status with a source was made here from a transport error (connection reset, h2
    // GOAWAY while the peer shuts down: tonic maps those to INTERNAL or UNKNOWN). The peer never
    // judged the data, so it is retried; only statuses the peer sent are classified by code.
    let from_transport = std::error::Error::source(status).is_some();
    let retryable = from_transport
        || match status.code() {
            tonic::Code::ResourceExhausted => retry_after.is_some(),
            c => grpc_retryable(c),
        };
    if retryable {
        ConsumeError::Retryable {
            error: msg.into(),
            retry_after,
        }
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

    #[test]
    fn grpc_retry_info_sets_the_delay() {
        use tonic_types::{ErrorDetails, StatusExt};
        let st = tonic::Status::with_error_details(
            tonic::Code::ResourceExhausted,
            "slow down",
            ErrorDetails::with_retry_info(Some(Duration::from_secs(3))),
        );
        match from_grpc_status("peer", &st) {
            ConsumeError::Retryable { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other}"),
        }
        // RESOURCE_EXHAUSTED without RetryInfo is permanent (OTLP spec).
        let st = tonic::Status::resource_exhausted("too big");
        assert!(!from_grpc_status("peer", &st).is_retryable());
        let st = tonic::Status::unavailable("down");
        assert!(from_grpc_status("peer", &st).is_retryable());
        // INTERNAL sent by the peer is permanent; INTERNAL made from a transport error is not.
        assert!(!from_grpc_status("peer", &tonic::Status::internal("bug")).is_retryable());
        let reset = tonic::Status::from_error(Box::new(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "connection reset",
        )));
        assert_eq!(reset.code(), tonic::Code::Unknown);
        assert!(from_grpc_status("peer", &reset).is_retryable());
    }
}
