"""The dated price table: the published figures, model-name matching, limits and TOML overrides."""

import re

import pytest

from studio.cost.prices import load_prices
from studio.errors import LoadError, PricingError

# USD per 1M tokens: training; fine-tuned input / cached input / output (OpenAI pricing page, 2026).
PUBLISHED = [
    ("gpt-4.1", 25.00, 3.00, 0.75, 12.00),
    ("gpt-4.1-mini", 5.00, 0.80, 0.20, 3.20),
    ("gpt-4.1-nano", 1.50, 0.20, 0.05, 0.80),
    ("gpt-4o", 25.00, 3.75, 1.875, 15.00),
    ("gpt-4o-mini", 3.00, 0.30, 0.15, 1.20),
    ("gpt-3.5-turbo", 8.00, 3.00, None, 6.00),
]


@pytest.mark.parametrize("model,training,input,cached,output", PUBLISHED)
def test_default_table_has_the_published_prices(model, training, input, cached, output):
    p = load_prices().prices_for(model)
    assert (p.training, p.input, p.cached_input, p.output) == (training, input, cached, output)
    assert p.base_input is not None and p.base_output is not None


def test_table_is_dated_with_its_source():
    table = load_prices()
    assert table.as_of == "2026" and "openai.com" in table.source
    assert table.openai_new_jobs_until == "2027-01-06"
    assert table.model_names == tuple(m for m, *_ in PUBLISHED)


@pytest.mark.parametrize(
    "model,resolved",
    [
        ("gpt-4o-2024-08-06", "gpt-4o"),
        ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
        ("ft:gpt-4.1-mini-2025-04-14:acme::abc", "gpt-4.1-mini"),
        ("gpt-3.5-turbo-0125", "gpt-3.5-turbo"),
    ],
)
def test_snapshots_and_fine_tuned_names_resolve_to_their_base(model, resolved):
    assert load_prices().prices_for(model).model == resolved


# Every fine-tunable name users type → OpenAI's per-example training limit (tokens). The bare gpt-3.5-turbo and
# the gpt-4.1 family used to say "not published", so their cost estimate never truncated anything.
LIMITS = [
    ("gpt-3.5-turbo", 16385),
    ("gpt-3.5-turbo-0125", 16385),
    ("gpt-3.5-turbo-1106", 16385),
    ("gpt-3.5-turbo-0613", 4096),
    ("ft:gpt-3.5-turbo-0613:acme::x1", 4096),
    ("gpt-4.1", 65536),
    ("gpt-4.1-2025-04-14", 65536),
    ("gpt-4.1-mini", 65536),
    ("gpt-4.1-mini-2025-04-14", 65536),
    ("gpt-4.1-nano", 65536),
    ("gpt-4.1-nano-2025-04-14", 65536),
    ("ft:gpt-4.1-nano-2025-04-14:acme::x", 65536),
    ("gpt-4o", 65536),
    ("gpt-4o-2024-08-06", 65536),
    ("gpt-4o-mini", 65536),
    ("gpt-4o-mini-2024-07-18", 65536),
    ("babbage-002", 16384),
    ("davinci-002", 16384),
]


@pytest.mark.parametrize("model,limit", LIMITS)
def test_every_fine_tunable_name_has_its_limit_and_a_source(model, limit):
    table = load_prices()
    assert table.limit_for(model) == limit
    source = table.limit_source(model)
    assert source and "https://platform.openai.com/docs/" in source and re.search(r"\(20\d\d-\d\d", source)


@pytest.mark.parametrize("model", ["local", "HuggingFaceTB/SmolLM2-135M-Instruct", "gpt-4", "gpt-5"])
def test_limits_not_published_are_none(model):
    assert load_prices().limit_for(model) is None and load_prices().limit_source(model) is None


def test_every_limit_in_the_default_table_names_its_source():
    table = load_prices()
    assert set(table.limit_sources) == set(table.limits)


def test_an_override_limit_replaces_the_figure_and_its_source(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('[limits]\n"gpt-4o" = 32768\n[limits."my-model"]\ntokens = 2048\nsource = "our lab, 2026-02"\n')
    table = load_prices(path)
    assert (table.limit_for("gpt-4o-2024-08-06"), table.limit_source("gpt-4o")) == (32768, f"{path} (override)")
    assert (table.limit_for("my-model"), table.limit_source("my-model")) == (2048, "our lab, 2026-02")
    assert table.limit_for("gpt-4o-mini") == 65536  # other limits kept


def test_unknown_model_names_the_model():
    with pytest.raises(PricingError, match="no price for model 'gpt-9'"):
        load_prices().prices_for("gpt-9")


def test_local_engine_is_free():
    p = load_prices().prices_for("HuggingFaceTB/SmolLM2-135M-Instruct")
    assert p.local and p.training == 0


def test_override_by_argument_and_environment(tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(
        'as_of = "2026-03-01"\n[models."gpt-4o-mini"]\ntraining = 2.5\n'
        '[models."my-model"]\ntraining = 1\n[local]\ntokens_per_second = 900\n'
    )
    for table in (load_prices(path), (monkeypatch.setenv("STUDIO_PRICES", str(path)), load_prices())[1]):
        mini = table.prices_for("gpt-4o-mini")
        assert (table.as_of, mini.training, mini.output) == ("2026-03-01", 2.5, 1.20)  # other fields kept
        assert table.prices_for("my-model").training == 1.0
        assert table.local_tokens_per_second == 900


@pytest.mark.parametrize(
    "text,message",
    [
        ('[models."gpt-4o"]\ntrainng = 1\n', "mine.toml, field 'models.gpt-4o.trainng': unknown price"),
        ('[models."gpt-4o"]\ntraining = -1\n', "field 'models.gpt-4o.training': expected a non-negative number"),
        ('[limits]\n"gpt-4o" = 0.5\n', "field 'limits.gpt-4o': expected a positive whole number"),
        ('[limits."gpt-4o"]\ntoken = 5\n', "field 'limits.gpt-4o.token': expected tokens"),
        ("price = 1\n", "field 'price': unknown key"),
        ("[models\n", "mine.toml: not valid TOML"),
    ],
)
def test_bad_override_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(LoadError, match=message.replace(".", r"\.").replace("(", r"\(")):
        load_prices(path)


def test_missing_override_file(tmp_path):
    with pytest.raises(LoadError, match=r"nope\.toml: price file not found"):
        load_prices(tmp_path / "nope.toml")
