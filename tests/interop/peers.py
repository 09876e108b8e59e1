"""What the interop clients share: an exporter wrapper that records failed exports, and a span
processor that records every finished span as the Rust tests' manifests describe it."""
from opentelemetry.sdk.trace import SpanProcessor

FAILURES = []


class Checked:
    """Wraps an exporter and records every failed export (any result not named SUCCESS)."""

    def __init__(self, inner):
        self._inner = inner

    def export(self, batch, *args, **kwargs):
        result = self._inner.export(batch, *args, **kwargs)
        if getattr(result, "name", str(result)) != "SUCCESS":
            FAILURES.append(f"{type(self._inner).__name__}: {result}")
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


class Recorder(SpanProcessor):
    """Records every finished span: ids as lowercase hex, kind and status code as the SDK's
    0-based values, times in ns, attributes (tuples as lists), events, links, status description."""

    def __init__(self):
        self.spans = []

    def on_end(self, span):
        ctx = span.get_span_context()
        self.spans.append({
            "trace_id": format(ctx.trace_id, "032x"),
            "span_id": format(ctx.span_id, "016x"),
            "parent_span_id": format(span.parent.span_id, "016x") if span.parent else "",
            "name": span.name,
            "kind": span.kind.value,
            "start": span.start_time,
            "end": span.end_time,
            "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in span.attributes.items()},
            "events": [{"name": e.name, "time": e.timestamp, "attributes": dict(e.attributes)} for e in span.events],
            "links": [{"trace_id": format(l.context.trace_id, "032x"), "span_id": format(l.context.span_id, "016x")} for l in span.links],
            "status": span.status.status_code.value,
            "description": span.status.description or "",
        })
