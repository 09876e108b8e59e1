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
