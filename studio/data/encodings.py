"""Text decoding for the dataset readers: which encoding a file uses, and its text with the lines that needed a
fallback.

Detection order: a BOM (UTF-8, UTF-32, UTF-16), UTF-16 without BOM (NUL-byte pattern in the first 4 KB, or an
ASCII first character followed by a NUL), UTF-8, then Windows-1252, then Latin-1. A file that is not UTF-8 as a
whole but has some UTF-8 lines (two exports concatenated) is ``"mixed"``: each line is decoded on its own, and the
warning names the lines read as cp1252.
"""

from __future__ import annotations

import codecs
import re

from studio.errors import LoadError

SNIFF_BYTES = 4096
"""How much of a file encoding detection (and the CSV reader's binary check) looks at: its first 4 KB."""


def detect_encoding(data: bytes) -> str:
    """The encoding of a text file: BOMs first, then UTF-16 without BOM, UTF-8, then cp1252 or latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = data[:SNIFF_BYTES]
    if len(sample) >= 4:
        even_nuls = sample[0::2].count(0) / len(sample[0::2])
        odd_nuls = sample[1::2].count(0) / len(sample[1::2])
        if odd_nuls > 0.3 and even_nuls < 0.05:
            return "utf-16-le"
        if even_nuls > 0.3 and odd_nuls < 0.05:
            return "utf-16-be"
        # Mostly-CJK text has few NUL bytes, but JSON and CSV headers start with an ASCII character.
        if 0x09 <= sample[0] < 0x7F and sample[1] == 0 and _decodes(sample, "utf-16-le"):
            return "utf-16-le"
        if sample[0] == 0 and 0x09 <= sample[1] < 0x7F and _decodes(sample, "utf-16-be"):
            return "utf-16-be"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        text = sample[: len(sample) // 2 * 2].decode(encoding)
    except UnicodeDecodeError as exc:
        # The sample may end inside a surrogate pair.
        text = sample[: exc.start].decode(encoding) if exc.start >= len(sample) - 4 else ""
    return bool(text) and "\x00" not in text


def is_mixed_utf8(data: bytes) -> bool:
    """Not UTF-8 as a whole, but some non-ASCII lines are: UTF-8 and a legacy encoding concatenated."""
    utf8 = legacy = False
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            legacy = True
        if utf8 and legacy:
            return True
    return False


def decode_mixed(data: bytes) -> tuple[str, list[int]]:
    """Each line as UTF-8, else cp1252 (latin-1 for its 5 undefined bytes); the lines (1-based) not in UTF-8."""
    parts, legacy = [], []
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            legacy.append(number)
            try:
                parts.append(line.decode("cp1252"))
            except UnicodeDecodeError:
                parts.append(line.decode("latin-1"))
    return "\n".join(parts), legacy


def mixed_warning(lines: list[int]) -> str:
    """The warning for a mixed file, naming the first 10 of the 1-based ``lines`` decoded as cp1252."""
    shown = ", ".join(map(str, lines[:10])) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
    return f"mixed encodings: line{'s' if len(lines) > 1 else ''} {shown} decoded as cp1252, the rest as UTF-8"


def decode(data: bytes, encoding: str, path: str) -> str:
    """``data`` decoded as ``encoding``; :class:`~studio.errors.LoadError` names the line that cannot be."""
    if encoding.startswith("utf-16") and len(data) % 2:
        data = data[:-1]  # a truncated download: the last line is then reported as cut, not the whole file
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoadError(f"cannot be decoded as {encoding} ({exc.reason})", path=path, line=line) from None


def line_of(data: bytes | str, offset: int) -> int:
    """The 1-based line holding character/byte ``offset``."""
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data[:offset].count(newline) + 1  # type: ignore[arg-type]


_NEWLINE = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Lines split at CR, LF and CRLF only: unlike ``str.splitlines``, never inside a JSON string holding a raw
    U+2028, U+0085 or form feed."""
    lines = _NEWLINE.split(text)
    return lines[:-1] if lines and not lines[-1] else lines


def decode_text(data: bytes, encoding: str, path: str) -> tuple[str, list[str]]:
    """The decoded text and its warnings (``encoding="mixed"``: UTF-8 with some cp1252 lines).

    Raises :class:`~studio.errors.LoadError` naming ``path`` and the first line that cannot be decoded.
    """
    if encoding != "mixed":
        return decode(data, encoding, path), []
    text, legacy = decode_mixed(data)
    return text, [mixed_warning(legacy)]
