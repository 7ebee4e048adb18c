"""AppTest smoke test of the home page (app.py)."""

from streamlit.testing.v1 import AppTest

from studio.storage.workspace import Workspace, import_file

from tests.conftest import ROOT


def test_home_lists_steps_datasets_and_providers(tmp_path):
    (tmp_path / "faq.csv").write_text("question,answer\nQ,A\n")
    import_file(Workspace(), tmp_path / "faq.csv")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "Fine-Tuning Studio"
    text = " ".join(m.value for m in at.markdown)
    assert "1 · Dataset" in text and "4 · Playground" in text
    assert "Local engine: not running" in text or "Local engine: running" in text
    assert "OpenAI: no API key set" in text
    assert len(at.dataframe) == 1


def test_home_switches_to_spanish_and_loads_samples():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert at.info[0].value == "The workspace is empty."
    at.sidebar.radio[0].set_value("es").run()
    assert at.title[0].value == "Fine-Tuning Studio"
    assert at.info[0].value == "El espacio de trabajo está vacío."
    at.button(key="load_samples").click().run()
    assert not at.exception
    assert len(Workspace().datasets()) >= 1
