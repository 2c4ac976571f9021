"""What an ingest did: counts by outcome, and how long it took."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class IngestSummary:
    """Positions accepted (new rows), duplicates (already stored), rejected lines by reason,
    and fields cleared from kept positions (a bad callsign or squawk), by note."""

    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    fields_cleared: dict[str, int] = field(default_factory=dict)

    def __add__(self, other: IngestSummary) -> IngestSummary:
        reasons = Counter(self.rejected_by_reason)
        reasons.update(other.rejected_by_reason)
        notes = Counter(self.fields_cleared)
        notes.update(other.fields_cleared)
        return IngestSummary(
            accepted=self.accepted + other.accepted,
            duplicates=self.duplicates + other.duplicates,
            rejected=self.rejected + other.rejected,
            rejected_by_reason=dict(sorted(reasons.items())),
            seconds=self.seconds + other.seconds,
            fields_cleared=dict(sorted(notes.items())),
        )

    def add_rejects(self, reasons: dict[str, int]) -> None:
        """Count more rejected lines, by reason."""
        merged = Counter(self.rejected_by_reason)
        merged.update(reasons)
        self.rejected_by_reason = dict(sorted(merged.items()))
        self.rejected += sum(reasons.values())

    def to_json(self) -> dict[str, Any]:
        """The summary as the JSON object the CLI prints."""
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "fields_cleared": dict(self.fields_cleared),
            "seconds": round(self.seconds, 3),
        }
