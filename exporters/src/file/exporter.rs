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

/// Config of the `file` exporter: the Collector's keys (`exporter/fileexporter/config.go`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// File to write to; created if missing. Required. With `group_by`, holds one `*`.
    pub path: String,
    /// `true`: append to an existing file. `false`: truncate it at start (the Collector's
    /// default). Unset: append — Strata's default, so that what was acknowledged before a
    /// restart is not erased by it.
    pub append: Option<bool>,
    /// `json` (default): one OTLP/JSON line per request. `proto`: each request as OTLP
    /// protobuf, preceded by its length (4 bytes, big-endian), as the Collector writes it.
    pub format: Format,
    /// `zstd`: each request compressed alone, length-prefixed like `proto` (either format).
    pub compression: Option<String>,
    /// Rotation (lumberjack's semantics, as the Collector's): absent = never rotate.
    pub rotation: Option<Rotation>,
    /// How often buffered writes reach the file in the Collector. Strata writes and flushes
    /// each request before answering it, which is sooner than any interval.
    #[serde(with = "humantime_serde")]
    pub flush_interval: Option<std::time::Duration>,
    /// One file per value of a resource attribute.
    pub group_by: Option<GroupBy>,
    /// Create the file's directory (and parents) at start.
    pub create_directory: bool,
    /// Permissions of directories created (octal, `"0755"` by default); needs
    /// `create_directory`.
    pub directory_permissions: Option<String>,
}

/// `format:`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// OTLP/JSON lines.
    #[default]
    Json,
    /// Length-prefixed OTLP protobuf.
    Proto,
}

/// `rotation:` (the Collector's, from lumberjack).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Rotation {
    /// Rotate once the file would exceed this many MiB. Default 100.
    pub max_megabytes: u64,
    /// Delete backups older than this many days; 0 = keep regardless of age.
    pub max_days: u64,
    /// Keep at most this many backups. Default 100; 0 = all.
    pub max_backups: usize,
}

impl Default for Rotation {
    fn default() -> Self {
        Rotation {
            max_megabytes: 100,
            max_days: 0,
            max_backups: 100,
        }
    }
}

/// `group_by:`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupBy {
    /// Default false.
    pub enabled: bool,
    /// The resource attribute whose value replaces `*` in `path`. Default
    /// `fileexporter.path_segment`.
    pub resource_attribute: String,
    /// Files kept open at once (least recently written closed first). Default 100.
    pub max_open_files: usize,
}

impl Default for GroupBy {
    fn default() -> Self {
        GroupBy {
            enabled: false,
            resource_attribute: "fileexporter.path_segment".into(),
            max_open_files: 100,
        }
    }
}

impl Config {
    /// Checks the Collector's rules (`Validate` in its config.go).
    ///
    /// # Errors
    /// The first broken rule, with its path.
    pub fn validate(&self, path: &str) -> Result<(), ConfigError> {
        let err = |k: &str, m: &str| Err(ConfigError::new(format!("{path}::{k}"), m));
        if self.path.is_empty() {
            return err("path", "must be set");
        }
        if self.append == Some(true) && self.compression.is_some() {
            return err(
                "append",
                "append and compression enabled at the same time is not supported",
            );
        }
        if self.append == Some(true) && self.rotation.is_some() {
            return err(
                "append",
                "append and rotation enabled at the same time is not supported",
            );
        }
        if let Some(c) = self.compression.as_deref()
            && !c.is_empty()
            && c != "zstd"
        {
            return err("compression", "compression is not supported (only zstd)");
        }
        if let Some(g) = self.grouping() {
            let parts: Vec<&str> = self.path.split('*').collect();
            if parts.len() != 2 {
                return err(
                    "path",
                    "path must contain exactly one * when group_by is enabled",
                );
            }
            if parts[0].is_empty() {
                return err(
                    "path",
                    "path must not start with * when group_by is enabled",
                );
            }
            if g.resource_attribute.is_empty() {
                return err(
                    "group_by::resource_attribute",
                    "resource_attribute must not be empty when group_by is enabled",
                );
            }
        }
        match (&self.directory_permissions, self.create_directory) {
            (Some(_), false) => {
                return err(
                    "directory_permissions",
                    "directory_permissions requires create_directory to be true",
                );
            }
            (Some(p), true) => {
                let ok = u32::from_str_radix(p, 8).is_ok_and(|m| m & !0o777 == 0);
                if !ok {
                    return err(
                        "directory_permissions",
                        "directory_permissions value must be a valid octal representation of permission bits",
                    );
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn grouping(&self) -> Option<&GroupBy> {
        self.group_by.as_ref().filter(|g| g.enabled)
    }

    fn zstd(&self) -> bool {
        self.compression.as_deref() == Some("zstd")
    }
}

/// One open output file with its size, rotated per `rotation`.
struct Output {
    path: std::path::PathBuf,
    file: std::fs::File,
    size: u64,
    rotation: Option<Rotation>,
}

impl Output {
    fn open(
        path: &std::path::Path,
        truncate: bool,
        rotation: Option<Rotation>,
    ) -> std::io::Result<Self> {
        let mut o = std::fs::OpenOptions::new();
        o.create(true);
        if truncate {
            o.write(true).truncate(true);
        } else {
            o.append(true);
        }
        let file = o.open(path)?;
        let size = file.metadata()?.len();
        Ok(Output {
            path: path.to_owned(),
            file,
            size,
            rotation,
        })
    }

    /// Writes `bytes` in one call and flushes, rotating first when they would take the file
    /// past `max_megabytes` (a file is never left empty by rotation).
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        if let Some(r) = self.rotation.clone() {
            let max = r.max_megabytes.max(1) << 20;
            if self.size > 0 && self.size + bytes.len() as u64 > max {
                self.rotate(&r)?;
            }
        }
        self.file.write_all(bytes)?;
        self.file.flush()?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    /// lumberjack's rotation: the file is renamed `<name>-<UTC time>.<ext>` (time as
    /// `2006-01-02T15-04-05.000`), a new one is created, and backups past `max_backups` or
    /// older than `max_days` are deleted, oldest first.
    fn rotate(&mut self, r: &Rotation) -> std::io::Result<()> {
        self.file.sync_all()?;
        let stem = self
            .path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ext = self
            .path
            .extension()
            .map(|e| format!(".{}", e.to_string_lossy()))
            .unwrap_or_default();
        let stamp = humantime::format_rfc3339_millis(std::time::SystemTime::now())
            .to_string()
            .trim_end_matches('Z')
            .replace(':', "-");
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_owned();
        let mut backup = dir.join(format!("{stem}-{stamp}{ext}"));
        let mut n = 1;
        while backup.exists() {
            backup = dir.join(format!("{stem}-{stamp}.{n}{ext}"));
            n += 1;
        }
        std::fs::rename(&self.path, &backup)?;
        self.file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = 0;
        // Backups of this file, newest first (the stamp sorts by time).
        let prefix = format!("{stem}-");
        let mut backups: Vec<(std::path::PathBuf, std::time::SystemTime)> =
            std::fs::read_dir(&dir)?
                .filter_map(Result::ok)
                .filter(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.starts_with(&prefix) && name.ends_with(&ext) && e.path() != self.path
                })
                .filter_map(|e| Some((e.path(), e.metadata().ok()?.modified().ok()?)))
                .collect();
        backups.sort_by(|a, b| b.0.cmp(&a.0));
        for (i, (p, modified)) in backups.iter().enumerate() {
            let too_many = r.max_backups > 0 && i >= r.max_backups;
            let too_old = r.max_days > 0
                && modified
                    .elapsed()
                    .is_ok_and(|age| age.as_secs() > r.max_days * 86_400);
            if too_many || too_old {
                let _ = std::fs::remove_file(p);
            }
        }
        Ok(())
    }
}

/// The open files of one exporter id, shared by its signals (the Collector shares one writer
/// per exporter id): the main file, or one per group.
struct Files {
    cfg: Config,
    truncate_at_open: bool,
    open: Vec<(String, Output)>,
}

impl Files {
    fn output(&mut self, path: &str) -> std::io::Result<&mut Output> {
        if let Some(i) = self.open.iter().position(|(p, _)| p == path) {
            // Most recently used last.
            let entry = self.open.remove(i);
            self.open.push(entry);
        } else {
            let limit = self.cfg.grouping().map_or(1, |g| g.max_open_files.max(1));
            while self.open.len() >= limit {
                self.open.remove(0);
            }
            let p = std::path::Path::new(path);
            if self.cfg.grouping().is_some()
                && let Some(parent) = p.parent()
            {
                std::fs::create_dir_all(parent)?;
            }
            let out = Output::open(p, self.truncate_at_open, self.cfg.rotation.clone())?;
            self.open.push((path.to_owned(), out));
        }
        Ok(&mut self.open.last_mut().expect("just pushed").1)
    }
}

type Shared = Arc<Mutex<Files>>;

/// The files of every `file` exporter in the process, by id and config, so the signals of one
/// exporter share them. A SIGHUP reload that changes an exporter's config gets new files even
/// while the previous graph's exporter still holds the old ones.
#[allow(clippy::type_complexity)] // a private registry's entry, named where it is used
static SHARED: std::sync::Mutex<Vec<(ComponentId, Config, std::sync::Weak<Mutex<Files>>)>> =
    std::sync::Mutex::new(Vec::new());

fn shared(id: &ComponentId, cfg: &Config) -> Shared {
    let mut all = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    all.retain(|(_, _, w)| w.strong_count() > 0);
    if let Some(s) = all
        .iter()
        .find(|(i, c, _)| i == id && c == cfg)
        .and_then(|(_, _, w)| w.upgrade())
    {
        return s;
    }
    let s = Arc::new(Mutex::new(Files {
        cfg: cfg.clone(),
        truncate_at_open: cfg.append == Some(false),
        open: Vec::new(),
    }));
    all.push((id.clone(), cfg.clone(), Arc::downgrade(&s)));
    s
}

/// The `file` exporter for one signal; the signals of one id share their files.
pub struct FileExporter<T> {
    id: ComponentId,
    cfg: Config,
    files: Mutex<Option<Shared>>,
    _signal: std::marker::PhantomData<fn(T)>,
}

impl<T: SignalData + strata_translators::otlp_json::OtlpMessage> FileExporter<T> {
    /// An exporter writing per `cfg` (files opened at `start`).
    pub fn new(id: ComponentId, cfg: Config) -> Self {
        FileExporter {
            id,
            cfg,
            files: Mutex::new(None),
            _signal: std::marker::PhantomData,
        }
    }

    /// One request's bytes in the configured format and compression.
    fn encode(&self, data: &T) -> Result<Vec<u8>, ConsumeError> {
        let body = match self.cfg.format {
            Format::Json => strata_translators::otlp_json::encode(data),
            Format::Proto => data.encode_to_vec(),
        };
        let framed = self.cfg.format == Format::Proto || self.cfg.zstd();
        if !framed {
            let mut line = body;
            line.push(b'\n');
            return Ok(line);
        }
        let body = if self.cfg.zstd() {
            zstd::encode_all(&body[..], 0).map_err(ConsumeError::permanent)?
        } else {
            body
        };
        let len = u32::try_from(body.len())
            .map_err(|_| ConsumeError::permanent("a request over 4 GiB cannot be framed"))?;
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
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
        let files = self.files.lock().await.clone().ok_or_else(|| {
            ConsumeError::retryable(format!("exporter {} is not started", self.id))
        })?;
        let mut files = files.lock().await;
        let parts: Vec<(String, T)> = match self.cfg.grouping() {
            None => vec![(self.cfg.path.clone(), (*data).clone())],
            Some(g) => {
                let (head, tail) = self
                    .cfg
                    .path
                    .split_once('*')
                    .unwrap_or((&self.cfg.path, ""));
                let mut groups: Vec<(String, T)> = Vec::new();
                for mut one in (*data).clone().into_resources() {
                    let value = one
                        .resources_mut()
                        .next()
                        .and_then(|r| r.as_ref())
                        .and_then(|r| {
                            r.attributes.iter().find(|kv| kv.key == g.resource_attribute)
                        })
                        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
                        .and_then(|v| match v {
                            strata_pipelines::proto::tonic::common::v1::any_value::Value::StringValue(s) => {
                                Some(s.clone())
                            }
                            _ => None,
                        });
                    // As in the Collector, a resource without the attribute is dropped (with a
                    // warning here); so is one whose value would leave the directory.
                    let Some(value) =
                        value.filter(|v| !v.is_empty() && !v.contains('/') && v != "..")
                    else {
                        tracing::warn!(exporter = %self.id, attribute = %g.resource_attribute, "group_by: a resource without a usable value of the attribute is dropped");
                        continue;
                    };
                    let path = format!("{head}{value}{tail}");
                    match groups.iter_mut().find(|(p, _)| *p == path) {
                        Some((_, d)) => d.append(one),
                        None => groups.push((path, one)),
                    }
                }
                groups
            }
        };
        for (path, part) in parts {
            let bytes = self.encode(&part)?;
            files
                .output(&path)
                .and_then(|o| o.write(&bytes))
                .map_err(|e| ConsumeError::retryable(format!("write to {path}: {e}")))?;
        }
        Ok(Accepted::all())
    }
}

#[async_trait]
impl<T: SignalData + strata_translators::otlp_json::OtlpMessage> Component for FileExporter<T> {
    async fn start(&self, _host: &Host) -> Result<(), StartError> {
        let fail = |e: String| StartError {
            id: self.id.clone(),
            source: e.into(),
        };
        let path = std::path::Path::new(&self.cfg.path);
        if self.cfg.create_directory
            && let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        {
            let mode = self
                .cfg
                .directory_permissions
                .as_deref()
                .and_then(|p| u32::from_str_radix(p, 8).ok())
                .unwrap_or(0o755);
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, mode);
            b.create(dir)
                .map_err(|e| fail(format!("{}: {e}", dir.display())))?;
        }
        let shared = shared(&self.id, &self.cfg);
        if self.cfg.grouping().is_none() {
            // The file opens now, so a path that cannot be written fails the start.
            shared
                .lock()
                .await
                .output(&self.cfg.path)
                .map_err(|e| fail(format!("{}: {e}", self.cfg.path)))?;
        }
        *self.files.lock().await = Some(shared);
        Ok(())
    }

    async fn shutdown(&self) -> Result<(), ShutdownError> {
        if let Some(files) = self.files.lock().await.take() {
            for (_, o) in files.lock().await.open.iter() {
                o.file.sync_all().map_err(|e| ShutdownError {
                    id: self.id.clone(),
                    source: e.into(),
                })?;
            }
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
        c.validate(path)?;
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
    /// `encoding` (encoding extensions) and `rotation::localtime`.
    fn accepted(&self) -> Vec<strata_pipelines::factory::AcceptedKey> {
        vec![
            strata_pipelines::factory::AcceptedKey::new(
                "encoding",
                "Strata has no encoding extensions: `format` chooses the encoding (json or proto)",
            ),
            strata_pipelines::factory::AcceptedKey::new(
                "rotation::localtime",
                "not implemented yet: backup file names carry the time in UTC",
            ),
        ]
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
                ..Config::default()
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

    fn exporter(id: &str, cfg: Config) -> FileExporter<Traces> {
        FileExporter::<Traces>::new(id.parse().unwrap(), cfg)
    }

    /// Length-prefixed frames of a `proto` or compressed file.
    fn frames(bytes: &[u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut rest = bytes;
        while rest.len() >= 4 {
            let n = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            out.push(rest[4..4 + n].to_vec());
            rest = &rest[4 + n..];
        }
        assert!(rest.is_empty(), "trailing bytes");
        out
    }

    /// `format: proto` and `compression: zstd` write what the Collector's file exporter
    /// writes: each request as a 4-byte big-endian length, then the message (zstd-compressed
    /// when asked), readable back into the same request.
    #[tokio::test]
    async fn proto_and_zstd_are_length_prefixed_messages() {
        use prost::Message as _;
        let dir = tempfile::tempdir().unwrap();
        for (name, format, zstd) in [
            ("p.bin", Format::Proto, false),
            ("pz.bin", Format::Proto, true),
            ("jz.bin", Format::Json, true),
        ] {
            let path = dir.path().join(name);
            let e = exporter(
                &format!("file/{}", name.replace('.', "_")),
                Config {
                    path: path.display().to_string(),
                    format,
                    compression: zstd.then(|| "zstd".to_owned()),
                    ..Config::default()
                },
            );
            e.start(&Host::default()).await.unwrap();
            e.send(Arc::new(fake::traces(1, 2))).await.unwrap();
            e.send(Arc::new(fake::traces(2, 1))).await.unwrap();
            e.shutdown().await.unwrap();
            let frames = frames(&std::fs::read(&path).unwrap());
            assert_eq!(frames.len(), 2, "{name}");
            let body = if zstd {
                zstd::decode_all(&frames[1][..]).unwrap()
            } else {
                frames[1].clone()
            };
            let back: Traces = match format {
                Format::Proto => Traces::decode(&body[..]).unwrap(),
                Format::Json => serde_json::from_slice(&body).unwrap(),
            };
            assert_eq!(back, fake::traces(2, 1), "{name}");
        }
    }

    /// Rotation as lumberjack's: past `max_megabytes` the file is renamed with a timestamp and
    /// a new one started; at most `max_backups` backups stay.
    #[tokio::test]
    async fn rotation_renames_and_keeps_max_backups() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spans.json");
        let e = exporter(
            "file/rot",
            Config {
                path: path.display().to_string(),
                rotation: Some(Rotation {
                    max_megabytes: 1,
                    max_days: 0,
                    max_backups: 2,
                }),
                ..Config::default()
            },
        );
        e.start(&Host::default()).await.unwrap();
        // About 350 KiB per request: a rotation every third request.
        let big = fake::traces(40, 100);
        for _ in 0..12 {
            e.send(Arc::new(big.clone())).await.unwrap();
        }
        e.shutdown().await.unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names.len(), 3, "{names:?}");
        assert!(names.contains(&"spans.json".to_owned()), "{names:?}");
        for n in names.iter().filter(|n| *n != "spans.json") {
            assert!(
                n.starts_with("spans-") && n.ends_with(".json") && n.contains('T'),
                "{n}"
            );
        }
        for n in &names {
            let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
            assert!(len <= 1 << 20, "{n}: {len} bytes");
        }
    }

    /// `group_by`: one file per value of the resource attribute, `*` replaced by it; a
    /// resource without it is dropped.
    #[tokio::test]
    async fn group_by_writes_one_file_per_attribute_value() {
        use strata_pipelines::proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
        let dir = tempfile::tempdir().unwrap();
        let e = exporter(
            "file/group",
            Config {
                path: format!("{}/out/*.json", dir.path().display()),
                group_by: Some(GroupBy {
                    enabled: true,
                    resource_attribute: "tenant".into(),
                    max_open_files: 1,
                }),
                ..Config::default()
            },
        );
        e.start(&Host::default()).await.unwrap();
        let mut t = fake::traces(3, 1);
        for (rs, tenant) in t.resource_spans.iter_mut().zip(["a", "b", ""]) {
            let attrs = &mut rs.resource.get_or_insert_with(Default::default).attributes;
            if !tenant.is_empty() {
                attrs.push(KeyValue {
                    key: "tenant".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(tenant.into())),
                    }),
                    ..Default::default()
                });
            }
        }
        e.send(Arc::new(t.clone())).await.unwrap();
        e.send(Arc::new(t)).await.unwrap();
        e.shutdown().await.unwrap();
        for tenant in ["a", "b"] {
            let text =
                std::fs::read_to_string(dir.path().join(format!("out/{tenant}.json"))).unwrap();
            let lines: Vec<Traces> = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), 2, "{tenant}");
            assert!(lines.iter().all(|l| l.resource_spans.len() == 1));
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("out")).unwrap().count(),
            2
        );
    }

    /// Two signals of one exporter share its file; the same id with another config (a reload
    /// that changed the path, while the old exporter still lives) writes to the new path.
    #[tokio::test]
    async fn signals_share_a_file_and_a_changed_config_gets_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = |name: &str| Config {
            path: dir.path().join(name).display().to_string(),
            ..Config::default()
        };
        let traces = exporter("file/shared", cfg("a.json"));
        let logs = FileExporter::<strata_pipelines::Logs>::new(
            "file/shared".parse().unwrap(),
            cfg("a.json"),
        );
        traces.start(&Host::default()).await.unwrap();
        logs.start(&Host::default()).await.unwrap();
        let reloaded = exporter("file/shared", cfg("b.json"));
        reloaded.start(&Host::default()).await.unwrap();
        traces.send(Arc::new(fake::traces(1, 1))).await.unwrap();
        logs.send(Arc::new(fake::logs(1, 1))).await.unwrap();
        reloaded.send(Arc::new(fake::traces(1, 1))).await.unwrap();
        for e in [&traces, &reloaded] {
            e.shutdown().await.unwrap();
        }
        logs.shutdown().await.unwrap();
        let lines = |n: &str| {
            std::fs::read_to_string(dir.path().join(n))
                .unwrap()
                .lines()
                .count()
        };
        assert_eq!((lines("a.json"), lines("b.json")), (2, 1));
    }

    /// The Collector's validation rules, `append: false` truncating, `create_directory`.
    #[tokio::test]
    async fn validation_truncation_and_directories() {
        let f = Factory;
        for (yaml_text, path) in [
            ("path: x\nappend: true\ncompression: zstd", "e::append"),
            ("path: x\nappend: true\nrotation: {}", "e::append"),
            ("path: x\ncompression: gzip", "e::compression"),
            ("path: x\ngroup_by: {enabled: true}", "e::path"),
            ("path: '*x'\ngroup_by: {enabled: true}", "e::path"),
            (
                "path: x\ndirectory_permissions: '0755'",
                "e::directory_permissions",
            ),
            (
                "path: x\ncreate_directory: true\ndirectory_permissions: '1777'",
                "e::directory_permissions",
            ),
        ] {
            assert_eq!(
                f.config("e", yaml(yaml_text)).unwrap_err().path,
                path,
                "{yaml_text}"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/out.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "old\n").unwrap();
        let e = exporter(
            "file/trunc",
            Config {
                path: path.display().to_string(),
                append: Some(false),
                ..Config::default()
            },
        );
        e.start(&Host::default()).await.unwrap();
        e.send(Arc::new(fake::traces(1, 1))).await.unwrap();
        e.shutdown().await.unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.starts_with("old"), "{text}");
        assert_eq!(text.lines().count(), 1);
        let nested = dir.path().join("new/dir/out.json");
        let e = exporter(
            "file/mkdir",
            Config {
                path: nested.display().to_string(),
                create_directory: true,
                directory_permissions: Some("0700".into()),
                ..Config::default()
            },
        );
        e.start(&Host::default()).await.unwrap();
        e.shutdown().await.unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("new/dir"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[tokio::test]
    async fn unwritable_path_fails_start_and_unstarted_refuses_retryably() {
        let e = FileExporter::<Traces>::new(
            "file".parse().unwrap(),
            Config {
                path: "/nonexistent-dir/strata/out.jsonl".into(),
                ..Config::default()
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
