use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceResponse;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceResponse;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeError, ConsumeResult,
    Exporter, ExporterFactory, Host, Logs, Metrics, Settings, ShutdownError, Signal, SignalData,
    StartError, Traces, YamlValue, config::parse_component, wire::Encoded,
};
use tracing::warn;

use super::{Compression, Config, Encoding, TYPE};
use crate::helper::{HelperExporter, RequestSender};

/// Largest response body read from the peer.
const MAX_RESPONSE_BYTES: usize = 1 << 20;

/// Signals that can go over OTLP/HTTP: serializable to JSON, with a response type carrying
/// partial success.
pub trait HttpExport: SignalData + strata_translators::otlp_json::OtlpMessage {
    /// Decodes the peer's protobuf response into `(rejected items, message)`.
    fn partial_success(body: &[u8]) -> (i64, String);
}

macro_rules! http_export {
    ($t:ty, $resp:ty, $field:ident) => {
        impl HttpExport for $t {
            fn partial_success(body: &[u8]) -> (i64, String) {
                <$resp>::decode(body)
                    .ok()
                    .and_then(|r| r.partial_success)
                    .map(|p| (p.$field, p.error_message))
                    .unwrap_or_default()
            }
        }
    };
}
http_export!(Traces, ExportTraceServiceResponse, rejected_spans);
http_export!(Metrics, ExportMetricsServiceResponse, rejected_data_points);
http_export!(Logs, ExportLogsServiceResponse, rejected_log_records);

/// The `otlp_http` exporter for one signal.
pub struct OtlpHttpExporter<T> {
    id: ComponentId,
    cfg: Config,
    url: String,
    client: crate::http_client::HttpClient,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: HttpExport> OtlpHttpExporter<T> {
    /// An exporter for `cfg` (validated).
    ///
    /// # Errors
    /// Unusable TLS files or headers.
    pub fn new(id: ComponentId, cfg: Config) -> Result<Self, String> {
        let client = crate::http_client::HttpClient::new(
            format!("exporters::{id}::tls"),
            &cfg.headers,
            cfg.timeout,
            &cfg.tls,
        )?
        .with_proxy(cfg.proxy_url.as_deref())?;
        Ok(OtlpHttpExporter {
            id,
            url: cfg.url(T::SIGNAL),
            cfg,
            client,
            _signal: std::marker::PhantomData,
        })
    }

    /// The request body of `raw` (already in the configured encoding), compressed per config;
    /// uncompressed, it is `raw` itself (not copied).
    fn body(&self, raw: Bytes) -> Result<Bytes, ConsumeError> {
        let c = self.cfg.compression;
        Ok(match c {
            Compression::None => raw,
            Compression::Gzip => {
                crate::http_client::gzip_level(&raw, self.cfg.compression_params.level_or(1))
                    .map_err(ConsumeError::permanent)?
                    .into()
            }
            other => {
                let level = self
                    .cfg
                    .compression_params
                    .level_or(if other == Compression::Zstd { 3 } else { 1 });
                other
                    .compress(&raw, level)
                    .map_err(ConsumeError::permanent)?
                    .into()
            }
        })
    }
}

#[async_trait]
impl<T: HttpExport> RequestSender<T> for OtlpHttpExporter<T> {
    async fn send(&self, data: Arc<T>) -> ConsumeResult {
        match self.cfg.encoding {
            Encoding::Proto => {
                self.post(data.encode_to_vec().into(), "application/x-protobuf")
                    .await
            }
            Encoding::Json => {
                let raw = strata_translators::otlp_json::encode(&*data);
                self.post(raw.into(), "application/json").await
            }
        }
    }

    fn sends_encoded(&self) -> bool {
        self.cfg.encoding == Encoding::Proto
    }

    /// The request's protobuf bytes go out as they arrived (`encoding: proto`).
    async fn send_encoded(&self, data: Encoded<T>) -> ConsumeResult {
        if self.cfg.encoding == Encoding::Json {
            return self.send(Arc::new(data.decode()?)).await;
        }
        self.post(data.to_bytes(), "application/x-protobuf").await
    }
}

impl<T: HttpExport> OtlpHttpExporter<T> {
    /// One `POST` of `raw` (in `content_type`), compressed per config.
    async fn post(&self, raw: Bytes, content_type: &'static str) -> ConsumeResult {
        let body = self.body(raw)?;
        let mut req = self.client.authorize(
            self.client
                .client()
                .post(&self.url)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(body),
        )?;
        if self.cfg.compression != Compression::None {
            req = req.header(http::header::CONTENT_ENCODING, self.cfg.compression.name());
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ConsumeError::retryable(format!("export to {} failed: {e}", self.url)))?;
        let status = resp.status();
        let retry_after = resp.headers().get(http::header::RETRY_AFTER).cloned();
        let is_json = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let body = resp.bytes().await.unwrap_or_default();
        let body = &body[..body.len().min(MAX_RESPONSE_BYTES)];
        if !status.is_success() {
            return Err(crate::http_client::failure(
                &self.url,
                status,
                retry_after.as_ref(),
                body,
            ));
        }
        if !is_json {
            let (rejected, message) = T::partial_success(body);
            if rejected > 0 || !message.is_empty() {
                warn!(exporter = %self.id, rejected, message = %message, "peer reported partial success");
                return Ok(Accepted::rejecting(
                    u64::try_from(rejected).unwrap_or(0),
                    format!("{}: {message}", self.url),
                ));
            }
        }
        Ok(Accepted::all())
    }
}

#[async_trait]
impl<T: HttpExport> Component for OtlpHttpExporter<T> {
    async fn start(&self, host: &Host) -> Result<(), StartError> {
        self.client
            .start(host, self.cfg.auth.as_ref())
            .map_err(|e| StartError {
                id: self.id.clone(),
                source: e.into(),
            })
    }
    async fn shutdown(&self) -> Result<(), ShutdownError> {
        self.client.shutdown();
        Ok(())
    }
}

/// Factory of the `otlp_http` exporter, registered under `otlp_http` and under the alias
/// `otlphttp` (the name most Collector configs use).
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
    /// The factory under the alias `otlphttp`.
    pub fn alias() -> Self {
        Factory {
            name: super::TYPE_ALIAS,
        }
    }
    fn build<T: HttpExport>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c = parse_component::<Config>(&set.path(), cfg)?;
        let helper = c.helper();
        let e = OtlpHttpExporter::new(set.id.clone(), c).map_err(|e| BuildError::Other {
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
    /// confighttp client and exporterhelper keys with no effect (`strata_pipelines::accepted`),
    /// and the profiles signal.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        let mut v = strata_pipelines::accepted::http_client();
        v.extend(strata_pipelines::accepted::sending_queue());
        v.push(strata_pipelines::factory::AcceptedKey::new(
            "profiles_endpoint",
            "Strata has no profiles signal: no profiles are ever sent",
        ));
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
    use strata_pipelines::config::parse;

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[test]
    fn config_defaults_testdata_and_errors() {
        assert_eq!(parse::<Config>("e", yaml("{}")).unwrap(), Config::default());
        let c = parse_component::<Config>("e", yaml(include_str!("testdata/config.yaml"))).unwrap();
        assert_eq!(
            c.url(Signal::Traces),
            "http://collector.example:4318/v1/traces"
        );
        assert_eq!(c.url(Signal::Logs), "http://logs.example:4318/custom/logs");
        assert_eq!(c.encoding, Encoding::Json);
        let e = parse_component::<Config>("e", yaml("{}")).unwrap_err();
        assert_eq!(e.path, "e::endpoint");
        let e = parse_component::<Config>("e", yaml("endpoint: collector:4318")).unwrap_err();
        assert!(e.message.contains("invalid URL"), "{e}");
        let e = parse_component::<Config>("e", yaml("endpoint: http://a:1\nencoding: xml"))
            .unwrap_err();
        assert_eq!(e.path, "e::encoding");
    }
}
