use std::collections::BTreeMap;

use base64::Engine as _;
use strata_pipelines::auth::{AuthRequest, ServerAuthenticator};
use strata_pipelines::config::parse_component;

use super::*;

fn yaml(s: &str) -> YamlValue {
    serde_yaml_ng::from_str(s).unwrap()
}

fn basic(a: &BasicAuth, user: &str, pw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut h = http::HeaderMap::new();
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    h.insert("authorization", format!("Basic {v}").parse().unwrap());
    a.authenticate(&AuthRequest {
        headers: &h,
        peer: None,
    })
    .map_err(|e| e.0)
}

#[test]
fn config_defaults_testdata_and_errors() {
    let e = parse_component::<Config>("x", yaml("{}")).unwrap_err();
    assert_eq!(e.path, "x");
    parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    let e = parse_component::<Config>("x", yaml("htpasswd: {fil: a}")).unwrap_err();
    assert!(e.message.contains("unknown key"), "{e}");
    let e = parse_component::<Config>("x", yaml("htpasswd: {file: /nonexistent}")).unwrap_err();
    assert_eq!(e.path, "x::htpasswd::file");
    let e =
        parse_component::<Config>("x", yaml("htpasswd: {inline: 'no-colon-here'}")).unwrap_err();
    assert_eq!(e.path, "x::htpasswd::inline");
    assert!(!e.message.contains("no-colon-here"), "{e}");
    let e =
        parse_component::<Config>("x", yaml("htpasswd: {inline: 'u:$6$salt$hash'}")).unwrap_err();
    assert!(e.message.contains("unsupported"), "{e}");
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    assert!(!format!("{c:?}").contains("w0rd"));
}

/// Hashes made by `openssl passwd -apr1 -salt abcdefgh 'p@ss w0rd'` and
/// `printf 'p@ss w0rd' | openssl dgst -sha1 -binary | base64`; bcrypt by the crate.
#[test]
fn apache_hash_schemes_verify() {
    assert_eq!(
        htpasswd::apr1(b"p@ss w0rd", b"abcdefgh"),
        "$apr1$abcdefgh$UkZoB0qp2g9KE9.krwnMP0"
    );
    assert!(verify("$apr1$abcdefgh$UkZoB0qp2g9KE9.krwnMP0", "p@ss w0rd"));
    assert!(!verify(
        "$apr1$abcdefgh$UkZoB0qp2g9KE9.krwnMP0",
        "p@ss w0rd!"
    ));
    assert!(verify("{SHA}hkh4dSUt9vfhE3nIRwDeOxmhD7w=", "p@ss w0rd"));
    assert!(!verify("{SHA}hkh4dSUt9vfhE3nIRwDeOxmhD7w=", "other"));
    let b = bcrypt::hash("p@ss w0rd", 4)
        .unwrap()
        .replacen("$2b$", "$2y$", 1);
    assert!(verify(&b, "p@ss w0rd"));
    assert!(!verify(&b, "nope"));
    assert!(verify("plain", "plain"));
}

#[test]
fn users_from_file_and_inline_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("htpasswd");
    let b = bcrypt::hash("sidecar-pw", 4).unwrap();
    std::fs::write(&f, format!("sidecar:{b}\n")).unwrap();
    let c = parse_component::<Config>(
        "x",
        yaml(&format!(
            "htpasswd: {{file: {}, inline: 'node:$apr1$abcdefgh$UkZoB0qp2g9KE9.krwnMP0'}}",
            f.display()
        )),
    )
    .unwrap();
    let a = BasicAuth::new(c).unwrap();
    assert_eq!(
        basic(&a, "sidecar", "sidecar-pw").unwrap()["username"],
        "sidecar"
    );
    assert_eq!(
        basic(&a, "sidecar", "sidecar-pw").unwrap()["username"],
        "sidecar"
    );
    assert_eq!(basic(&a, "node", "p@ss w0rd").unwrap()["username"], "node");
    for (u, p) in [("sidecar", "wrong"), ("nobody", "p@ss w0rd"), ("node", "")] {
        let e = basic(&a, u, p).unwrap_err();
        assert!(!e.contains(p) || p.is_empty(), "{e}");
    }
    // The user removed from the file: refused after the reload, even though cached.
    std::fs::write(&f, "").unwrap();
    assert!(a.reload().0);
    assert!(basic(&a, "sidecar", "sidecar-pw").is_err());
    assert_eq!(a.challenge(), "Basic realm=\"strata\"");
}

#[test]
fn client_auth_header() {
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    let a = BasicAuth::new(c).unwrap();
    let h = ClientAuthenticator::headers(&a, None).unwrap();
    let want = base64::engine::general_purpose::STANDARD.encode("node:p@ss w0rd");
    assert_eq!(h[0].1, format!("Basic {want}").as_str());
    // What it sends, the server side accepts.
    assert_eq!(basic(&a, "node", "p@ss w0rd").unwrap()["username"], "node");
}

/// Any Authorization header and any htpasswd text: an answer, never a panic.
#[test]
fn arbitrary_headers_and_htpasswd_never_panic() {
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    let a = BasicAuth::new(c).unwrap();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"Basic bearer:=+/$apr1${SHA}abcXYZ019 \t\x7f";
    for _ in 0..5_000 {
        let len = (next() % 48) as usize;
        let text: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let text = String::from_utf8_lossy(&text).into_owned();
        let _ = htpasswd::Htpasswd::parse(&text);
        let _ = verify(&text, "pw");
        if let Ok(v) = http::HeaderValue::from_str(&text) {
            let mut h = http::HeaderMap::new();
            h.insert("authorization", v);
            let _ = a.authenticate(&AuthRequest {
                headers: &h,
                peer: None,
            });
        }
    }
}
