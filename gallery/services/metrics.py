"""/metrics in Prometheus's text format, from the database on each scrape: every web and
worker process writes its counts there (gallery.services.dashboard), so no multiprocess
registry is needed and a restart loses nothing. Needs the optional `metrics` extra."""

from __future__ import annotations

from collections.abc import Iterator

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Sum

from gallery.models import LATENCY_BUCKETS, EndpointStat, Generation
from gallery.services import queue


def _prometheus():
    try:
        import prometheus_client
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )
    except ImportError:
        raise ImproperlyConfigured(
            "GALLERY_METRICS is on but prometheus-client is not installed: "
            "pip install '.[metrics]'."
        ) from None
    return prometheus_client, CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily


class _Collector:
    def collect(self) -> Iterator:
        _, Counter, Gauge, Histogram = _prometheus()
        depth = queue.depth()
        waiting = Gauge("gallery_queue_depth", "Generations by queue state.", labels=["state"])
        waiting.add_metric(["queued"], depth.queued)
        waiting.add_metric(["running"], depth.running)
        yield waiting
        yield Gauge(
            "gallery_queue_oldest_seconds",
            "Seconds the oldest queued generation has waited.",
            value=depth.oldest_queued_seconds,
        )
        finished = Counter(
            "gallery_generations_finished", "Generations finished, by status.", labels=["status"]
        )
        for status in (Generation.Status.SUCCEEDED, Generation.Status.FAILED):
            finished.add_metric([status], Generation.objects.filter(status=status).count())
        yield finished

        calls = Counter(
            "gallery_endpoint_calls",
            "Calls to the endpoint by outcome (ok, or a failure code).",
            labels=["endpoint", "outcome"],
        )
        latency = Histogram(
            "gallery_endpoint_latency_seconds",
            "Seconds per call to the endpoint.",
            labels=["endpoint"],
        )
        per_endpoint: dict[str, tuple[list[int], float]] = {}
        rows = EndpointStat.objects.values("endpoint", "outcome").annotate(
            n=Sum("calls"), seconds=Sum("seconds_total")
        )
        for row in rows:
            calls.add_metric([row["endpoint"], row["outcome"]], row["n"])
        for stat in EndpointStat.objects.only("endpoint", "buckets", "seconds_total"):
            counts, seconds = per_endpoint.get(
                stat.endpoint, ([0] * (len(LATENCY_BUCKETS) + 1), 0.0)
            )
            for index, n in enumerate(stat.buckets):
                counts[index] += n
            per_endpoint[stat.endpoint] = (counts, seconds + stat.seconds_total)
        for name, (counts, seconds) in sorted(per_endpoint.items()):
            cumulative, running = [], 0
            for bound, n in zip((*map(str, LATENCY_BUCKETS), "+Inf"), counts, strict=True):
                running += n
                cumulative.append((bound, running))
            latency.add_metric([name], cumulative, sum_value=seconds)
        yield calls
        yield latency


def exposition() -> tuple[bytes, str]:
    """The body and content type of one scrape."""
    prometheus_client, *_ = _prometheus()
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(_Collector())
    return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
