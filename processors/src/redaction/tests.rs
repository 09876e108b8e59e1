//! The `redaction` processor: the rule order, the summary, hashing, presets (with examples
//! that must and must not be masked), log bodies, every signal, and its config.

use strata_pipelines::proto::tonic::common::v1::{
    AnyValue, ArrayValue, KeyValue, KeyValueList, any_value::Value as Av,
};
use strata_pipelines::testing::fake;
use strata_pipelines::{Logs, Metrics, Process, Traces, YamlValue, config::parse_component};

use super::presets::{self, PRESETS};
use super::{Config, RedactionProcessor, Redactor};

fn redactor(y: &str) -> Result<Redactor, String> {
    let v: YamlValue = serde_yaml_ng::from_str(y).unwrap();
    let c = parse_component::<Config>("processors::redaction", v).map_err(|e| e.to_string())?;
    Redactor::compile(&c, "processors::redaction").map_err(|e| e.to_string())
}

fn s(v: &str) -> Option<AnyValue> {
    Some(AnyValue {
        value: Some(Av::StringValue(v.into())),
    })
}

fn kv(k: &str, v: Option<AnyValue>) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: v,
        ..Default::default()
    }
}

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a Av> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    match get(attrs, key)? {
        Av::StringValue(s) => Some(s.clone()),
        other => Some(format!("{other:?}")),
    }
}

fn int(attrs: &[KeyValue], key: &str) -> Option<i64> {
    match get(attrs, key)? {
        Av::IntValue(i) => Some(*i),
        _ => None,
    }
}

/// Runs the redactor on one span's attributes through the processor.
fn run(r: Redactor, attrs: Vec<KeyValue>) -> Vec<KeyValue> {
    let mut t = fake::traces(1, 1);
    t.resource_spans[0].scope_spans[0].spans[0].attributes = attrs;
    let p = RedactionProcessor(std::sync::Arc::new(r));
    let mut out = Process::<Traces>::process(&p, t).unwrap().unwrap();
    std::mem::take(&mut out.resource_spans[0].scope_spans[0].spans[0].attributes)
}

const SECRET_SPAN: &[(&str, &str)] = &[
    ("http.url", "https://user:secret@host/x?password=p"),
    ("db.password", "hunter2"),
    ("http.request.header.authorization", "Bearer eyJhbGciOi.abc"),
    ("note", "retry with Authorization: Bearer tok-12345 please"),
    ("payment.card", "4111 1111 1111 1111"),
    ("http.method", "GET"),
];

fn secret_span() -> Vec<KeyValue> {
    SECRET_SPAN.iter().map(|(k, v)| kv(k, s(v))).collect()
}

#[test]
fn the_secrets_preset_masks_every_secret_of_the_acceptance_span() {
    let out = run(
        redactor("allow_all_keys: true\npresets: [secrets]").unwrap(),
        secret_span(),
    );
    assert_eq!(
        text(&out, "http.url").unwrap(),
        "https://user:****@host/x?password=****"
    );
    assert_eq!(text(&out, "db.password").unwrap(), "****");
    assert_eq!(
        text(&out, "http.request.header.authorization").unwrap(),
        "****"
    );
    assert_eq!(
        text(&out, "note").unwrap(),
        "retry with Authorization: Bearer **** please"
    );
    assert_eq!(text(&out, "payment.card").unwrap(), "****");
    assert_eq!(text(&out, "http.method").unwrap(), "GET");
    assert_eq!(int(&out, "redaction.masked.count"), Some(5));
    assert_eq!(
        text(&out, "redaction.masked.keys").unwrap(),
        "db.password,http.request.header.authorization,http.url,note,payment.card"
    );
    assert_eq!(int(&out, "redaction.redacted.count"), None);
}

#[test]
fn hmac_pseudonymises_each_secret_with_the_key() {
    let key = "k3y";
    let out = run(
        redactor(&format!(
            "allow_all_keys: true\npresets: [secrets]\nhash_function: hmac-sha256\nhmac_key: {key}\nsummary: info"
        ))
        .unwrap(),
        secret_span(),
    );
    let k = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.as_bytes());
    let mac = |v: &str| {
        ring::hmac::sign(&k, v.as_bytes())
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        text(&out, "http.url").unwrap(),
        format!(
            "https://user:{}@host/x?password={}",
            mac("secret"),
            mac("p")
        )
    );
    assert_eq!(text(&out, "db.password").unwrap(), mac("hunter2"));
    assert_eq!(
        text(&out, "payment.card").unwrap(),
        mac("4111 1111 1111 1111")
    );
    assert_eq!(int(&out, "redaction.masked.count"), Some(5));
    assert_eq!(
        text(&out, "redaction.masked.keys"),
        None,
        "info has no keys"
    );
    // A different key gives different pseudonyms.
    let other = run(
        redactor(
            "allow_all_keys: true\npresets: [secrets]\nhash_function: hmac-sha256\nhmac_key: other",
        )
        .unwrap(),
        secret_span(),
    );
    assert_ne!(text(&other, "db.password"), text(&out, "db.password"));
}

#[test]
fn digests_are_the_lowercase_hex_of_the_replaced_text() {
    // `printf hunter2 | sha256sum`, python hashlib.sha3_256, `| sha1sum`, `| md5sum`
    let cases = [
        (
            "sha256",
            "f52fbd32b2b3b86ff88ef6c490628285f482af15ddcb29541f94bcf526a3f6c7",
        ),
        (
            "sha3",
            "3ec80fc0faa8db8b7e6e99c74136054965901a8adf7fd6f51b1962a4c0dcab1c",
        ),
        ("sha1", "f3bbbd66a63d4bf1747940578ec3d0103530e21d"),
        ("md5", "2ab96390c7dbe3439de74d0c9b0b1767"),
    ];
    for (f, want) in cases {
        let out = run(
            redactor(&format!(
                "allow_all_keys: true\nblocked_key_patterns: [password]\nhash_function: {f}"
            ))
            .unwrap(),
            vec![kv("db.password", s("hunter2"))],
        );
        assert_eq!(text(&out, "db.password").unwrap(), want, "{f}");
    }
}

#[test]
fn keys_not_allowed_are_deleted_and_the_rules_apply_in_order() {
    let r = redactor(
        "allowed_keys: [id, name, email, card]
ignored_keys: [safe]
blocked_key_patterns: ['^na']
blocked_values: ['4[0-9]{15}']
allowed_values: ['@example\\.com$']
summary: debug",
    )
    .unwrap();
    let out = run(
        r,
        vec![
            kv("id", s("7")),
            kv("name", s("alice")),
            kv("email", s("4111111111111111@example.com")),
            kv("card", s("card 4111111111111111 x")),
            kv("safe", s("4111111111111111")),
            kv("zeta", s("gone")),
            kv("alpha", s("gone too")),
        ],
    );
    assert_eq!(text(&out, "id").unwrap(), "7");
    assert_eq!(text(&out, "name").unwrap(), "****", "blocked key");
    assert_eq!(
        text(&out, "email").unwrap(),
        "4111111111111111@example.com",
        "allowed value wins over a blocked one"
    );
    assert_eq!(text(&out, "card").unwrap(), "card **** x");
    assert_eq!(text(&out, "safe").unwrap(), "4111111111111111", "ignored");
    assert_eq!(text(&out, "zeta"), None);
    assert_eq!(text(&out, "alpha"), None);
    assert_eq!(int(&out, "redaction.redacted.count"), Some(2));
    assert_eq!(text(&out, "redaction.redacted.keys").unwrap(), "alpha,zeta");
    assert_eq!(int(&out, "redaction.masked.count"), Some(2));
    assert_eq!(text(&out, "redaction.masked.keys").unwrap(), "card,name");
    assert_eq!(int(&out, "redaction.allowed.count"), Some(1));
    assert_eq!(text(&out, "redaction.allowed.keys").unwrap(), "email");
    assert_eq!(int(&out, "redaction.ignored.count"), Some(1));
}

#[test]
fn the_default_config_fails_closed_and_summaries_accumulate() {
    let out = run(
        redactor("{}").unwrap(),
        vec![kv("a", s("1")), kv("b", s("2"))],
    );
    assert_eq!(out.len(), 2, "only the summary is left: {out:?}");
    assert_eq!(int(&out, "redaction.redacted.count"), Some(2));
    // A second processor adds to the first one's summary.
    let r = redactor("allow_all_keys: true\nblocked_values: [x]").unwrap();
    let mut attrs = vec![
        kv("c", s("xx")),
        kv(
            "redaction.masked.count",
            Some(AnyValue {
                value: Some(Av::IntValue(3)),
            }),
        ),
        kv("redaction.masked.keys", s("a,z")),
    ];
    r.apply_to(&mut attrs);
    assert_eq!(text(&attrs, "c").unwrap(), "********");
    assert_eq!(int(&attrs, "redaction.masked.count"), Some(4));
    assert_eq!(text(&attrs, "redaction.masked.keys").unwrap(), "a,c,z");
    // silent adds nothing.
    let out = run(
        redactor("allow_all_keys: true\nblocked_values: [x]\nsummary: silent").unwrap(),
        vec![kv("c", s("x"))],
    );
    assert_eq!(out.len(), 1);
}

#[test]
fn non_string_values_are_checked_only_with_redact_all_types() {
    let card = Some(AnyValue {
        value: Some(Av::IntValue(4_111_111_111_111_111)),
    });
    let plain = run(
        redactor("allow_all_keys: true\npresets: [card_numbers]").unwrap(),
        vec![kv("card", card.clone())],
    );
    assert_eq!(
        get(&plain, "card"),
        Some(&Av::IntValue(4_111_111_111_111_111))
    );
    let all = run(
        redactor("allow_all_keys: true\npresets: [card_numbers]\nredact_all_types: true").unwrap(),
        vec![kv("card", card)],
    );
    assert_eq!(text(&all, "card").unwrap(), "****");
    // A blocked key masks a value of any type.
    let out = run(
        redactor("allow_all_keys: true\nblocked_key_patterns: [pin]").unwrap(),
        vec![kv(
            "pin",
            Some(AnyValue {
                value: Some(Av::IntValue(1234)),
            }),
        )],
    );
    assert_eq!(text(&out, "pin").unwrap(), "****");
}

#[test]
fn every_preset_masks_its_examples_and_leaves_look_alikes() {
    // (preset, value that must change, what it must become, value that must not change)
    let table: &[(&str, &str, &str, &str)] = &[
        (
            "bearer_tokens",
            "Bearer abc.DEF-123",
            "Bearer ****",
            "bearer of news",
        ),
        (
            "basic_auth",
            "Basic dXNlcjpwYXNz",
            "Basic ****",
            "basic setup",
        ),
        (
            "url_credentials",
            "postgres://app:s3cr3t@db:5432/x",
            "postgres://app:****@db:5432/x",
            "http://host:8080/a@b",
        ),
        (
            "query_secrets",
            "/login?user=a&password=hunter2&x=1",
            "/login?user=a&password=****&x=1",
            "/search?q=password",
        ),
        (
            "private_keys",
            "k=-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
            "k=****",
            "-----BEGIN CERTIFICATE-----",
        ),
        (
            "cloud_keys",
            "id AKIAIOSFODNN7EXAMPLE",
            "id ****",
            "AKIA-short",
        ),
        (
            "cloud_keys",
            "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
            "****",
            "ghp_short",
        ),
        ("jwt", "t=eyJhbGc.eyJzdWIi.sig_1", "t=****", "eyJ alone"),
        (
            "card_numbers",
            "5500-0000-0000-0004",
            "****",
            "1700000000000000123",
        ),
        (
            "card_numbers",
            "pan 4111111111111111.",
            "pan ****.",
            "4111111111111112",
        ),
    ];
    for (preset, hit, want, miss) in table {
        let r = redactor(&format!("allow_all_keys: true\npresets: [{preset}]")).unwrap();
        let out = run(r, vec![kv("v", s(hit)), kv("w", s(miss))]);
        assert_eq!(text(&out, "v").unwrap(), *want, "{preset} on {hit:?}");
        assert_eq!(text(&out, "w").unwrap(), *miss, "{preset} on {miss:?}");
    }
    let keys = redactor("allow_all_keys: true\npresets: [credential_keys]").unwrap();
    let names = [
        ("db.password", true),
        ("http.request.header.authorization", true),
        ("aws.secret_key", true),
        ("x-auth-token", true),
        ("client_secret", true),
        ("http.response.header.set-cookie", true),
        ("k8s.secret.name", false),
        ("token.count", false),
        ("http.method", false),
    ];
    let out = run(keys, names.iter().map(|(k, _)| kv(k, s("v"))).collect());
    for (k, masked) in names {
        assert_eq!(text(&out, k).unwrap() == "****", masked, "{k}");
    }
    assert!(presets::luhn("4111 1111 1111 1111"));
    assert!(!presets::luhn("4111 1111 1111 1112"));
    // Every preset is documented in the module docs' table.
    let docs = include_str!("mod.rs");
    for p in PRESETS {
        assert!(
            docs.contains(&format!("| `{}` |", p.name)),
            "{} undocumented",
            p.name
        );
    }
}

#[test]
fn log_bodies_strings_maps_and_arrays() {
    let r = redactor(
        "allowed_keys: [msg, user, items, password, keep]
blocked_key_patterns: [password]
presets: [bearer_tokens]
allowed_values: ['^ok$']",
    )
    .unwrap();
    let p = RedactionProcessor(std::sync::Arc::new(r));
    let mut l: Logs = fake::logs(1, 2);
    let recs = &mut l.resource_logs[0].scope_logs[0].log_records;
    recs[0].body = s("auth Bearer abc123456 failed");
    recs[0].attributes = vec![kv("msg", s("m"))];
    let map = |pairs: Vec<KeyValue>| {
        Some(AnyValue {
            value: Some(Av::KvlistValue(KeyValueList { values: pairs })),
        })
    };
    recs[1].body = map(vec![
        kv(
            "user",
            map(vec![
                kv("password", s("p")),
                kv("extra", s("x")),
                kv("keep", s("ok")),
            ]),
        ),
        kv(
            "items",
            Some(AnyValue {
                value: Some(Av::ArrayValue(ArrayValue {
                    values: vec![s("Bearer t12345678").unwrap(), s("fine").unwrap()],
                })),
            }),
        ),
    ]);
    let out = Process::<Logs>::process(&p, l).unwrap().unwrap();
    let recs = &out.resource_logs[0].scope_logs[0].log_records;
    assert_eq!(
        recs[0].body.as_ref().unwrap().value,
        Some(Av::StringValue("auth Bearer **** failed".into()))
    );
    assert_eq!(
        int(&recs[0].attributes, "redaction.body.masked.count"),
        Some(1)
    );
    assert_eq!(
        text(&recs[0].attributes, "redaction.body.masked.keys").unwrap(),
        "body"
    );
    let a = &recs[1].attributes;
    assert_eq!(
        text(a, "redaction.body.masked.keys").unwrap(),
        "items.[0],user.password"
    );
    assert_eq!(
        text(a, "redaction.body.redacted.keys").unwrap(),
        "user.extra"
    );
    assert_eq!(text(a, "redaction.body.allowed.keys").unwrap(), "user.keep");
    let Some(Av::KvlistValue(top)) = &recs[1].body.as_ref().unwrap().value else {
        panic!("map body")
    };
    let Some(Av::KvlistValue(user)) = &top.values[0].value.as_ref().unwrap().value else {
        panic!("user map")
    };
    assert_eq!(text(&user.values, "password").unwrap(), "****");
    assert_eq!(text(&user.values, "extra"), None);
}

#[test]
fn resource_scope_and_data_point_attributes_of_every_signal() {
    let r =
        std::sync::Arc::new(redactor("allow_all_keys: true\nblocked_values: ['svc-\\d']").unwrap());
    let p = RedactionProcessor(r);
    let check_resource = |attrs: &[KeyValue]| {
        assert_eq!(text(attrs, "service.name").unwrap(), "****");
        assert_eq!(int(attrs, "redaction.masked.count"), Some(1));
    };
    let t = Process::<Traces>::process(&p, fake::traces(2, 1))
        .unwrap()
        .unwrap();
    t.resource_spans
        .iter()
        .for_each(|r| check_resource(&r.resource.as_ref().unwrap().attributes));
    let l = Process::<Logs>::process(&p, fake::logs(2, 1))
        .unwrap()
        .unwrap();
    l.resource_logs
        .iter()
        .for_each(|r| check_resource(&r.resource.as_ref().unwrap().attributes));

    let r = std::sync::Arc::new(redactor("allowed_keys: [service.name]").unwrap());
    let p = RedactionProcessor(r);
    let mut m = Process::<Metrics>::process(&p, fake::metrics(1, 1, 2))
        .unwrap()
        .unwrap();
    let mut points = 0;
    for metric in &mut m.resource_metrics[0].scope_metrics[0].metrics {
        strata_pipelines::visit::data_point_attributes(&mut metric.data, |a| {
            assert_eq!(text(a, "point"), None, "not allowed: deleted");
            assert_eq!(int(a, "redaction.redacted.count"), Some(1));
            points += 1;
        });
    }
    assert_eq!(points, 2);
    assert_eq!(
        m.resource_metrics[0]
            .resource
            .as_ref()
            .unwrap()
            .attributes
            .len(),
        1
    );
}

#[test]
fn config_default_unknown_fields_and_each_validation_error() {
    let c: Config =
        parse_component("p", serde_yaml_ng::from_str::<YamlValue>("{}").unwrap()).unwrap();
    assert_eq!(c, Config::default());
    assert!(!c.allow_all_keys);
    assert_eq!(c.summary, super::Summary::Debug);
    let cases = [
        ("nope: 1", "unknown key \"nope\""),
        (
            "blocked_values: [ok, '(']",
            "processors::redaction::blocked_values::1: invalid regexp",
        ),
        (
            "allowed_values: ['[']",
            "processors::redaction::allowed_values::0: invalid regexp",
        ),
        (
            "blocked_key_patterns: ['(']",
            "processors::redaction::blocked_key_patterns::0: invalid regexp",
        ),
        (
            "ignored_key_patterns: ['(']",
            "processors::redaction::ignored_key_patterns::0: invalid regexp",
        ),
        (
            "presets: [secrets, nope]",
            "processors::redaction::presets::1: unknown preset \"nope\"",
        ),
        (
            "hash_function: hmac-sha256",
            "processors::redaction::hmac_key: is required",
        ),
        (
            "hash_function: sha256\nhmac_key: k",
            "processors::redaction::hmac_key: is only used",
        ),
        (
            "hash_function: hmac-sha512\nhmac_key: ''",
            "processors::redaction::hmac_key: must not be empty",
        ),
        ("hash_function: crc32", "unknown variant `crc32`"),
        ("summary: loud", "unknown variant `loud`"),
    ];
    for (y, want) in cases {
        let e = redactor(y).err().unwrap_or_else(|| panic!("{y} loaded"));
        assert!(e.contains(want), "{y}: {e}");
    }
}

#[test]
fn the_collector_documentation_configs_load() {
    let v: YamlValue = serde_yaml_ng::from_str(include_str!("testdata/config.yaml")).unwrap();
    let procs = v["processors"].as_mapping().unwrap();
    assert_eq!(procs.len(), 4);
    for (k, c) in procs {
        let path = format!("processors::{}", k.as_str().unwrap());
        let cfg = parse_component::<Config>(&path, c.clone()).unwrap_or_else(|e| panic!("{e}"));
        Redactor::compile(&cfg, &path).unwrap_or_else(|e| panic!("{e}"));
    }
}
