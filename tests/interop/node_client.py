#!/usr/bin/env python3
"""Node-pipeline client: the OpenTelemetry Python SDK sends, over OTLP/HTTP (protobuf), spans
with secrets in their attributes, health-check spans, debug and info logs, and metrics, to a
`strata` node pipeline; it records every OTLP response the SDK received (with its partial
success) and writes a manifest for tests/node_pipeline.rs.

Usage: node_client.py --endpoint http://127.0.0.1:PORT --manifest OUT
"""
import argparse
import json
import logging
import sys

import requests
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind

try:  # The logs SDK is still underscore-prefixed in some releases.
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
except ImportError:  # pragma: no cover
    from opentelemetry.sdk.logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk.logs.export import BatchLogRecordProcessor

RESPONSES = {"traces": [], "metrics": [], "logs": []}
PARSERS = {
    "traces": (trace_service_pb2.ExportTraceServiceResponse, "rejected_spans"),
    "metrics": (metrics_service_pb2.ExportMetricsServiceResponse, "rejected_data_points"),
    "logs": (logs_service_pb2.ExportLogsServiceResponse, "rejected_log_records"),
}


class RecordingSession(requests.Session):
    """A requests session that keeps, per signal, the status and partial success of every
    OTLP/HTTP response the SDK's exporters receive."""

    def request(self, method, url, *args, **kwargs):
        response = super().request(method, url, *args, **kwargs)
        signal = url.rsplit("/", 1)[-1]
        cls, field = PARSERS[signal]
        entry = {"status": response.status_code, "rejected": 0, "message": ""}
        if response.status_code == 200 and response.content:
            msg = cls()
            msg.ParseFromString(response.content)
            entry["rejected"] = getattr(msg.partial_success, field)
            entry["message"] = msg.partial_success.error_message
        RESPONSES[signal].append(entry)
        return response


SECRETS = {
    "http.url": "https://user:secret@host/x?password=p",
    "db.password": "hunter2",
    "http.request.header.authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig",
    "payment.card": "4111 1111 1111 1111",
    "http.request.method": "GET",
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--manifest", required=True)
    p.add_argument("--spans", type=int, default=50)
    p.add_argument("--healthz", type=int, default=20)
    a = p.parse_args()

    resource = Resource.create({"service.name": "checkout"})

    tp = TracerProvider(resource=resource)
    tp.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{a.endpoint}/v1/traces", session=RecordingSession()),
        max_export_batch_size=64))
    tracer = tp.get_tracer("strata.node-test", "1.0.0")
    for i in range(a.spans):
        with tracer.start_as_current_span(f"charge-{i}", kind=SpanKind.SERVER) as span:
            for k, v in SECRETS.items():
                span.set_attribute(k, v)
            span.set_attribute("index", i)
            span.add_event("retry", {"note": "auth Bearer abcdefgh12345678 expired"})
    for i in range(a.healthz):
        with tracer.start_as_current_span("healthz", kind=SpanKind.SERVER) as span:
            span.set_attribute("index", i)
    tp.force_flush()
    tp.shutdown()

    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{a.endpoint}/v1/metrics", session=RecordingSession()),
        export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("strata.node-test", "1.0.0")
    meter.create_counter("checkout.requests", unit="{request}").add(7, {"route": "/pay"})
    noisy = meter.create_counter("noisy.debug.counter", unit="1")
    for route in ["/a", "/b", "/c"]:
        noisy.add(1, {"route": route})
    mp.shutdown()  # one collection and export (a force_flush first would export twice)

    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(
        OTLPLogExporter(endpoint=f"{a.endpoint}/v1/logs", session=RecordingSession())))
    log = logging.getLogger("node-test")
    log.propagate = False
    log.addHandler(LoggingHandler(level=logging.DEBUG, logger_provider=lp))
    log.setLevel(logging.DEBUG)
    for i in range(10):
        log.info("payment %d via https://svc:pa55w0rd@bank.example/api", i)
    for i in range(5):
        log.debug("debug detail %d", i)
    lp.force_flush()
    lp.shutdown()

    manifest = {"spans": a.spans, "healthz": a.healthz, "info_logs": 10, "debug_logs": 5,
                "noisy_points": 3, "responses": RESPONSES}
    with open(a.manifest, "w") as f:
        json.dump(manifest, f)
    failed = [r for rs in RESPONSES.values() for r in rs if r["status"] != 200]
    if failed:
        print(f"failed exports: {failed}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
