"""The Train page against a real local engine (tiny model): launch, poll to success, charts, restart survival."""

from __future__ import annotations


from streamlit.testing.v1 import AppTest

from studio.providers.jobs import list_jobs
from studio.storage.workspace import Workspace, import_file
from tests.conftest import ROOT
from tests.engine_support import TINY, write_chat_file
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

PAGE = str(ROOT / "pages/3_Train.py")


def test_launch_and_watch_a_local_job(app_engine, tmp_path):
    import_file(Workspace(), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.session_state["train_settings"] = {"model": TINY, "epochs": 1, "batch_size": 4,
                                          "learning_rate_multiplier": "auto", "seed": 7, "suffix": "demo"}
    at.run()
    assert not at.exception
    assert any("Local engine running" in c.value for c in at.caption)
    assert any("Valid training data: 12 examples" in s.value for s in at.success)
    at.text_input(key="train_model_local").set_value(TINY)
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Job ftjob-") for s in at.success)
    [record] = list_jobs(Workspace())
    assert record.provider == "local" and record.suffix == "demo"

    wait_until(lambda: any("succeeded" in m.value for m in at.run().markdown), timeout=240, interval=2,
               message="the Train page to show the job succeeded")
    chart = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert chart, "the loss chart is missing"
    assert any(f"ft:{TINY}:demo:" in c.value for c in at.code)

    again = AppTest.from_file(PAGE, default_timeout=120).run()  # a restarted app lists the same job
    assert not again.exception
    assert record.job_id in " ".join(str(d.value) for d in again.dataframe)


def test_azure_profile_asks_for_endpoint_version_deployment_and_key(tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.sidebar.radio(key="train_provider").set_value("azure").run()
    assert not at.exception
    assert {w.key for w in at.sidebar.text_input} >= {"train_base_url", "train_api_version", "train_deployment",
                                                       "train_api_key"}
    assert any("No API key for Azure OpenAI" in w.value for w in at.warning)
