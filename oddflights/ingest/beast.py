"""Beast binary, as dump1090 serves it on port 30005: 0x1a, a type byte, a 6-byte 12 MHz
counter, a signal byte and the message, with every 0x1a inside doubled."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC
from typing import IO

import numpy as np

from oddflights.ingest.modes import ModesDecoder, feed_all, live_times
from oddflights.ingest.types import ParsedChunk, ParseOptions
from oddflights.mode_s import BEAST_CLOCK_HZ

# Message bytes after the counter (6) and signal (1) bytes: Mode A/C ('1', 2 bytes), short
# Mode S ('2', 7 bytes: 56 bits) and long Mode S ('3', 14 bytes: 112 bits).
BEAST_LENGTHS = {ord("1"): 2 + 7, ord("2"): 7 + 7, ord("3"): 7 + 14}
_BEAST_FRAME = re.compile(rb"\x1a([123])((?:[^\x1a]|\x1a\x1a)*)", re.DOTALL)


class BeastReader:
    """Incremental Beast binary: 0x1a, type '1'/'2'/'3', 6-byte 12 MHz counter, signal byte,
    2/7/14 message bytes, with 0x1a doubled inside. Mode A/C ('1') frames are skipped."""

    def __init__(self, options: ParseOptions, *, live: bool = False) -> None:
        self.options = options
        self.live = live
        self.decoder = ModesDecoder(options.receiver)
        self._rest = b""
        self._base = options.start_time.astimezone(UTC).timestamp() if options.start_time else None

    def feed(
        self, data: bytes, arrival: float | None = None, *, final: bool = False
    ) -> ParsedChunk:
        """Parse the complete frames in ``data`` (plus what was left from the last call)."""
        data = self._rest + data
        matches = list(_BEAST_FRAME.finditer(data))
        # The last frame may still be arriving: keep it for the next call.
        end = len(data)
        if not final and matches and _beast_short(matches[-1]):
            end = matches[-1].start()
            matches = matches[:-1]
        elif not final and data.endswith(b"\x1a") and not data.endswith(b"\x1a\x1a"):
            end = len(data) - 1
        self._rest = data[end:]
        now = arrival if arrival is not None else time.time()
        longs: list[bytes] = []
        spans: list[tuple[int, int]] = []
        pre_raw: list[str] = []
        pre_reason: list[str] = []
        lines = 0
        pos = 0
        long_kind = ord("3")
        for m in matches:
            start = m.start()
            if start > pos:
                lines += 1
                pre_raw.append(data[pos:start].hex())
                pre_reason.append("garbage")
            pos = m.end()
            lines += 1
            kind = m.group(1)[0]
            body = m.group(2)
            if b"\x1a" in body:
                body = body.replace(b"\x1a\x1a", b"\x1a")
            want = BEAST_LENGTHS[kind]
            if len(body) < want:
                pre_raw.append(m.group(0).hex())
                pre_reason.append("bad_length")
                continue
            if len(body) > want:
                # Bytes after a whole frame without a new 0x1a: line noise.
                lines += 1
                pre_raw.append(body[want:].hex())
                pre_reason.append("garbage")
                body = body[:want]
            # Mode A/C and short (56-bit) frames never carry a position.
            if kind == long_kind:
                longs.append(body)
                spans.append((start, pos))
        if end > pos:
            lines += 1
            pre_raw.append(data[pos:end].hex())
            pre_reason.append("garbage")
        block = np.frombuffer(b"".join(longs), dtype=np.uint8).reshape(-1, 21)
        counters = np.zeros(len(block), dtype=np.float64)
        for k in range(6):
            counters = counters * 256 + block[:, k]

        def raw_of(k: int) -> str:
            return data[spans[k][0] : spans[k][1]].hex()

        if self.live:
            ts = live_times(counters, now)
        elif self._base is None:
            pre_raw += [raw_of(k) for k in range(len(spans))]
            pre_reason += ["no_time"] * len(spans)
            block = block[:0]
            ts = counters[:0]
        else:
            ts = self._base + counters / BEAST_CLOCK_HZ
        positions, rejects = self.decoder.decode_bytes(
            ts, np.ascontiguousarray(block[:, 7:]), raw_of, pre_raw, pre_reason
        )
        return ParsedChunk(positions, rejects, lines=lines, bytes_read=end)


def _beast_short(m: re.Match[bytes]) -> bool:
    """Whether a matched Beast frame still lacks bytes (they may be in the next read)."""
    return len(m.group(2).replace(b"\x1a\x1a", b"\x1a")) < BEAST_LENGTHS[m.group(1)[0]]


def parse_beast(stream: IO[bytes], options: ParseOptions) -> Iterator[ParsedChunk]:
    """Positions from a Beast binary file (needs options.start_time: its counters are 12 MHz
    ticks from then)."""
    # ~24 bytes a Beast frame: blocks of about chunk_lines frames.
    yield from feed_all(BeastReader(options), stream, max(options.chunk_lines, 1) * 24)
