"""Token counts summed over remembered words equal tiktoken's own count of the whole text, for both encodings."""

import random

import pytest

from studio.cost import tokens
from studio.cost.bpe import get_encoding

# Unicode's White_Space (what tiktoken's \s matches) and characters Python treats as whitespace but Unicode does not.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
WHITE_SPACE += "\u2028\u2029\u202f\u205f\u3000"
ODD = "\x1c\x1d\x1e\x1f\u200b\ufeff"
PIECES = [
    "word",
    "Word",
    "WORD",
    "don't",
    "I'LL",
    "'s",
    "12345",
    "3.14",
    "!!",
    "...",
    "/",
    "é",
    "naïve",
    "\u0301",
    "日本語",
    "Привет",
    "🙂",
    "<|endoftext|>",
    "a" * 80,
    "x1",
    '"',
    "(",
    "-",
]


def _texts(rng: random.Random, count: int) -> list[str]:
    alphabet = [*PIECES, *WHITE_SPACE, *ODD, " ", " ", " ", "  ", "\n\n", " \n", "\r\n"]
    return ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(count)]


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_word_sums_equal_whole_text_counts(name):
    encoding = get_encoding(name)
    count = tokens._text_length(encoding)
    texts = _texts(random.Random(17), 4000)
    texts += ["", " ", "  ", " a", "a ", "a  b", "a \nb", "a\n b", "a\t b", "12 345", "x . y", "tail "]
    texts += [f"a{space}b c" for space in WHITE_SPACE + ODD]
    for text in texts * 2:  # the second round counts from the memo
        assert count(text) == len(encoding.encode_ordinary(text)), repr(text)


def test_prose_counts_match_and_words_are_remembered_once():
    encoding = get_encoding("o200k_base")
    count = tokens._text_length(encoding)
    prose = "The patient had a mild fever in the morning, so the doctor advised rest and water. " * 20
    assert count(prose) == len(encoding.encode_ordinary(prose))
    mixed = prose + "\nNext line  with  doubles."
    assert count(mixed) == len(encoding.encode_ordinary(mixed))


def test_memo_is_bounded(monkeypatch):
    monkeypatch.setattr(tokens, "_WORD_MEMO_SIZE", 10)
    encoding = get_encoding("o200k_base")
    memo = tokens._WordMemo(encoding.encode_ordinary, " ")
    for n in range(100):
        assert memo[f"w{n}"] == len(encoding.encode_ordinary(f" w{n}"))
    assert len(memo) == 10
    assert memo["z" * 200] == len(encoding.encode_ordinary(" " + "z" * 200)) and len(memo) == 10
