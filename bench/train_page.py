"""The Train page's rerun at 100k rows: what a click on any widget costs once a version is chosen.

Before, the page exported and validated the chosen version on every rerun; now it does so once per (versions,
model) (``ui.train.prepared``). Both runs use Streamlit's AppTest over app.py (the page as the browser gets it,
without the browser), a workspace holding the dataset as one version, and no engine (its URL points nowhere).
``wall_s`` is the median of 3 reruns after the first run; ``first_run_s`` is the first run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.data import chat_jsonl


def _page(size: str, *, cached: bool) -> dict:
    from streamlit.testing.v1 import AppTest

    from studio.storage.workspace import Workspace, import_file

    folder = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["STUDIO_WORKSPACE"] = str(folder / "studio.db")
    os.environ["STUDIO_ENGINE_URL"] = "http://127.0.0.2:9/v1"  # no engine: the page must not start one
    import_file(Workspace(folder / "studio.db"), chat_jsonl(size), name=f"bench_{size}")
    if not cached:  # the page before: export and validate on every rerun
        import ui.train
        from studio.providers.training_data import prepare_training_data

        ui.train.prepared = lambda workspace, training, validation, model: prepare_training_data(  # type: ignore
            workspace, training, validation, model=model
        )
    root = Path(__file__).resolve().parents[1]
    at = AppTest.from_file(str(root / "app.py"), default_timeout=600)
    at.run()
    at.switch_page("app_pages/train.py")
    began = time.perf_counter()
    at.run()
    first = time.perf_counter() - began
    if at.exception:
        raise RuntimeError(f"the Train page failed: {at.exception}")
    reruns = []
    for _ in range(3):
        began = time.perf_counter()
        at.run()
        reruns.append(time.perf_counter() - began)
    return {
        "wall_s": statistics.median(reruns),
        "first_run_s": first,
        "rows": int(size.rstrip("kM")) * (1000 if size.endswith("k") else 1_000_000 if size.endswith("M") else 1),
    }


def rerun_ours(size: str = "100k") -> dict:
    return _page(size, cached=True)


def rerun_baseline(size: str = "100k") -> dict:
    return _page(size, cached=False)
