//! The key-set check: every config key the OpenTelemetry Collector defines for a component
//! Strata ships under the Collector's name (`tests/fixtures/collector-keys.tsv`, generated from
//! the Collector's Go source by `scripts/collector-keys.py`, with the commit and file of each
//! key) is either implemented by Strata's parser for that component, or listed by its factory
//! as accepted without effect ([`strata_pipelines::factory::AcceptedKey`]) with the reason.

#[cfg(test)]
mod tests {
    use serde_yaml_ng::{Mapping, Value};
    use strata_pipelines::config::ConfigError;

    /// The Collector's key data: (kind, type, key path, Go type).
    fn rows() -> Vec<(String, String, String, String)> {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/collector-keys.tsv"
        ))
        .expect("the key data");
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[0].into(), f[1].into(), f[2].into(), f[3].into())
            })
            .collect()
    }

    /// A value of Go type `go` plausible enough for the parser to get past the key itself.
    fn sample(go: &str) -> Value {
        let leaf = go.trim_start_matches('*');
        if leaf.starts_with("[]") {
            return Value::Sequence(Vec::new());
        }
        if leaf.starts_with("{}") || leaf.ends_with("MapList") || leaf.starts_with("map[") {
            return Value::Mapping(Mapping::new());
        }
        match leaf {
            "bool" => Value::Bool(true),
            "time.Duration" => Value::String("1s".into()),
            "int" | "int32" | "int64" | "uint" | "uint16" | "uint32" | "uint64" | "float64" => {
                Value::Number(1.into())
            }
            "string" | "configopaque.String" | "component.ID" => Value::String("x".into()),
            // Named Go types: structs get `{}`, their keys are checked one by one.
            _ if leaf.chars().next().is_some_and(char::is_uppercase) || leaf.contains('.') => {
                Value::Mapping(Mapping::new())
            }
            _ => Value::String("x".into()),
        }
    }

    /// A component config holding only `path` (`a::b[]::c`, `a::*::b`) set to `leaf`.
    fn nested(path: &str, leaf: Value) -> Value {
        let mut segs: Vec<&str> = path.split("::").collect();
        let last = segs.pop().unwrap_or_default();
        let mut v = {
            let mut m = Mapping::new();
            let (name, list) = match last.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (last, false),
            };
            m.insert(
                Value::String(name.into()),
                if list {
                    Value::Sequence(vec![leaf])
                } else {
                    leaf
                },
            );
            Value::Mapping(m)
        };
        for seg in segs.into_iter().rev() {
            let (name, list) = match seg.strip_suffix("[]") {
                Some(n) => (n, true),
                None => (seg, false),
            };
            let inner = if list { Value::Sequence(vec![v]) } else { v };
            let mut m = Mapping::new();
            m.insert(
                Value::String(if name == "*" { "x".into() } else { name.into() }),
                inner,
            );
            v = Value::Mapping(m);
        }
        v
    }

    fn check(kind: &str, ty: &str, cfg: &Value) -> Option<Result<(), ConfigError>> {
        let f = crate::components::factories().expect("the registry");
        let path = format!("{kind}s::{ty}");
        Some(match kind {
            "receiver" => f.receivers.get(ty)?.validate(&path, cfg),
            "processor" => f.processors.get(ty)?.validate(&path, cfg),
            "exporter" => f.exporters.get(ty)?.validate(&path, cfg),
            "extension" => f.extensions.get(ty)?.validate(&path, cfg),
            _ => return None,
        })
    }

    fn accepted(kind: &str, ty: &str) -> Vec<strata_pipelines::factory::AcceptedKey> {
        let f = crate::components::factories().expect("the registry");
        match kind {
            "receiver" => f.receivers.get(ty).map(|f| f.accepted()),
            "processor" => f.processors.get(ty).map(|f| f.accepted()),
            "exporter" => f.exporters.get(ty).map(|f| f.accepted()),
            "extension" => f.extensions.get(ty).map(|f| f.accepted()),
            _ => None,
        }
        .unwrap_or_default()
    }

    /// Second type names registered for the same component (`src/components.rs`), with the
    /// name the key data uses.
    const ALIASES: &[(&str, &str, &str)] = &[
        ("exporter", "otlp_grpc", "otlp"),
        ("exporter", "otlphttp", "otlp_http"),
        ("exporter", "load_balancing", "loadbalancing"),
        ("receiver", "host_metrics", "hostmetrics"),
        ("processor", "resource_detection", "resourcedetection"),
    ];

    /// Components with a Collector counterpart the key data does not cover (yet), and what
    /// they are.
    const NOTES: &[(&str, &str, &str)] = &[(
        "exporter",
        "logging",
        "The Collector's `logging` exporter, deprecated in v0.86 and removed in v0.111 (`exporter/loggingexporter` before opentelemetry-collector f9d44de9b6), run as `debug`: keys `loglevel`, `verbosity`, `sampling_initial`, `sampling_thereafter`.",
    )];

    /// The Collector's doc page of a component (its README upstream).
    fn doc_link(source: &str) -> String {
        // `repo@commit:path/to/component/config.go` → the component directory on GitHub.
        let (repo, rest) = source.split_once('@').unwrap_or(("", ""));
        let path = rest.split_once(':').map_or("", |(_, p)| p);
        let dir = path.rsplit_once('/').map_or(path, |(d, _)| d);
        format!("https://github.com/{repo}/tree/main/{dir}")
    }

    /// The reference page of one component, generated from the key data, the factory's
    /// accepted keys and Strata's parser.
    fn page(kind: &str, ty: &str, rows: &[&(String, String, String, String, String)]) -> String {
        let f = crate::components::factories().expect("the registry");
        let signals = match kind {
            "receiver" => f.receivers.get(ty).map(|f| f.signals()),
            "processor" => f.processors.get(ty).map(|f| f.signals()),
            "exporter" => f.exporters.get(ty).map(|f| f.signals()),
            _ => Some(&[][..]),
        }
        .unwrap_or(&[]);
        let signals: Vec<&str> = signals.iter().map(|s| s.as_str()).collect();
        let acc = accepted(kind, ty);
        let mut out = format!(
            "# `{ty}` {kind}\n\n<!-- generated by `STRATA_BLESS=1 cargo test --bin strata keys`: edit the code, not this page -->\n\n"
        );
        if !signals.is_empty() {
            out.push_str(&format!("Signals: {}.\n\n", signals.join(", ")));
        }
        if let Some(first) = rows.first() {
            out.push_str(&format!(
                "The OpenTelemetry Collector's component: [{}]({}). Every key of its config, from `tests/fixtures/collector-keys.tsv`:\n\n",
                doc_link(&first.4).trim_start_matches("https://github.com/"),
                doc_link(&first.4)
            ));
            out.push_str("| key | Go type | in Strata | declared in |\n|---|---|---|---|\n");
            for (_, _, key, go, src) in rows.iter().map(|r| (&r.0, &r.1, &r.2, &r.3, &r.4)) {
                let status = match acc.iter().find(|a| a.covers(key)) {
                    Some(a) if a.optional_section => {
                        "implemented (`enabled: false` turns the section off)".to_owned()
                    }
                    Some(a) if a.why.starts_with("not implemented yet") => {
                        format!("**pending**: accepted without effect, {}", a.why)
                    }
                    Some(a) => format!("accepted without effect: {}", a.why),
                    None => "implemented".to_owned(),
                };
                let file = src.split_once(':').map_or(src.as_str(), |(_, p)| p);
                out.push_str(&format!(
                    "| `{key}` | `{}` | {} | `{file}` |\n",
                    go.replace('|', "\\|"),
                    status.replace('|', "\\|")
                ));
            }
        } else if let Some((_, _, note)) = NOTES.iter().find(|(k, t, _)| *k == kind && *t == ty) {
            out.push_str(note);
            out.push('\n');
        } else if [
            "hostmetrics",
            "zipkin",
            "attributes",
            "filter",
            "resource",
            "resourcedetection",
            "redaction",
            "loadbalancing",
            "basicauth",
            "bearertokenauth",
            "file_storage",
            "headers_setter",
            "health_check",
        ]
        .contains(&ty)
        {
            out.push_str("The Collector's contrib component of this name; its key set is not in `tests/fixtures/collector-keys.tsv` yet, so this page does not list it.\n");
        } else {
            out.push_str("Strata's own component (no Collector counterpart): its keys are in its module's documentation.\n");
        }
        out
    }

    /// `docs/components/<kind>s/<type>.md` for every registered component agrees with the key
    /// data, the accepted keys and the parser; `STRATA_BLESS=1` rewrites the pages.
    #[test]
    fn component_reference_pages_agree_with_the_code() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/components");
        let data: Vec<(String, String, String, String, String)> = {
            let text = std::fs::read_to_string(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("tests/fixtures/collector-keys.tsv"),
            )
            .expect("the key data");
            text.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .map(|l| {
                    let f: Vec<&str> = l.split('\t').collect();
                    (
                        f[0].into(),
                        f[1].into(),
                        f[2].into(),
                        f[3].into(),
                        f[4].into(),
                    )
                })
                .collect()
        };
        let f = crate::components::factories().expect("the registry");
        let mut all: Vec<(&str, &str)> = Vec::new();
        all.extend(f.receivers.keys().map(|t| ("receiver", *t)));
        all.extend(f.processors.keys().map(|t| ("processor", *t)));
        all.extend(f.exporters.keys().map(|t| ("exporter", *t)));
        all.extend(f.extensions.keys().map(|t| ("extension", *t)));
        let bless = std::env::var("STRATA_BLESS").as_deref() == Ok("1");
        let mut stale = Vec::new();
        for (kind, ty) in all {
            let rows: Vec<_> = data.iter().filter(|r| r.0 == kind && r.1 == ty).collect();
            let want = match ALIASES.iter().find(|(k, a, _)| *k == kind && *a == ty) {
                Some((_, _, canonical)) => format!(
                    "# `{ty}` {kind}\n\n<!-- generated by `STRATA_BLESS=1 cargo test --bin strata keys`: edit the code, not this page -->\n\nThe same component as [`{canonical}`]({canonical}.md), under its other name.\n"
                ),
                None => page(kind, ty, &rows),
            };
            let file = root.join(format!("{kind}s/{ty}.md"));
            if bless {
                std::fs::create_dir_all(file.parent().expect("a parent")).expect("docs dir");
                std::fs::write(&file, &want).expect("write the page");
            } else if std::fs::read_to_string(&file).ok().as_deref() != Some(want.as_str()) {
                stale.push(file.display().to_string());
            }
        }
        assert!(
            stale.is_empty(),
            "out of date (run `STRATA_BLESS=1 cargo test --bin strata keys`):\n{}",
            stale.join("\n")
        );
    }

    /// Every key of the data is parsed by Strata or accepted with a reason; none is refused as
    /// unknown. A key the parser refuses names the component, the key and where the
    /// Collector declares it.
    #[test]
    fn every_collector_key_is_implemented_or_accepted() {
        let rows = rows();
        assert!(rows.len() > 300, "{} keys", rows.len());
        let mut missing = Vec::new();
        let mut checked = 0;
        for (kind, ty, key, go) in &rows {
            let acc = accepted(kind, ty);
            if acc.iter().any(|a| a.covers(key)) {
                checked += 1;
                continue;
            }
            let cfg = nested(key, sample(go));
            let Some(r) = check(kind, ty, &cfg) else {
                missing.push(format!("{kind} {ty}: not registered"));
                continue;
            };
            checked += 1;
            if let Err(e) = r
                && e.message.starts_with("unknown key ")
            {
                missing.push(format!("{kind} {ty} {key} ({go}): {}", e.path));
            }
        }
        assert!(
            missing.is_empty(),
            "{} of {checked} Collector keys are neither implemented nor accepted:\n{}",
            missing.len(),
            missing.join("\n")
        );
    }
}
