"""Ops monitoring: sentiment events per topic, alert rules and their webhooks.

Knows nothing of HTTP: ``bot.server.ops`` wires the service into the app and serves ``/ops/``.
"""

from bot.ops.config import AlertsConfig
from bot.ops.service import OpsService

__all__ = ["AlertsConfig", "OpsService"]
