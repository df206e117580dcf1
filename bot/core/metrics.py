"""Prometheus metrics, one registry per app so that several apps (tests) never collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.015, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_seconds = Histogram(
            "frontdesk_http_request_seconds",
            "HTTP request latency by route and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.errors = Counter(
            "frontdesk_http_errors_total",
            "HTTP responses with status >= 400 by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.routes = Counter(
            "frontdesk_dialogue_routes_total",
            "Bot replies by route (template, retrieval, action, fallback, handoff, ...).",
            ["route"],
            registry=self.registry,
        )
        self.model_seconds = Histogram(
            "frontdesk_model_batch_seconds",
            "Seconds one batched forward pass took, by model (intent, sentiment).",
            ["model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "frontdesk_model_batch_size",
            "Messages per batched forward pass, by model (intent, sentiment).",
            ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            "frontdesk_model_queue_depth",
            "Messages waiting for the NLU models.",
            registry=self.registry,
        )
        self.model_age_seconds = Gauge(
            "frontdesk_intent_model_age_seconds",
            "Seconds since the serving intent model was trained (its frontdesk.json created_at).",
            registry=self.registry,
        )
        self.review_queue_length = Gauge(
            "frontdesk_review_queue_length",
            "Misunderstood customer messages waiting for a staff label (the review queue).",
            registry=self.registry,
        )
        self.ready = Gauge(
            "frontdesk_ready", "1 when models and store are ready.", registry=self.registry
        )

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        self.batch_size.labels(model).observe(size)
        self.model_seconds.labels(model).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
