//! Compiles the vendored OTLP `.proto` files (proto/README.md) into a descriptor set for
//! `otlp_json`, with protox: no `protoc` needed.
use prost::Message;

fn main() {
    let files = [
        "opentelemetry/proto/collector/trace/v1/trace_service.proto",
        "opentelemetry/proto/collector/metrics/v1/metrics_service.proto",
        "opentelemetry/proto/collector/logs/v1/logs_service.proto",
    ];
    println!("cargo:rerun-if-changed=proto");
    let set = protox::compile(files, ["proto"]).expect("the vendored OTLP protos compile");
    let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("otlp.fds"), set.encode_to_vec()).expect("write otlp.fds");
}
