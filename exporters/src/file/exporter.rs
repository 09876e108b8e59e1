use std::io::Write as _;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use strata_pipelines::{
    Accepted, BuildError, Component, ComponentId, ConfigError, ConsumeError, ConsumeResult,
    Exporter, ExporterFactory, Host, Settings, ShutdownError, Signal, SignalData, StartError,
    YamlValue, config::parse,
};
use tokio::sync::Mutex;

use super::TYPE;
use crate::helper::{HelperConfig, HelperExporter, RequestSender};

/// Config of the `file` exporter.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// File to append to; created if missing. Required.
    pub path: String,
}

/// The `file` exporter for one signal. Exporters of several signals with the same id share the
/// file through the OS's append mode; each line is written with one `write` call.
pub struct FileExporter<T> {
    id: ComponentId,
    path: String,
    file: Mutex<Option<std::fs::File>>,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: SignalData + strata_translators::otlp_json::OtlpMessage> FileExporter<T> {
    /// An exporter appending to `cfg.path` (opened at `start`).
    pub fn new(id: ComponentId, cfg: Config) -> Self {
        FileExporter {
            id,
            path: cfg.path,
            file: Mutex::new(None),
            _signal: std::marker::PhantomData,
        }
    }
}

#[async_trait]
impl<T: SignalData + strata_translators::otlp_json::OtlpMessage> RequestSender<T>
    for FileExporter<T>
{
    /// Written in this process: answered at once.
    fn local(&self) -> bool {
        true
    }

    async fn send(&self, data: Arc<T>) -> ConsumeResult {
        let mut line = strata_translators::otlp_json::encode(data.as_ref());
        line.push(b'\n');
        let mut guard = self.file.lock().await;
        let file = guard.as_mut().ok_or_else(|| {
            ConsumeError::retryable(format!("exporter {} is not started", self.id))
        })?;
        file.write_all(&line)
            .and_then(|()| file.flush())
            .map_err(|e| ConsumeError::retryable(format!("write to {}: {e}", self.path)))?;
        Ok(Accepted::all())
    }
}

#[async_trait]
impl<T: SignalData + strata_translators::otlp_json::OtlpMessage> Component for FileExporter<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| StartError {
                id: self.id.clone(),
                source: format!("{}: {e}", self.path).into(),
            })?;
        *self.file.lock().await = Some(f);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        if let Some(f) = self.file.lock().await.take() {
            f.sync_all().map_err(|e| ShutdownError {
                id: self.id.clone(),
                source: e.into(),
            })?;
        }
        Ok(())
    }
}

/// Factory of the `file` exporter.
#[derive(Debug, Default)]
pub struct Factory;

impl Factory {
    fn config(&self, path: &str, cfg: YamlValue) -> Result<Config, ConfigError> {
        let c: Config = parse(path, cfg)?;
        if c.path.is_empty() {
            return Err(ConfigError::new(format!("{path}::path"), "must be set"));
        }
        Ok(c)
    }

    fn build<T: SignalData + strata_translators::otlp_json::OtlpMessage>(
        &self,
        set: Settings,
        cfg: YamlValue,
    ) -> Result<Arc<dyn Exporter<T>>, BuildError> {
        let c = self.config(&set.path(), cfg)?;
        let e = FileExporter::new(set.id.clone(), c);
        Ok(Arc::new(HelperExporter::new(
            &set,
            HelperConfig::synchronous(std::time::Duration::from_secs(30)),
            Arc::new(e),
        )))
    }
}

impl ExporterFactory for Factory {
    fn type_name(&self) -> &'static str {
        TYPE
    }
    fn signals(&self) -> &'static [Signal] {
        &Signal::ALL
    }
    fn validate(&self, path: &str, cfg: &YamlValue) -> Result<(), ConfigError> {
        self.config(path, cfg.clone()).map(|_| ())
    }
    strata_pipelines::exporter_for_all_signals!();
}

#[cfg(test)]
mod tests {
    use strata_pipelines::Traces;
    use strata_pipelines::testing::fake;

    use super::*;

    fn yaml(s: &str) -> YamlValue {
        serde_yaml_ng::from_str(s).unwrap()
    }

    #[tokio::test]
    async fn writes_one_otlp_json_line_per_request() {
        let f = Factory;
        assert_eq!(parse::<Config>("e", yaml("{}")).unwrap(), Config::default());
        assert_eq!(f.config("e", yaml("{}")).unwrap_err().path, "e::path");
        assert!(
            f.config("e", yaml(include_str!("testdata/config.yaml")))
                .is_ok()
        );
        assert!(f.config("e", yaml("path: x\nformat: csv")).is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let e = FileExporter::<Traces>::new(
            "file".parse().unwrap(),
            Config {
                path: path.display().to_string(),
            },
        );
        e.start(&Host::default()).await.unwrap();
        e.send(Arc::new(fake::traces(1, 2))).await.unwrap();
        e.send(Arc::new(fake::traces(2, 1))).await.unwrap();
        e.shutdown().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Traces> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], fake::traces(1, 2));
        assert!(text.contains("\"traceId\":\"01010101010101010101010101010101\""));
    }

    #[tokio::test]
    async fn unwritable_path_fails_start_and_unstarted_refuses_retryably() {
        let e = FileExporter::<Traces>::new(
            "file".parse().unwrap(),
            Config {
                path: "/nonexistent-dir/strata/out.jsonl".into(),
            },
        );
        let err = e.start(&Host::default()).await.unwrap_err();
        assert!(
            err.to_string()
                .contains("/nonexistent-dir/strata/out.jsonl"),
            "{err}"
        );
        // Data offered to an exporter that never started is refused retryably, not lost.
        let refused = e.send(Arc::new(fake::traces(1, 1))).await.unwrap_err();
        assert!(refused.is_retryable(), "{refused}");
    }
}
