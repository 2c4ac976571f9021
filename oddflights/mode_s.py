"""Mode S as RTCA DO-260B (and ICAO Annex 10 vol. IV) defines it, in one place: the CRC-24,
the CPR latitude zones (NL), the callsign alphabet and the bit fields of an extended squitter.

The decoder (oddflights.ingest.modes) and the simulator's encoder
(oddflights.simulate.modes_encode) both use these, so the two cannot drift apart. Bit numbers
are DO-260B's: message bits 1-112 from the most significant bit of the first byte; the ME
field (the 56-bit ADS-B message) is message bits 33-88, numbered ME bits 1-56 here as in the
standard's message tables. Tables are built from their rules below, never typed in.

Layout of an extended squitter (DF17/18), 112 bits = 14 bytes:

    message bits 1-5    DF   downlink format (17 or 18)
                 6-8    CA   capability
                 9-32   AA   ICAO 24-bit address
                 33-88  ME   ADS-B message; ME bits 1-5 are its type code (TC)
                 89-112 PI   parity: the CRC-24 of bits 1-88
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

# --- Frames ---------------------------------------------------------------------------------

LONG_FRAME_BYTES = 14  # 112 bits: DF17/18 extended squitter
ME_BITS = 56


def downlink_format(frames: npt.NDArray[np.uint8]) -> np.ndarray:
    """DF of each frame (uint8 (n, 14)): message bits 1-5."""
    return frames[:, 0] >> 3


def type_code(frames: npt.NDArray[np.uint8]) -> np.ndarray:
    """TC of each extended squitter: ME bits 1-5 (message bits 33-37)."""
    return frames[:, 4] >> 3


def icao_address(frames: npt.NDArray[np.uint8]) -> npt.NDArray[np.int64]:
    """The ICAO 24-bit address of each frame: message bits 9-32 (bytes 1-3)."""
    return (
        (frames[:, 1].astype(np.int64) << 16) | (frames[:, 2].astype(np.int64) << 8) | frames[:, 3]
    )


def me_field(frames: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """The 56-bit ME of each frame: message bits 33-88 (bytes 4-10)."""
    me = np.zeros(len(frames), dtype=np.uint64)
    for k in range(7):
        me = (me << np.uint64(8)) | frames[:, 4 + k].astype(np.uint64)
    return me


def me_bits(me: npt.NDArray[np.uint64], first: int, last: int) -> npt.NDArray[np.int64]:
    """ME bits ``first``..``last`` (1-56, both included; bit 1 the most significant) of each
    ME, as int64: ``me_bits(me, 1, 5)`` is the type code."""
    if not 1 <= first <= last <= ME_BITS:
        raise ValueError(f"ME bits {first}-{last} are outside 1-{ME_BITS}")
    width = last - first + 1
    return ((me >> np.uint64(ME_BITS - last)) & np.uint64((1 << width) - 1)).astype(np.int64)


def me_put(value: npt.ArrayLike, first: int, last: int) -> npt.NDArray[np.int64]:
    """``value`` placed in ME bits ``first``..``last`` (to OR together into an ME); the
    inverse of me_bits. Values must fit the field's width."""
    if not 1 <= first <= last <= ME_BITS:
        raise ValueError(f"ME bits {first}-{last} are outside 1-{ME_BITS}")
    return np.left_shift(np.asarray(value, dtype=np.int64), ME_BITS - last)


# --- CRC-24 ---------------------------------------------------------------------------------

# The generator polynomial of Annex 10 vol. IV 3.1.2.3.3.1.2 (x^24 + x^23 + ... + x^3 + 1;
# 0x1FFF409 with its x^24 term dropped).
CRC24_POLY = 0xFFF409


def _crc_table() -> npt.NDArray[np.uint32]:
    """The remainder of each byte value shifted into the top of the register."""
    table = np.zeros(256, dtype=np.uint32)
    for byte in range(256):
        crc = byte << 16
        for _ in range(8):
            crc = ((crc << 1) ^ CRC24_POLY) if crc & 0x800000 else (crc << 1)
        table[byte] = crc & 0xFFFFFF
    return table


CRC_TABLE = _crc_table()


def crc24(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """The Mode S CRC-24 remainder of each row of ``data`` (uint8, shape (n, k)): the parity
    to append to a frame's first k bytes, or 0 for a whole frame that passes the check."""
    crc = np.zeros(data.shape[0], dtype=np.uint32)
    for col in range(data.shape[1]):
        idx = ((crc >> 16) ^ data[:, col].astype(np.uint32)) & 0xFF
        crc = CRC_TABLE[idx] ^ ((crc << 8) & 0xFFFFFF)
    return crc


# --- CPR latitude zones (NL) ----------------------------------------------------------------

NZ = 15  # latitude zones between the equator and a pole (DO-260B A.1.7.2.a)
CPR_BITS = 17  # airborne CPR: 17-bit latitude (ME bits 23-39) and longitude (ME bits 40-56)


def _nl_edges() -> npt.NDArray[np.float64]:
    """The latitude at which NL drops from n to n-1, for n = 59 down to 3 (ascending), from
    DO-260B A.1.7.2.d: NL(lat) = floor(2π / arccos(1 - (1 - cos(π / 2NZ)) / cos²(lat)))."""
    n = np.arange(4 * NZ - 1, 2, -1, dtype=np.float64)  # 59, 58, ..., 3
    a = 1.0 - np.cos(np.pi / (2 * NZ))
    return np.degrees(np.arccos(np.sqrt(a / (1.0 - np.cos(2 * np.pi / n)))))


# NL is 59 below NL_EDGES[0] (10.4704713°), 58 from there to NL_EDGES[1], ..., 2 from
# NL_EDGES[-1] (86.5353700°) up to and including 87°, and 1 above 87°.
NL_EDGES = _nl_edges()
NL_POLAR_DEG = 87.0


def cpr_nl(lat: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The number of CPR longitude zones at each latitude (NL, 1..59); NaN gives 1."""
    a = np.abs(np.asarray(lat, dtype=np.float64))
    nl = (4 * NZ - 1) - np.searchsorted(NL_EDGES, a, side="right")
    return np.where((a > NL_POLAR_DEG) | np.isnan(a), 1, nl).astype(np.int64)


# --- Callsigns ------------------------------------------------------------------------------


def _callsign_alphabet() -> str:
    """The 64 six-bit character codes of an identification message (Annex 10 vol. IV table
    3-9, IA-5 subset): code c is the ASCII character whose low six bits are c, for A-Z
    (1-26), space (32) and 0-9 (48-57); every other code is unused, shown as '#'."""
    usable = {chr(c) for c in range(ord("A"), ord("Z") + 1)} | set(" 0123456789")
    low6 = {ord(ch) & 0x3F: ch for ch in usable}
    return "".join(low6.get(code, "#") for code in range(64))


CALLSIGN_ALPHABET = _callsign_alphabet()
CALLSIGN_CODE = {ch: code for code, ch in enumerate(CALLSIGN_ALPHABET) if ch != "#"}
CALLSIGN_CHARS = 8  # ME bits 9-56 of TC 1-4, six bits each


def callsign_char_bits(j: int) -> tuple[int, int]:
    """ME bits (first, last) of callsign character ``j`` (0-7): 9-14, 15-20, ..., 51-56."""
    first = 9 + 6 * j
    return first, first + 5


# --- Receiver feeds -------------------------------------------------------------------------

BEAST_CLOCK_HZ = 12_000_000  # Beast and AVR '@' timestamps count 12 MHz ticks
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def hex_chars(data: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Lower-case hex digits of each row of ``data`` (uint8 (n, k)) as uint8 (n, 2k)."""
    out = np.empty((data.shape[0], 2 * data.shape[1]), dtype=np.uint8)
    out[:, 0::2] = _HEX[data >> 4]
    out[:, 1::2] = _HEX[data & 0x0F]
    return out
