use std::collections::BTreeMap;

use strata_pipelines::auth::{AuthRequest, ServerAuthenticator};
use strata_pipelines::config::parse_component;

use super::*;

fn yaml(s: &str) -> YamlValue {
    serde_yaml_ng::from_str(s).unwrap()
}

fn auth(a: &BearerToken, header: Option<&str>) -> Result<BTreeMap<String, String>, String> {
    let mut h = http::HeaderMap::new();
    if let Some(v) = header {
        h.insert("authorization", v.parse().unwrap());
    }
    a.authenticate(&AuthRequest {
        headers: &h,
        peer: None,
    })
    .map_err(|e| e.0)
}

#[test]
fn config_defaults_testdata_and_errors() {
    let e = parse_component::<Config>("x", yaml("{}")).unwrap_err();
    assert!(e.message.contains("no token"), "{e}");
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    assert_eq!(c.tenants.len(), 2);
    assert_eq!(c.reload_interval, std::time::Duration::from_secs(2));
    let e = parse_component::<Config>("x", yaml("tokenz: [a]")).unwrap_err();
    assert!(e.message.contains("unknown key"), "{e}");
    let e = parse_component::<Config>("x", yaml("filename: /nonexistent/tokens")).unwrap_err();
    assert_eq!(e.path, "x::filename");
    let e = parse_component::<Config>("x", yaml("token: a\nheader: 'bad header'")).unwrap_err();
    assert_eq!(e.path, "x::header");
    let e = parse_component::<Config>(
        "x",
        yaml("tenants: {a: {tokens: [same-secret]}, b: {tokens: [same-secret]}}"),
    )
    .unwrap_err();
    assert_eq!(e.path, "x::tenants::b::tokens");
    assert!(!e.to_string().contains("same-secret"), "{e}");
    let e = parse_component::<Config>("x", yaml("tenants: {a: {}}")).unwrap_err();
    assert_eq!(e.path, "x::tenants::a");
}

#[test]
fn tokens_tenants_and_refusals() {
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    let a = BearerToken::new(c).unwrap();
    assert_eq!(
        auth(&a, Some("Bearer plain-token")).unwrap(),
        BTreeMap::new()
    );
    assert_eq!(
        auth(&a, Some("bearer token-a")).unwrap()["tenant"],
        "team-a"
    );
    assert_eq!(
        auth(&a, Some("Bearer token-b2")).unwrap()["tenant"],
        "team-b"
    );
    for bad in [
        None,
        Some("Bearer nope"),
        Some("Basic token-a"),
        Some("token-a"),
    ] {
        let e = auth(&a, bad).unwrap_err();
        assert!(!e.contains("nope") && !e.contains("token-a"), "{e}");
    }
    assert_eq!(a.challenge(), "Bearer realm=\"strata\"");
    // The client side sends the first plain token.
    let h = ClientAuthenticator::headers(&a, None).unwrap();
    assert_eq!(h[0].0, "authorization");
    assert_eq!(h[0].1, "Bearer plain-token");
    assert!(h[0].1.is_sensitive());
}

#[test]
fn a_token_file_is_reread_on_change_and_kept_when_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tokens");
    std::fs::write(&f, "# team b\nold-token\n").unwrap();
    let c = parse_component::<Config>(
        "x",
        yaml(&format!("tenants: {{b: {{filename: {}}}}}", f.display())),
    )
    .unwrap();
    let a = BearerToken::new(c).unwrap();
    assert_eq!(auth(&a, Some("Bearer old-token")).unwrap()["tenant"], "b");
    assert!(auth(&a, Some("Bearer new-token")).is_err());
    assert_eq!(a.reload(), (false, None));
    std::fs::write(&f, "new-token\n").unwrap();
    assert_eq!(a.reload(), (true, None));
    assert_eq!(auth(&a, Some("Bearer new-token")).unwrap()["tenant"], "b");
    assert!(auth(&a, Some("Bearer old-token")).is_err());
    // Gone (a Secret being swapped): the last tokens stay, the error is reported once.
    std::fs::remove_file(&f).unwrap();
    let (changed, err) = a.reload();
    assert!(!changed && err.is_some());
    assert_eq!(a.reload(), (false, None));
    assert!(auth(&a, Some("Bearer new-token")).is_ok());
}

#[test]
fn debug_output_never_shows_a_token() {
    let c = parse_component::<Config>("x", yaml(include_str!("testdata/config.yaml"))).unwrap();
    let s = format!("{c:?}");
    assert!(!s.contains("plain-token") && !s.contains("token-a"), "{s}");
}

#[test]
fn one_file_can_hold_every_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("tokens");
    std::fs::write(
        &f,
        "# tenant token\nteam-a tok-a\nteam-b\ttok-b\nplain-tok\n",
    )
    .unwrap();
    let c = parse_component::<Config>("x", yaml(&format!("filename: {}", f.display()))).unwrap();
    let a = BearerToken::new(c).unwrap();
    assert_eq!(auth(&a, Some("Bearer tok-a")).unwrap()["tenant"], "team-a");
    assert_eq!(auth(&a, Some("Bearer tok-b")).unwrap()["tenant"], "team-b");
    assert_eq!(auth(&a, Some("Bearer plain-tok")).unwrap(), BTreeMap::new());
    assert!(auth(&a, Some("Bearer team-a")).is_err());
    // A client sends the first token without a tenant.
    let h = ClientAuthenticator::headers(&a, None).unwrap();
    assert_eq!(h[0].1, "Bearer plain-tok");
}
