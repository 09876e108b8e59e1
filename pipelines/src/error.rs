//! Errors of the pipeline core. Each enum lists only what its operation can return.

use std::time::Duration;

use crate::id::ComponentId;
use crate::signal::Signal;

/// A boxed error cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a consumer did not accept data. Receivers map it onto their protocol
/// (OTLP spec, "Failures"): `Permanent` → gRPC `INVALID_ARGUMENT` / HTTP 400,
/// `Retryable` → gRPC `UNAVAILABLE` / HTTP 503 with `Retry-After`.
#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    /// The data can never be accepted (malformed, rejected by the peer as invalid); the sender
    /// must not retry it.
    #[error("permanent error: {0}")]
    Permanent(#[source] BoxError),
    /// The data may be accepted later (peer down, queue full, shutting down); the sender should
    /// retry, after `retry_after` when the peer said so.
    #[error("retryable error: {error}")]
    Retryable {
        /// The cause.
        #[source]
        error: BoxError,
        /// Delay the downstream peer asked for (HTTP `Retry-After`, gRPC `RetryInfo`), if any.
        retry_after: Option<Duration>,
    },
}

impl ConsumeError {
    /// A permanent error from anything displayable.
    pub fn permanent(e: impl Into<BoxError>) -> Self {
        ConsumeError::Permanent(e.into())
    }

    /// A retryable error with no retry delay hint.
    pub fn retryable(e: impl Into<BoxError>) -> Self {
        ConsumeError::Retryable {
            error: e.into(),
            retry_after: None,
        }
    }

    /// The same kind of error with the same message and retry delay, for another caller whose
    /// data was in the same failed request (errors are not `Clone`: causes are boxed).
    pub fn share(&self) -> ConsumeError {
        match self {
            ConsumeError::Permanent(e) => ConsumeError::permanent(e.to_string()),
            ConsumeError::Retryable { error, retry_after } => ConsumeError::Retryable {
                error: error.to_string().into(),
                retry_after: *retry_after,
            },
        }
    }

    /// True for [`ConsumeError::Retryable`].
    pub fn is_retryable(&self) -> bool {
        matches!(self, ConsumeError::Retryable { .. })
    }

    /// The cause, without the permanent/retryable prefix.
    pub fn cause(&self) -> &BoxError {
        match self {
            ConsumeError::Permanent(e) => e,
            ConsumeError::Retryable { error, .. } => error,
        }
    }
}

/// A component could not be created from its config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The component type does not support the pipeline's signal.
    #[error("{id}: does not support the {signal} signal")]
    SignalNotSupported {
        /// The component.
        id: ComponentId,
        /// The signal asked for.
        signal: Signal,
    },
    /// The component's config is invalid.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    /// Anything else that stopped creation (a TLS file that cannot be read, say).
    #[error("{id}: {source}")]
    Other {
        /// The component.
        id: ComponentId,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

/// A component could not start (a port already bound, an unreadable file).
#[derive(Debug, thiserror::Error)]
#[error("{id}: failed to start: {source}")]
pub struct StartError {
    /// The component.
    pub id: ComponentId,
    /// The cause.
    #[source]
    pub source: BoxError,
}

/// A component did not shut down cleanly (deadline passed, flush failed).
#[derive(Debug, thiserror::Error)]
#[error("{id}: shutdown: {source}")]
pub struct ShutdownError {
    /// The component.
    pub id: ComponentId,
    /// The cause.
    #[source]
    pub source: BoxError,
}
