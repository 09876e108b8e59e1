#!/usr/bin/env python3
"""Interop client for tests/security.rs: the OpenTelemetry Python SDK exports spans over
OTLP/gRPC with TLS (the test's throwaway CA), optionally a client certificate (mTLS), and a
bearer token, as an application in a tenant's pod would.

Usage: tls_client.py --endpoint 127.0.0.1:PORT --ca CA.pem [--cert C --key K] --token T
                     --spans N --attr key=value ...
Exits non-zero when any export failed.
"""
import argparse
import sys

import grpc
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from peers import FAILURES, Checked


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--token", required=True)
    p.add_argument("--spans", type=int, default=100)
    p.add_argument("--attr", action="append", default=[])
    a = p.parse_args()

    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(a.ca),
        private_key=read(a.key) if a.key else None,
        certificate_chain=read(a.cert) if a.cert else None,
    )
    exporter = Checked(OTLPSpanExporter(
        endpoint=a.endpoint,
        credentials=creds,
        headers=(("authorization", f"Bearer {a.token}"),),
    ))
    attrs = {"service.name": "tls-client"}
    attrs.update(kv.split("=", 1) for kv in a.attr)
    provider = TracerProvider(resource=Resource.create(attrs))
    provider.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=50))
    tracer = provider.get_tracer("strata.interop.tls")
    for i in range(a.spans):
        with tracer.start_as_current_span(f"span-{i}"):
            pass
    provider.force_flush()
    provider.shutdown()
    if FAILURES:
        print("\n".join(FAILURES), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
