"""Text decoding for the dataset readers: which encoding a file uses, and its text with the lines that needed a
fallback.

Detection order: a BOM (UTF-8, UTF-32, UTF-16), UTF-16 without BOM (NUL-byte pattern in the first 4 KB, or an
ASCII first character followed by a NUL), UTF-8, then a legacy code page chosen by ``charset-normalizer`` (cp1251,
GBK/GB18030, Shift-JIS/cp932, Greek, Windows-1252...), with a confidence: Latin-1 is never a silent fallback. A file
that is not UTF-8 as a whole but has some UTF-8 lines (two exports concatenated) is ``"mixed"``: each line is
decoded on its own, and the warning names the lines read as cp1252.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from studio.errors import LoadError

SNIFF_BYTES = 4096
"""How much of a file encoding detection (and the CSV reader's binary check) looks at: its first 4 KB."""


LOW_CONFIDENCE = 0.6
"""Below this confidence an encoding guess is reported as a loud warning (CLI and Dataset page)."""

_GUESS_BYTES = 256 * 1024  # how much of a legacy-encoded file the code-page detector reads
_EVIDENCE_BYTES = 16  # non-ASCII bytes needed for full confidence in a code-page guess


@dataclass(frozen=True)
class EncodingGuess:
    """A text encoding (a Python codec name, or ``"mixed"``) and how sure detection is, from 0 to 1.

    BOMs, UTF-16 patterns and valid UTF-8 are certain (1.0). A legacy code page scores ``1 - chaos`` (the mess
    ratio ``charset-normalizer`` measures in the decoded text), scaled down when the file has fewer than 16
    non-ASCII bytes to judge by; :data:`LOW_CONFIDENCE` separates a guess worth a warning.
    """

    name: str
    confidence: float = 1.0

    @property
    def low(self) -> bool:
        return self.confidence < LOW_CONFIDENCE


def detect_encoding(data: bytes) -> str:
    """The one codec that decodes a text file as a whole (a file mixing UTF-8 and cp1252 lines gets the code page;
    :func:`guess_encoding` tells it apart as ``"mixed"`` and gives the confidence)."""
    return _unicode_encoding(data) or guess_code_page(data).name


def guess_encoding(data: bytes) -> EncodingGuess:
    """The encoding of a text file: BOMs first, then UTF-16 without BOM, UTF-8, UTF-8 mixed with cp1252 lines
    (``"mixed"``), then the legacy code page that decodes the file with the least mess (:func:`guess_code_page`)."""
    unicode = _unicode_encoding(data)
    if unicode is not None:
        return EncodingGuess(unicode)
    if is_mixed_utf8(data):
        return EncodingGuess("mixed")
    return guess_code_page(data)


def guess_code_page(data: bytes) -> EncodingGuess:
    """The legacy code page of ``data`` (not UTF-8), by ``charset-normalizer`` over its first 256 KB.

    Windows-1252 wins ties (the usual Western export); another code page wins when it decodes with less mess, so
    a Cyrillic, Greek, Chinese or Japanese file is never read as Latin-1 mojibake. A guess that fails on the rest
    of the file is redone over the whole file.
    """
    from charset_normalizer import from_bytes
    from charset_normalizer.md import mess_ratio

    sample = data[:_GUESS_BYTES]
    if len(data) > _GUESS_BYTES and b"\n" in sample:
        sample = sample[: sample.rindex(b"\n") + 1]
    evidence = min(1.0, sum(1 for byte in sample if byte >= 0x80) / _EVIDENCE_BYTES)
    candidates: list[tuple[float, int, str]] = []  # (chaos, preference, codec)
    if _decodes_all(sample, "cp1252"):
        candidates.append((mess_ratio(sample.decode("cp1252"), 1.0), 0, "cp1252"))
    for source in (sample, data) if len(data) > len(sample) else (sample,):
        best = from_bytes(source).best()
        if best is not None and _decodes_all(data, best.encoding):
            candidates.append((best.chaos, 1, best.encoding))
            break
    candidates = [c for c in candidates if _decodes_all(data, c[2])]
    if not candidates:
        return EncodingGuess("latin-1", 0.0)  # every byte decodes; the confidence says it is a last resort
    chaos, _, name = min(candidates)
    return EncodingGuess(codecs.lookup(name).name, round(max(0.0, 1.0 - chaos) * evidence, 2))


def _decodes_all(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return False
    return True


def _unicode_encoding(data: bytes) -> str | None:
    """A BOM's encoding, UTF-16 recognised by its NUL bytes, or UTF-8; None for anything else."""
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
        return None


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
