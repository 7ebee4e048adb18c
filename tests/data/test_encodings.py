"""Legacy code pages are detected (charset-normalizer) with a confidence; a low-confidence guess warns; --encoding
forces one; Latin-1 is never a silent fallback for a file another code page decodes better."""

from __future__ import annotations

import json

import pytest

from studio.cli import main
from studio.data.encodings import LOW_CONFIDENCE, guess_encoding
from studio.data.loader import load_dataset

ROWS = {
    "cp1251": [("Привет, как дела?", "Хорошо, спасибо! Всё отлично."), ("Где библиотека?", "На второй улице.")],
    "gbk": [("你好，最近怎么样？", "很好，谢谢！一切都很顺利。"), ("图书馆在哪里？", "图书馆在第二条街上。")],
    "shift_jis": [
        ("こんにちは、お元気ですか？", "元気です、ありがとう！"),
        ("図書館はどこですか？", "二番街にあります。"),
    ],
    "iso-8859-7": [
        ("Γεια σου, τι κάνεις;", "Καλά, ευχαριστώ! Όλα τέλεια."),
        ("Πού είναι η βιβλιοθήκη;", "Στον δρόμο."),
    ],
    "utf-16": [("¿Qué tal?", "Muy bien, gracias."), ("Привет", "你好")],
    "cp1252": [("Café au lait, s'il vous plaît?", "Voilà! Ça coûte 3 €."), ("¿Dónde está la estación?", "Aquí.")],
}


def _csv(rows) -> str:
    return "question,answer\n" + "".join(f'"{q}","{a}"\n' for q, a in rows)


@pytest.mark.parametrize("codec", list(ROWS))
def test_each_code_page_decodes_to_the_right_text(codec):
    text = _csv(ROWS[codec])
    result = load_dataset(f"{codec}.csv", data=text.encode(codec))
    assert list(zip(result.frame["user"], result.frame["assistant"], strict=True)) == ROWS[codec]
    assert result.encoding_confidence is not None and result.encoding_confidence >= LOW_CONFIDENCE
    if not codec.startswith("utf"):
        assert any("confidence" in w for w in result.warnings)  # the guess is reported, with its confidence


def test_a_cyrillic_file_is_never_read_as_latin1():
    guess = guess_encoding(_csv(ROWS["cp1251"]).encode("cp1251"))
    assert guess.name == "cp1251" and not guess.low


def test_a_low_confidence_guess_warns_loudly(tmp_path, capsys):
    # One non-ASCII byte is no evidence: the guess is made, and said to be uncertain.
    path = tmp_path / "thin.csv"
    path.write_bytes("question,answer\ncafé?,ok\n".encode("cp1252"))
    result = load_dataset(path)
    assert result.encoding_confidence < LOW_CONFIDENCE
    assert any(w.startswith("ENCODING UNCERTAIN") for w in result.warnings)
    assert main(["inspect", str(path)]) == 0
    assert "ENCODING UNCERTAIN" in capsys.readouterr().out
    assert main(["validate", str(path)]) == 1  # too few examples
    assert "warning: ENCODING UNCERTAIN" in capsys.readouterr().err


def test_encoding_flag_forces_the_codec(tmp_path, capsys):
    path = tmp_path / "ru.csv"
    path.write_bytes(_csv(ROWS["cp1251"]).encode("cp1251"))
    assert main(["inspect", str(path), "--json", "--encoding", "cp1252"]) == 0  # wrong on purpose: mojibake
    forced = json.loads(capsys.readouterr().out)
    assert forced["encoding"] == "cp1252" and forced["samples"][0]["user"].startswith("Ïðèâåò")
    assert main(["inspect", str(path), "--json"]) == 0
    detected = json.loads(capsys.readouterr().out)
    assert detected["encoding"] == "cp1251" and detected["samples"][0]["user"] == "Привет, как дела?"
    assert main(["inspect", str(path), "--encoding", "klingon"]) == 2
    assert "unknown encoding 'klingon'" in capsys.readouterr().err


def test_a_line_of_a_unicode_line_break_is_not_blank_but_listed_in_a_mixed_file():
    """Found by tests/test_properties.py: in a file decoded as text (here UTF-8 with a broken last line), a line
    holding only U+0085 was taken for blank by str.strip and skipped without a word; it is not JSON, so it is set
    aside and listed like any other line that cannot be read: rows in = rows loaded + rows listed."""
    data = (
        b'{"messages":[{"role":"system","content":""}]}\n\xc2\x85\n{"messages":[{}]}\n'
        b'{"messages":[{"role":"system","content":null},{"role":"assistant","content":"\xc2\n'
    )
    result = load_dataset("mixed.jsonl", data=data, lenient=True)
    assert len(result.frame) + len(result.rejects) == 4
    assert [r.row for r in result.rejects] == [2, 4]
