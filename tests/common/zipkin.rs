//! An in-test Zipkin collector endpoint, and the Zipkin v2 API schema to judge what reaches it.

use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// Bodies a fake Zipkin server received: `(Content-Encoding, body)`.
pub type Posts = Arc<Mutex<Vec<(Option<String>, Vec<u8>)>>>;

/// An in-test Zipkin collector endpoint: `POST /api/v2/spans` → 202, recording each body.
pub fn zipkin_sink() -> (u16, Posts) {
    let posts: Posts = Arc::default();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let p = posts.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/api/v2/spans",
                axum::routing::post(move |headers: http::HeaderMap, body: bytes::Bytes| {
                    let p = p.clone();
                    async move {
                        let ce = headers
                            .get("content-encoding")
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_owned);
                        p.lock().unwrap().push((ce, body.to_vec()));
                        http::StatusCode::ACCEPTED
                    }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (port, posts)
}

/// The `ListOfSpans` schema of `zipkin2-api.yaml` as a JSON Schema (Swagger 2.0 definitions
/// are JSON Schema draft 4).
pub fn zipkin_schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/zipkin/zipkin2-api.yaml"
    ))
    .unwrap();
    let api: Value = serde_yaml_ng::from_str(&text).unwrap();
    let schema = json!({
        "$schema": "http://json-schema.org/draft-04/schema#",
        "$ref": "#/definitions/ListOfSpans",
        "definitions": api["definitions"].clone(),
    });
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .unwrap()
}
