"""AVR text, as dump1090 serves it on port 30002: ``*<hex>;`` lines, and ``@<12 hex digits
of a 12 MHz counter><hex>;`` lines with a time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC
from typing import IO

import numpy as np

from oddflights.ingest.modes import (
    HEX_DIGITS,
    TIE_S,
    ModesDecoder,
    decoded_chunk,
    feed_all,
    live_times,
)
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.mode_s import BEAST_CLOCK_HZ


class AvrReader:
    """Incremental AVR text: ``*<hex>;`` lines and ``@<12-hex 12 MHz counter><hex>;`` lines.

    Plain ``*`` lines carry no time: files count them 1 µs apart from the start time, live
    feeds use the arrival time. ``@`` counters count from the start time (files) or are
    anchored to the arrival time of each read (live)."""

    def __init__(self, options: ParseOptions, *, live: bool = False) -> None:
        self.options = options
        self.live = live
        self.decoder = ModesDecoder(options.receiver)
        self._rest = b""
        self._seq = 0
        self._base = options.start_time.astimezone(UTC).timestamp() if options.start_time else None

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        """Parse the complete lines in ``data`` (plus what was left from the last call)."""
        data = self._rest + data
        cut = len(data) if final else max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._rest = data[cut:]
        text = data[:cut].decode("ascii", errors="replace")
        now = arrival if arrival is not None else time.time()
        ts: list[float] = []
        counters: list[int] = []
        frames: list[str] = []
        raws: list[str] = []
        pre_raw: list[str] = []
        pre_reason: list[str] = []
        lines = 0
        for raw_line in text.splitlines():
            line = raw_line.strip()
            if not line:
                continue
            lines += 1
            if not line.endswith(";") or line[0] not in "*@":
                pre_raw.append(line)
                pre_reason.append("bad_avr")
                continue
            body = line[1:-1]
            if line[0] == "@":
                try:
                    counter = (
                        int(body[:12], 16)
                        if len(body) > 12 and HEX_DIGITS.issuperset(body[:12])
                        else -1
                    )
                except ValueError:
                    counter = -1
                if counter < 0:
                    pre_raw.append(line)
                    pre_reason.append("bad_avr")
                    continue
                counters.append(counter)
                body = body[12:]
            else:
                counters.append(-1)
            frames.append(body)
            raws.append(line)
        ts = self._times(counters, now)
        if any(not np.isfinite(t) for t in ts):
            keep = [k for k, t in enumerate(ts) if np.isfinite(t)]
            pre_raw += [raws[k] for k in range(len(ts)) if not np.isfinite(ts[k])]
            pre_reason += ["no_time"] * (len(ts) - len(keep))
            ts = [ts[k] for k in keep]
            frames = [frames[k] for k in keep]
            raws = [raws[k] for k in keep]
        return decoded_chunk(self.decoder, ts, frames, raws, pre_raw, pre_reason, lines, cut)

    def _times(self, counters: list[int], now: float) -> list[float]:
        if not counters:
            return []
        c = np.asarray(counters, dtype=np.float64)
        seq = self._seq + np.arange(len(c))
        self._seq += len(c)
        if self.live:
            return live_times(c, now).tolist()
        if self._base is None:
            return [float("nan")] * len(c)
        return np.where(c >= 0, self._base + c / BEAST_CLOCK_HZ, self._base + seq * TIE_S).tolist()


def parse_avr(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """Positions from an AVR text file (needs options.start_time for its times)."""
    # ~44 bytes an AVR line: blocks of about chunk_lines lines.
    yield from feed_all(AvrReader(options), stream, max(options.chunk_lines, 1) * 44)
