"""Alerts after each nightly day: a receiver day's flagged flights to a webhook (plain JSON,
ntfy, Discord/Slack), MQTT with Home Assistant discovery, email, or the terminal (a dry run).
Each flight goes to each target once (``alert_deliveries``); see ``deliver.py``."""

from oddflights.alerts.deliver import (
    configured_targets,
    deliver_alerts,
    preview_alert,
    send_test,
)
from oddflights.alerts.targets import Alert, AlertError, Target

__all__ = [
    "Alert",
    "AlertError",
    "Target",
    "configured_targets",
    "deliver_alerts",
    "preview_alert",
    "send_test",
]
