"""A count in a string a user reads agrees with its number: a string that puts a count before a noun ("{n} rows",
"{tokens} tokens") comes as a ``_one``/``_other`` pair for :func:`studio.i18n.plural`, in English and Spanish,
so the page never says "1 tokens" or "1 avisos". A few are left, each named here with the reason."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import studio

LOCALES = Path(studio.__file__).with_name("locales")
# "{n} rows", "{tokens} tokens", "({rows} examples)": a placeholder, a space, then a word
COUNTED = re.compile(r"\{(n|rows|tokens|count|flagged|errors|warnings|examples|turns|trained|context|steps)\} \w")
LEFT = {
    # the Cost page's strings: not yet paired (its own work in progress)
    "cost": {
        "moderation_openai",
        "moderation_blocklist",
        "moderation_none",
        "msg_too_few",
        "msg_few",
        "msg_over_limit",
        "detail_first",  # shown only for 2 or more different details
        "details_first",  # shown only past the first 500 findings
    },
    # "{n} of {m} rows" counts m ("1 of 5 rows"); the rest are paired in other branches (export refusals) or to do
    "dataset": {"rows_shown", "imported", "unrepresentable"},
    "memory": {"near_duplicates"},  # a dataset of thousands of rows: never one
    "playground": {"progress", "run_label", "rows_shown", "win_rate"},
    "train": {"valid_ok"},  # a valid file has at least 10 examples
}


def test_every_count_before_a_noun_is_a_plural_pair_or_named_as_left():
    found = {}
    for path in sorted(LOCALES.glob("*.toml")):
        table = tomllib.loads(path.read_text(encoding="utf-8"))
        for lang in ("en", "es"):
            for key, value in table.get(lang, {}).items():
                if COUNTED.search(value) and not key.endswith(("_one", "_other")):
                    found.setdefault(path.stem, set()).add(key)
    unpaired = {name: keys - LEFT.get(name, set()) for name, keys in found.items()}
    assert {name: keys for name, keys in unpaired.items() if keys} == {}
