#!/usr/bin/env python3
"""Interop client: the OpenTelemetry Python SDK's Zipkin v2 exporter, JSON
(opentelemetry-exporter-zipkin-json) or protobuf (opentelemetry-exporter-zipkin-proto-http),
sends spans to a Zipkin endpoint, and this writes a manifest of exactly what the SDK recorded,
for tests/zipkin.rs.

Usage: zipkin_client.py --endpoint http://127.0.0.1:PORT/api/v2/spans --spans N
       [--protocol json|proto] --manifest OUT
Exits non-zero when any export failed.
"""
import argparse
import json
import sys

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from peers import FAILURES, Checked, Recorder


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--spans", type=int, default=200)
    p.add_argument("--manifest", required=True)
    p.add_argument("--protocol", choices=["json", "proto"], default="json")
    a = p.parse_args()
    if a.protocol == "proto":
        from opentelemetry.exporter.zipkin.proto.http import ZipkinExporter
    else:
        from opentelemetry.exporter.zipkin.json import ZipkinExporter

    tp = TracerProvider(resource=Resource.create({"service.name": "zipkin-interop"}))
    recorder = Recorder()
    tp.add_span_processor(recorder)
    tp.add_span_processor(SimpleSpanProcessor(Checked(ZipkinExporter(endpoint=a.endpoint))))
    tracer = tp.get_tracer("strata.zipkin", "1.0.0")
    kinds = [SpanKind.INTERNAL, SpanKind.SERVER, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]
    for i in range(a.spans):
        with tracer.start_as_current_span(f"op-{i}", kind=kinds[i % 5]) as span:
            span.set_attribute("index", i)
            span.set_attribute("ratio", i / 7.0)
            span.set_attribute("even", i % 2 == 0)
            span.set_attribute("peer", f"dpu-{i % 13}")
            span.set_attribute("tags", ["a", "b", f"x{i}"])
            span.add_event("checkpoint", {"step": i, "note": "half way", "ok": True})
            if i % 3 == 1:
                span.set_status(Status(StatusCode.OK))
            if i % 10 == 0:
                with tracer.start_as_current_span(f"child-{i}") as child:
                    child.set_attribute("parent.index", i)
                    child.set_status(Status(StatusCode.ERROR, "boom"))
    tp.force_flush()
    tp.shutdown()

    with open(a.manifest, "w") as f:
        json.dump({"spans": recorder.spans}, f)
    if FAILURES:
        print("export failures:", *FAILURES, sep="\n  ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
