//! The Collector's config keys that Strata's components accept without effect, shared by the
//! components that embed the same Collector config block (configtls, configgrpc, confighttp,
//! exporterhelper). Each entry says why the key has no effect; the graph removes it and warns
//! at start ([`crate::graph::apply_key_rules`]). The keys come from
//! `tests/fixtures/collector-keys.tsv` (the Collector's Go source, commit named there).
//!
//! Two kinds of reason:
//! - no counterpart: a Go runtime or grpc-go/net/http setting a Rust process has nothing for;
//! - not implemented yet: a setting Strata could honour and does not yet (each says what
//!   Strata does instead). These are listed in the component reference as pending.

use crate::factory::AcceptedKey;

/// Prefix `key` with `at` (`"tls"` under `"protocols::grpc"`).
fn at(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}::{key}")
    }
}

const NO_INSECURE_SUITES: &str = "rustls implements no insecure cipher suites (RC4, 3DES, CBC with SHA-1): there are none to include";
const NO_TPM: &str =
    "TPM-held keys (go-tpm) are not supported: Strata reads keys from key_file or key_pem";
const NO_MIDDLEWARE: &str =
    "Strata has no middleware extension types, so no middleware can be named here";
const LISTENER_DIALER: &str = "a listener dials nothing (the Collector ignores it for servers too)";
const TCP_ONLY: &str =
    "Strata listens on TCP (tcp, tcp4 and tcp6 alike); unix sockets are not supported";
const GRPC_BUFFERS: &str =
    "grpc-go's transport buffer sizes; Strata's HTTP/2 stack (hyper, h2) sizes its buffers itself";

/// `enabled` of the `configoptional` section at `prefix`; none for a component's top level
/// (`""`), which is not optional.
fn optional(prefix: &str) -> Vec<AcceptedKey> {
    if prefix.is_empty() {
        Vec::new()
    } else {
        vec![AcceptedKey::optional(prefix)]
    }
}

/// A configtls block at `prefix` (client or server): `enabled` of the optional section, and
/// the keys with no counterpart in rustls.
pub fn tls(prefix: &str) -> Vec<AcceptedKey> {
    let mut v = optional(prefix);
    v.extend([
        AcceptedKey::new(
            at(prefix, "include_insecure_cipher_suites"),
            NO_INSECURE_SUITES,
        ),
        AcceptedKey::new(at(prefix, "tpm"), NO_TPM),
    ]);
    v
}

/// A configgrpc `ServerConfig` at `prefix`.
pub fn grpc_server(prefix: &str) -> Vec<AcceptedKey> {
    let mut v = optional(prefix);
    v.extend([
        AcceptedKey::new(at(prefix, "transport"), TCP_ONLY),
        AcceptedKey::new(at(prefix, "dialer"), LISTENER_DIALER),
        AcceptedKey::new(at(prefix, "read_buffer_size"), GRPC_BUFFERS),
        AcceptedKey::new(at(prefix, "write_buffer_size"), GRPC_BUFFERS),
        AcceptedKey::optional(&at(prefix, "keepalive")),
        AcceptedKey::optional(&at(prefix, "keepalive::server_parameters")),
        AcceptedKey::new(
            at(prefix, "keepalive::server_parameters::max_connection_idle"),
            "not implemented yet: idle connections are kept until the client closes them or a keepalive ping fails",
        ),
        AcceptedKey::new(
            at(prefix, "keepalive::enforcement_policy"),
            "grpc-go's policing of client pings (GOAWAY on too many pings); Strata's HTTP/2 server (h2) answers every ping",
        ),
        AcceptedKey::optional(&at(prefix, "auth")),
        AcceptedKey::new(at(prefix, "middlewares"), NO_MIDDLEWARE),
    ]);
    v.extend(tls(&at(prefix, "tls")));
    v
}

/// A confighttp `ServerConfig` at `prefix` (`""`: the component's top level, as zpages).
pub fn http_server(prefix: &str) -> Vec<AcceptedKey> {
    let mut v = optional(prefix);
    v.extend([
        AcceptedKey::new(at(prefix, "transport"), TCP_ONLY),
        AcceptedKey::new(at(prefix, "dialer"), LISTENER_DIALER),
        AcceptedKey::optional(&at(prefix, "cors")),
        AcceptedKey::optional(&at(prefix, "auth")),
        AcceptedKey::new(
            at(prefix, "auth::request_params"),
            "not implemented yet: Strata's authenticators read request headers, not query parameters",
        ),
        AcceptedKey::new(
            at(prefix, "read_timeout"),
            "not implemented yet: a request body is bounded by max_request_body_size, and an unread one is drained for at most 10 s",
        ),
        AcceptedKey::new(
            at(prefix, "read_header_timeout"),
            "not implemented yet: Strata's HTTP server (hyper) waits for request headers without a deadline",
        ),
        AcceptedKey::new(
            at(prefix, "write_timeout"),
            "not implemented yet: responses are small and written at once",
        ),
        AcceptedKey::new(
            at(prefix, "idle_timeout"),
            "not implemented yet: idle keep-alive connections stay open until the client closes them",
        ),
        AcceptedKey::new(
            at(prefix, "keep_alives_enabled"),
            "not implemented yet: HTTP/1.1 keep-alive is always on",
        ),
        AcceptedKey::new(at(prefix, "middlewares"), NO_MIDDLEWARE),
    ]);
    v.extend(tls(&at(prefix, "tls")));
    v
}

/// A configgrpc `ClientConfig` at the component's top level.
pub fn grpc_client() -> Vec<AcceptedKey> {
    let mut v = vec![
        AcceptedKey::optional("keepalive"),
        AcceptedKey::optional("auth"),
        AcceptedKey::new("read_buffer_size", GRPC_BUFFERS),
        AcceptedKey::new("write_buffer_size", GRPC_BUFFERS),
        AcceptedKey::new(
            "wait_for_ready",
            "grpc-go's call option; Strata's calls fail fast when the server is unreachable, and retry_on_failure retries them",
        ),
        AcceptedKey::new(
            "balancer_name",
            "not implemented yet: the client connects to the endpoint's first address; use the loadbalancing exporter to spread over replicas",
        ),
        AcceptedKey::new("middlewares", NO_MIDDLEWARE),
    ];
    v.extend(tls("tls"));
    v
}

/// A confighttp `ClientConfig` at the component's top level.
pub fn http_client() -> Vec<AcceptedKey> {
    const POOL: &str = "not implemented yet: reqwest's connection pool keeps idle connections per host for 90 s with no count limit";
    let mut v = vec![
        AcceptedKey::optional("auth"),
        AcceptedKey::new(
            "read_buffer_size",
            "Go net/http's transport buffer sizes; reqwest (hyper) sizes its buffers itself",
        ),
        AcceptedKey::new(
            "write_buffer_size",
            "Go net/http's transport buffer sizes; reqwest (hyper) sizes its buffers itself",
        ),
        AcceptedKey::new("max_idle_conns", POOL),
        AcceptedKey::new("max_idle_conns_per_host", POOL),
        AcceptedKey::new("max_conns_per_host", POOL),
        AcceptedKey::new("idle_conn_timeout", POOL),
        AcceptedKey::new(
            "disable_keep_alives",
            "not implemented yet: connections are always reused",
        ),
        AcceptedKey::new(
            "http2_read_idle_timeout",
            "not implemented yet: no HTTP/2 health-check pings are sent",
        ),
        AcceptedKey::new(
            "http2_ping_timeout",
            "not implemented yet: no HTTP/2 health-check pings are sent",
        ),
        AcceptedKey::new(
            "cookies",
            "not implemented yet: cookies set by the server are not kept",
        ),
        AcceptedKey::new(
            "force_attempt_http2",
            "reqwest negotiates HTTP/2 by ALPN over TLS, as Go does with this set",
        ),
        AcceptedKey::new("middlewares", NO_MIDDLEWARE),
    ];
    v.extend(tls("tls"));
    v
}

/// exporterhelper's `sending_queue` (a `configoptional.Optional`) and its `batch`.
pub fn sending_queue() -> Vec<AcceptedKey> {
    vec![
        AcceptedKey::optional("sending_queue::batch"),
        AcceptedKey::new(
            "sending_queue::wait_for_result",
            "not implemented yet: Strata answers the sender once the data is queued (on disk with storage), never after the export",
        ),
        AcceptedKey::new(
            "sending_queue::batch::sizer",
            "not implemented yet: queue batches are sized in items (spans, data points, log records)",
        ),
        AcceptedKey::new(
            "sending_queue::batch::partition",
            "not implemented yet: queue batches are not partitioned by client metadata (the batch processor's metadata_keys is)",
        ),
    ]
}
