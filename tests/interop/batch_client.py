#!/usr/bin/env python3
"""Interop client for tests/batch_throughput.rs: the OpenTelemetry Python SDK's
BatchSpanProcessor with its default settings (queue 2048, batches of 512, 5 s delay) produces
spans at a steady rate, as an instrumented application does, and reports how many spans the SDK
itself dropped ("Queue full, dropping span." — what a slow answer from the collector causes).

Usage: batch_client.py --endpoint 127.0.0.1:PORT --rate 5000 --seconds 10
Prints one JSON line: {"ended": N, "exported": E, "dropped": N - E, "drop_warnings": W, "failures": [...]}.
"""
import argparse
import json
import logging
import time

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from peers import FAILURES, Checked


class Counting(Checked):
    """Counts the spans the SDK handed to the exporter (what it did not drop)."""

    def __init__(self, inner):
        super().__init__(inner)
        self.exported = 0

    def export(self, batch, *args, **kwargs):
        self.exported += len(batch)
        return super().export(batch, *args, **kwargs)


class DropCounter(logging.Handler):
    """Counts the SDK's own drop warnings."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.dropped = 0

    def emit(self, record):
        if "dropping" in record.getMessage().lower():
            self.dropped += 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--rate", type=int, default=5000)
    p.add_argument("--seconds", type=float, default=10)
    a = p.parse_args()
    drops = DropCounter()
    logging.getLogger("opentelemetry").addHandler(drops)
    provider = TracerProvider(resource=Resource.create({"service.name": "batch-client"}))
    exporter = Counting(OTLPSpanExporter(endpoint=a.endpoint, insecure=True))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("strata.interop.batch")
    tick = 0.01
    per_tick = max(1, int(a.rate * tick))
    ended = 0
    start = time.monotonic()
    while time.monotonic() - start < a.seconds:
        for _ in range(per_tick):
            with tracer.start_as_current_span("work"):
                pass
            ended += 1
        next_tick = start + (ended / per_tick) * tick
        delay = next_tick - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.monotonic() - start
    provider.shutdown()
    # Dropped: spans that never reached the exporter (the SDK logs only some of its drops).
    print(json.dumps({"ended": ended, "seconds": elapsed, "exported": exporter.exported,
                      "dropped": ended - exporter.exported, "drop_warnings": drops.dropped,
                      "failures": FAILURES}))


if __name__ == "__main__":
    main()
