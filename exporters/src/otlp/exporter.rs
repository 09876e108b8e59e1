use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use strata_pipelines::auth::{ClientAuthenticator, ClientContext};
use strata_pipelines::{
    Accepted, BuildError, Component, ConfigError, ConsumeError, ConsumeResult, Exporter,
    ExporterFactory, Host, Logs, Metrics, Settings, ShutdownError, Signal, SignalData, StartError,
    Traces, YamlValue, config::parse_component, wire::Encoded,
};
use tonic::metadata::{MetadataKey, MetadataMap, MetadataValue};
use tonic::transport::{Channel, Endpoint};

use super::connect::Connector;
use tracing::warn;

use super::{Config, TYPE};
use crate::classify::from_grpc_status;
use crate::helper::{HelperExporter, RequestSender};

/// Largest response accepted from the peer (responses are tiny; this bounds a broken peer).
const MAX_RESPONSE_BYTES: usize = 4 << 20;

/// A signal's OTLP/gRPC `Export` method: its path, its response, and the response's partial
/// success.
pub trait GrpcExport: SignalData {
    /// The `Export` method path (`/opentelemetry.proto.collector.trace.v1.TraceService/Export`).
    const PATH: &'static str;
    /// The service's response type.
    type Response: prost::Message + Default + Send + 'static;
    /// `(rejected items, error message)` of the response's partial success.
    fn partial(resp: Self::Response) -> (i64, String);
}

macro_rules! grpc_export {
    ($t:ty, $resp:ty, $path:literal, $field:ident) => {
        impl GrpcExport for $t {
            const PATH: &'static str = $path;
            type Response = $resp;
            fn partial(resp: $resp) -> (i64, String) {
                resp.partial_success
                    .map(|p| (p.$field, p.error_message))
                    .unwrap_or_default()
            }
        }
    };
}
grpc_export!(
    Traces,
    opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse,
    "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    rejected_spans
);
grpc_export!(
    Metrics,
    opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse,
    "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
    rejected_data_points
);
grpc_export!(
    Logs,
    opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse,
    "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
    rejected_log_records
);

/// The `otlp` exporter for one signal. The channel is created at `start` and connects lazily,
/// so a peer that is down at start does not stop the process; its requests fail retryably.
pub struct OtlpExporter<T> {
    id: strata_pipelines::ComponentId,
    cfg: Config,
    metadata: MetadataMap,
    channel: Mutex<Option<Channel>>,
    auth: Mutex<Option<Arc<dyn ClientAuthenticator>>>,
    /// Stops the TLS files' watcher at shutdown.
    stop_watch: Mutex<Option<tokio_util::sync::CancellationToken>>,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: GrpcExport> OtlpExporter<T> {
    /// An exporter for `cfg` (validated).
    ///
    /// # Errors
    /// A header that is not valid gRPC metadata.
    pub fn new(id: strata_pipelines::ComponentId, cfg: Config) -> Result<Self, String> {
        let mut metadata = MetadataMap::new();
        for (k, v) in &cfg.headers {
            let key = MetadataKey::from_bytes(k.to_ascii_lowercase().as_bytes())
                .map_err(|e| format!("header {k}: {e}"))?;
            let val =
                MetadataValue::try_from(v.as_str()).map_err(|e| format!("header {k}: {e}"))?;
            metadata.insert(key, val);
        }
        Ok(OtlpExporter {
            id,
            cfg,
            metadata,
            channel: Mutex::new(None),
            auth: Mutex::new(None),
            stop_watch: Mutex::new(None),
            _signal: std::marker::PhantomData,
        })
    }

    /// The channel: connects lazily through [`Connector`], which does TLS itself with the
    /// client config current at each connect (rotated files are used by new connections).
    fn channel(&self, host: &Host) -> Result<Channel, String> {
        // tonic sees a plain `http://` URI: TLS is the connector's business.
        let uri = self.cfg.uri();
        let authority = uri
            .split_once("://")
            .map_or(uri.as_str(), |(_, rest)| rest)
            .trim_end_matches('/');
        let mut ep = Endpoint::from_shared(format!("http://{authority}"))
            .map_err(|e| e.to_string())?
            .timeout(self.cfg.timeout)
            .connect_timeout(self.cfg.timeout);
        if let Some(k) = &self.cfg.keepalive {
            if let Some(t) = k.time.filter(|d| !d.is_zero()) {
                ep = ep.http2_keep_alive_interval(t);
            }
            if let Some(t) = k.timeout.filter(|d| !d.is_zero()) {
                ep = ep.keep_alive_timeout(t);
            }
            ep = ep.keep_alive_while_idle(k.permit_without_stream);
        }
        if let Some(ua) = self.cfg.user_agent.as_deref().filter(|u| !u.is_empty()) {
            ep = ep.user_agent(ua).map_err(|e| format!("user_agent: {e}"))?;
        }
        if let Some(a) = self.cfg.authority.as_deref().filter(|a| !a.is_empty()) {
            let origin: http::Uri = format!("http://{a}")
                .parse()
                .map_err(|e| format!("authority {a:?}: {e}"))?;
            ep = ep.origin(origin);
        }
        let tls = if self.cfg.plaintext() {
            None
        } else {
            let r = self
                .cfg
                .tls
                .reloading(&format!("exporters::{}::tls", self.id), &[b"h2"])?;
            let cancel = tokio_util::sync::CancellationToken::new();
            *self.stop_watch.lock().unwrap_or_else(|p| p.into_inner()) = Some(cancel.clone());
            tokio::spawn(r.clone().watch(host.telemetry.clone(), cancel));
            Some(r)
        };
        let connector = Connector {
            tls,
            server_name: self.cfg.tls.server_name_override.clone(),
        };
        Ok(ep.connect_with_connector_lazy(connector))
    }
}

#[async_trait]
impl<T: GrpcExport> RequestSender<T> for OtlpExporter<T> {
    /// Encoded by prost into one buffer of the request's exact size.
    async fn send(&self, data: Arc<T>) -> ConsumeResult {
        self.call(&[Bytes::from(data.encode_to_vec())]).await
    }

    fn sends_encoded(&self) -> bool {
        true
    }

    /// The request's bytes go out as they arrived, chunk by chunk: no decode, no re-encode,
    /// no copy into one buffer (the module `otlp::call`).
    async fn send_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        self.call(data.chunks()).await
    }
}

impl<T: GrpcExport> OtlpExporter<T> {
    /// One `Export` call with the request encoded as `chunks`.
    async fn call(&self, chunks: &[Bytes]) -> ConsumeResult {
        let mut channel = self
            .channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                ConsumeError::retryable(format!("exporter {} is not started", self.id))
            })?;
        let auth = self.auth.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let with_auth;
        let metadata = match auth {
            None => &self.metadata,
            Some(a) => {
                let ctx = ClientContext::current();
                let extra = a.headers(ctx.as_deref()).map_err(|e| {
                    ConsumeError::retryable(format!("exporter {}: auth: {e}", self.id))
                })?;
                let mut headers = self.metadata.clone().into_headers();
                for (name, value) in extra {
                    if value.is_empty() {
                        headers.remove(&name);
                    } else {
                        headers.insert(name, value);
                    }
                }
                with_auth = MetadataMap::from_headers(headers);
                &with_auth
            }
        };
        let resp = super::call::unary::<T::Response>(
            &mut channel,
            T::PATH,
            metadata,
            self.cfg.timeout,
            (self.cfg.compression, self.cfg.compression_params),
            chunks,
            MAX_RESPONSE_BYTES,
        )
        .await;
        match resp.map(T::partial) {
            Ok((0, _)) => Ok(Accepted::all()),
            Ok((rejected, message)) => {
                warn!(exporter = %self.id, rejected, message = %message, "peer reported partial success");
                Ok(Accepted::rejecting(
                    u64::try_from(rejected).unwrap_or(0),
                    format!("{}: {message}", self.cfg.endpoint),
                ))
            }
            Err(status) => Err(from_grpc_status(&self.cfg.endpoint, &status)),
        }
    }
}

#[async_trait]
impl<T: GrpcExport> Component for OtlpExporter<T> {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        let err = |e: String| StartError {
            id: self.id.clone(),
            source: e.into(),
        };
        if let Some(a) = &self.cfg.auth {
            let auth = host.client_authenticator(&a.authenticator).map_err(err)?;
            *self.auth.lock().unwrap_or_else(|p| p.into_inner()) = Some(auth);
        }
        let channel = self.channel(host).map_err(err)?;
        *self.channel.lock().unwrap_or_else(|p| p.into_inner()) = Some(channel);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        if let Some(c) = self
            .stop_watch
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            c.cancel();
        }
        self.channel
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        Ok(())
    }
}

/// Factory of the `otlp` exporter, registered under `otlp` and under the alias `otlp_grpc`.
#[derive(Debug, Clone, Copy)]
pub struct Factory {
    name: &'static str,
}

impl Default for Factory {
    fn default() -> Self {
        Factory { name: TYPE }
    }
}

impl Factory {
    /// The factory under the alias `otlp_grpc`.
    pub fn alias() -> Self {
        Factory {
            name: super::TYPE_ALIAS,
        }
    }

    fn build<T: GrpcExport>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let helper = c.helper();
        let e = OtlpExporter::new(set.id.clone(), c).map_err(|e| BuildError::Other {
            id: set.id.clone(),
            source: e.into(),
        })?;
        Ok(Arc::new(HelperExporter::new(&set, helper, Arc::new(e))))
    }
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        self.name
    }
    /// configgrpc client and exporterhelper keys with no effect (`strata_pipelines::accepted`).
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        let mut v = strata_pipelines::accepted::grpc_client();
        v.extend(strata_pipelines::accepted::sending_queue());
        v
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        parse_component::<Config>(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use strata_pipelines::testing::fake;

    use strata_pipelines::config::parse;

    use crate::otlp::Compression;

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        let c: Config = parse("e", yaml("{}")).unwrap();
        assert_eq!(c, Config::default());
        // The default config has no endpoint, which validation reports.
        let e = parse_component::<Config>("exporters::otlp", yaml("{}")).unwrap_err();
        assert_eq!(e.path, "exporters::otlp::endpoint");
        let c = parse_component::<Config>("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(c.compression, Compression::Zstd);
        assert_eq!(c.uri(), "http://collector.example:4317");
        assert_eq!(c.max_request_size, 2 << 20);
        assert_eq!(c.retry_on_failure.initial_interval, Duration::from_secs(10));
        assert_eq!(
            c.retry_on_failure.max_elapsed_time,
            Duration::from_secs(600)
        );
        assert_eq!(c.sending_queue.num_consumers, 2);
        assert_eq!(
            c.sending_queue.storage,
            Some("file_storage/otc".parse().unwrap())
        );
        for (bad, path) in [
            (
                "retry_on_failure: {multiplier: 0.5}",
                "e::retry_on_failure::multiplier",
            ),
            (
                "retry_on_failure: {randomization_factor: 2}",
                "e::retry_on_failure::randomization_factor",
            ),
            (
                "retry_on_failure: {initial_interval: 10s, max_interval: 1s}",
                "e::retry_on_failure::max_interval",
            ),
            (
                "sending_queue: {num_consumers: 0}",
                "e::sending_queue::num_consumers",
            ),
            (
                "sending_queue: {queue_size: 0}",
                "e::sending_queue::queue_size",
            ),
            ("sending_queue: {sizer: pages}", "e::sending_queue.sizer"),
            ("max_request_size: huge", "e::max_request_size"),
            (
                "compression_params: {level: 10}",
                "e::compression_params::level",
            ),
            (
                "compression: zstd\ncompression_params: {level: 0}",
                "e::compression_params::level",
            ),
            (
                "compression: none\ncompression_params: {level: 1}",
                "e::compression_params::level",
            ),
            ("compression_params: {lvl: 1}", "e::compression_params::lvl"),
        ] {
            let e =
                parse_component::<Config>("e", yaml(&format!("endpoint: a:1\n{bad}"))).unwrap_err();
            assert!(
                e.path == path || e.path.replace('.', "::") == path.replace('.', "::"),
                "{bad}: {e}"
            );
        }
        let c = parse_component::<Config>(
            "e",
            yaml("endpoint: a:1\ncompression: zstd\ncompression_params: {level: 19}"),
        )
        .unwrap();
        assert_eq!(c.compression_params.level, Some(19));
        let e =
            parse_component::<Config>("e", yaml("endpoint: a:1\ncompresion: gzip")).unwrap_err();
        assert!(e.message.contains("unknown key \"compresion\""), "{e}");
        let e = parse_component::<Config>(
            "e",
            yaml("endpoint: a:1\ntls: {ca_file: /nonexistent/ca.pem}"),
        )
        .unwrap_err();
        assert_eq!(e.path, "e::tls::ca_file");
        parse_component::<Config>(
            "e",
            yaml("endpoint: a:1\ntls: {insecure_skip_verify: true}"),
        )
        .unwrap();
        let e = parse_component::<Config>("e", yaml("endpoint: a:1\ntls: {min_version: '1.4'}"))
            .unwrap_err();
        assert_eq!(e.path, "e::tls::min_version");
        let e =
            parse_component::<Config>("e", yaml("endpoint: a:1\ntimeout: 5 parsecs")).unwrap_err();
        assert_eq!(e.path, "e::timeout");
    }

    #[tokio::test]
    async fn peer_down_is_retryable() {
        // Bind and drop a listener to get a port nothing listens on.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = Config {
            endpoint: format!("127.0.0.1:{port}"),
            tls: strata_pipelines::tls::TlsClientConfig {
                insecure: true,
                ..Default::default()
            },
            timeout: Duration::from_secs(2),
            ..Config::default()
        };
        let e = OtlpExporter::<Traces>::new("otlp".parse().unwrap(), cfg).unwrap();
        e.start(&Host::default()).await.unwrap();
        let err = e.send(Arc::new(fake::traces(1, 1))).await.unwrap_err();
        assert!(err.is_retryable(), "{err}");
    }
}
