#!/usr/bin/env python3
"""Interop client: the OpenTelemetry Python SDK sends traces, metrics and logs to an OTLP
endpoint (gRPC or HTTP) and writes a manifest of exactly what it sent, for tests/interop.rs.

Usage: otel_client.py --protocol grpc|http --endpoint http://127.0.0.1:PORT --spans N --manifest OUT
Exits non-zero when any export failed.
"""
import argparse
import json
import logging
import sys

from opentelemetry import metrics, trace
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

try:  # The logs SDK is still underscore-prefixed in some releases.
    from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
except ImportError:  # pragma: no cover
    from opentelemetry.sdk.logs import LoggerProvider, LoggingHandler
    from opentelemetry.sdk.logs.export import BatchLogRecordProcessor

from peers import FAILURES, Checked, Recorder


def exporters(protocol, endpoint):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        return (OTLPSpanExporter(endpoint=endpoint, insecure=True),
                OTLPMetricExporter(endpoint=endpoint, insecure=True),
                OTLPLogExporter(endpoint=endpoint, insecure=True))
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return (OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces"),
            OTLPMetricExporter(endpoint=f"{endpoint}/v1/metrics"),
            OTLPLogExporter(endpoint=f"{endpoint}/v1/logs"))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--protocol", choices=["grpc", "http"], required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--spans", type=int, default=1000)
    p.add_argument("--logs", type=int, default=200)
    p.add_argument("--manifest", required=True)
    a = p.parse_args()

    span_exp, metric_exp, log_exp = exporters(a.protocol, a.endpoint)
    resource = Resource.create({"service.name": f"interop-{a.protocol}", "deployment.environment": "test"})

    # Traces: spans with attributes of every type, events and links.
    tp = TracerProvider(resource=resource)
    recorder = Recorder()
    tp.add_span_processor(recorder)
    tp.add_span_processor(BatchSpanProcessor(Checked(span_exp), max_export_batch_size=256))
    tracer = tp.get_tracer("strata.interop", "1.0.0")
    previous = None
    for i in range(a.spans):
        links = [Link(previous.get_span_context(), {"link.index": i})] if previous is not None else []
        kind = [SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER][i % 5]
        with tracer.start_as_current_span(f"op-{i}", kind=kind, links=links) as span:
            span.set_attribute("index", i)
            span.set_attribute("ratio", i / 7.0)
            span.set_attribute("even", i % 2 == 0)
            span.set_attribute("peer", f"dpu-{i % 13}")
            span.set_attribute("tags", ["a", "b", str(i)])
            span.add_event("checkpoint", {"step": i, "note": "half way"})
            if i % 10 == 0:
                with tracer.start_as_current_span(f"child-{i}") as child:
                    child.set_attribute("parent.index", i)
                    child.set_status(Status(StatusCode.ERROR, "boom"))
            previous = span
    tp.force_flush()
    tp.shutdown()

    # Metrics: a counter, a histogram and an observable gauge.
    reader = PeriodicExportingMetricReader(Checked(metric_exp), export_interval_millis=3_600_000)
    mp = MeterProvider(resource=resource, metric_readers=[reader])
    meter = mp.get_meter("strata.interop", "1.0.0")
    counter = meter.create_counter("interop.requests", unit="{request}", description="requests")
    hist = meter.create_histogram("interop.latency", unit="ms", description="latency")
    meter.create_observable_gauge("interop.temperature", callbacks=[lambda _: [Observation(42.5, {"sensor": "cpu"})]], unit="Cel")
    for i in range(5):
        counter.add(3, {"route": "/v1/traces"})
        hist.record(10.0 * (i + 1), {"route": "/v1/traces"})
    mp.force_flush()
    mp.shutdown()

    # Logs through the logging bridge.
    lp = LoggerProvider(resource=resource)
    lp.add_log_record_processor(BatchLogRecordProcessor(Checked(log_exp)))
    handler = LoggingHandler(level=logging.INFO, logger_provider=lp)
    log = logging.getLogger(f"interop.{a.protocol}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    bodies = []
    for i in range(a.logs):
        body = f"log {a.protocol} #{i}"
        log.warning(body, extra={"log.index": i})
        bodies.append(body)
    lp.force_flush()
    lp.shutdown()

    manifest = {
        "spans": recorder.spans,
        "metrics": {"interop.requests": 15, "interop.latency": {"count": 5, "sum": 150.0}, "interop.temperature": 42.5},
        "logs": bodies,
    }
    with open(a.manifest, "w") as f:
        json.dump(manifest, f)
    if FAILURES:
        print("export failures: " + "; ".join(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
