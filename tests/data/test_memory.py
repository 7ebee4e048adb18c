"""A job refused before it would run out of memory: the figures, in English and Spanish."""

from __future__ import annotations

import pytest

from studio.core import memory
from studio.data.memory import check_memory
from studio.errors import ResourceError


def test_a_job_that_would_not_fit_is_refused_with_the_figures(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    check_memory(3 * 2**30, "a job")  # within 90% of what is free
    with pytest.raises(ResourceError, match=r"a job would need about 3\.8 GB of memory and 4\.0 GB are free"):
        check_memory(int(3.8 * 2**30), "a job")


def test_a_refusal_says_the_same_in_spanish_and_names_what_to_do(monkeypatch):
    from functools import partial

    from studio.i18n import text

    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    with pytest.raises(ResourceError) as refused:
        check_memory(int(3.8 * 2**30), "a job")
    assert str(refused.value).endswith(
        "are free; run it on part of the data (or a machine with more memory), or skip this rule"
    )
    assert refused.value.shown("es").startswith(
        "a job necesitaría unos 3.8 GB de memoria y hay 4.0 GB libres; ejecútalo"
    )
    with pytest.raises(ResourceError) as refused:
        check_memory(2**33, partial(text, "memory.load", file="f.jsonl", size="1.0 GB"), "split it")
    assert (
        refused.value.shown("es")
        == "Cargar f.jsonl (1.0 GB) entero necesitaría unos 8.0 GB de memoria y hay 4.0 GB libres; split it"
    )


def test_without_a_figure_from_the_kernel_nothing_is_refused(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    check_memory(2**50, "a job")
