"""AppTest of app.py: the frame (navigation, language, provider status) and the home page."""

from streamlit.testing.v1 import AppTest

from studio.storage.workspace import Workspace, import_file
from tests.conftest import ROOT
from tests.pages.apptest import open_page

APP = str(ROOT / "app.py")
NAV_EN = ["Home", "Dataset", "Cost", "Train", "Playground"]
NAV_ES = ["Inicio", "Datos", "Coste", "Entrenar", "Comparar"]


def sidebar_captions(at):
    return [c.value for c in at.sidebar.caption]


def test_home_lists_steps_datasets_and_providers(tmp_path):
    (tmp_path / "faq.csv").write_text("question,answer\nQ,A\n")
    import_file(Workspace(), tmp_path / "faq.csv")
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Fine-Tuning Studio"
    steps = [m.value for m in at.markdown if m.value.startswith("**")]
    assert [s.split(" —")[0] for s in steps] == [
        "**1 · Dataset**",
        "**2 · Cost**",
        "**3 · Train**",
        "**4 · Playground**",
    ]
    # conftest points the engine URL where nothing answers and removes OPENAI_API_KEY: exactly these two lines.
    engine, openai = sidebar_captions(at)
    assert engine.startswith("⚪ Local engine: not running (http://127.0.0.2:9/v1: not running (")
    assert openai == "⚪ OpenAI: no API key set; the local engine is used, so everything works offline."
    assert [c.value for c in at.caption][:4] == ["Name", "Source file", "Format", "Versions"]
    [link] = [p for p in at.get("page_link") if p.proto.query_string]  # the dataset's name opens it, at its head
    dataset = Workspace().datasets()[0]
    assert link.proto.label == "faq" and link.proto.page.endswith("Dataset")
    assert link.proto.query_string == f"dataset={dataset.id}&version={dataset.head_version_id}"
    assert [t.value for t in at.text] == ["faq.csv", "csv/qa", "1"]


def test_home_switches_to_spanish_and_loads_samples():
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert [i.value for i in at.info] == ["The workspace is empty."]
    at.sidebar.radio[0].set_value("es").run()
    assert at.title[0].value == "Fine-Tuning Studio"
    assert [i.value for i in at.info] == ["El espacio de trabajo está vacío."]
    at.button(key="load_samples").click().run()
    assert not at.exception
    names = sorted(d.source_name for d in Workspace().datasets())
    assert names == ["medical_faq_dirty.csv", "style_demo.jsonl", "style_demo_test.jsonl"]
    assert len([p for p in at.get("page_link") if p.proto.query_string]) == 3  # a link per dataset
    assert not [b for b in at.button if b.key == "load_samples"]  # every sample is in: nothing left to load


def test_every_page_opens_under_its_old_url_with_translated_titles(monkeypatch):
    import streamlit as st

    from ui.frame import PAGES

    shown = []  # (title, url path) of the sidebar's pages, per run
    navigation = st.navigation
    monkeypatch.setattr(
        st,
        "navigation",
        lambda pages, **options: shown.append([(p.title, p.url_path) for p in pages]) or navigation(pages, **options),
    )
    assert [(name, url) for name, url, _ in PAGES] == [
        ("home", ""),
        ("dataset", "Dataset"),
        ("cost", "Cost"),
        ("train", "Train"),
        ("playground", "Playground"),
    ]
    urls = ["", "Dataset", "Cost", "Train", "Playground"]
    for lang, nav in (("en", NAV_EN), ("es", NAV_ES)):
        for name in ("home", "dataset", "cost", "train", "playground"):
            at = open_page(name, lang=lang)
            assert not at.exception, (name, at.exception)
            assert shown[-1] == list(zip(nav, urls, strict=True))
            assert at.sidebar.radio[0].value == lang  # the language switch is drawn on every page
            assert len(sidebar_captions(at)) >= 2  # so is the provider status
    assert [t.value for t in open_page("dataset", lang="es").title] == ["Datos"]
    assert [t.value for t in open_page("cost").title] == ["Cost"]
