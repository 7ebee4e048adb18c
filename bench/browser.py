"""The Dataset page's grid in Debian Chromium (Playwright, headless) over a real ``streamlit run app.py``.

One session imports the dataset into a temporary workspace, starts Streamlit on it and measures, with
``wait_for_function(..., polling="raf")`` so the wait itself adds at most a frame (~16 ms):

- ``first_render_s``: choosing the dataset in "Workspace dataset" → first grid row visible in the AgGrid
  iframe, on the server's first session (nothing cached); ``warm_render_s``: the median of later sessions;
- ``edit_s``: Enter in an ``assistant`` cell editor → "Saved: example N, assistant." visible (median);
- ``regex_s``: one keystroke in "Regex (RE2 syntax)" (a live input with a 200 ms debounce) → the "N of M rows"
  line changed (median); ``regex_minus_debounce_s`` subtracts the 200 ms; ``regex_grid_s`` runs to the new
  grid's first row being visible; ``regex_first_s`` is the first keystroke alone (the server's first search of
  the data: on the multi-turn set it builds the turn view), ``regex_max_s`` the slowest.

Each step's CPU seconds come beside its wall time (``first_render_cpu_s``, ``edit_cpu_s``, ``regex_cpu_s``: the
worker's whole process tree, Streamlit and Chromium included, over the step; ``*_server_cpu_s``: Streamlit's
alone), with the load average at the start and the end (``load_before``, ``load_after``): the machine may be
shared, and CPU seconds are the fairer figure then. :func:`session` runs on the single-turn chat set,
:func:`multi_session` on the multi-turn one (``bench.data.multi_turn_jsonl``).

Peak RSS of the harness covers the worker, Streamlit and every Chromium process; ``server_peak_rss_mb`` is
Streamlit's own (VmHWM).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.data import chat_jsonl, multi_turn_jsonl
from studio.testing.local import CHROMIUM, CHROMIUM_ARGS, free_port

ROOT = Path(__file__).resolve().parents[1]
GRID = "iframe[title='st_aggrid.AgGrid.agGrid']"
ROWS_JS = "Array.from(document.querySelectorAll('p, strong')).map(e => e.innerText).find(t => / of \\d+ rows$/.test(t))"
DEBOUNCE_S = 0.2
# One-key patterns per data set that match some rows but neither all of them nor the first (nor the edit text,
# whose row numbers are 0 to EDITS - 1).
KEYS = {"chat": "zqxj", "multi": "j7@9"}
EDITS = 3
RENDERS = 3


def _start_streamlit(workspace: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    import httpx

    from studio.cli.data import app_command

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [*app_command(port, headless=True), *extra]
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env={**os.environ, "STUDIO_WORKSPACE": str(workspace)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.3)
    process.kill()
    raise RuntimeError("streamlit did not start within 90 s")


def _vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _tree_cpu_s(pid: int | None = None) -> float:
    """CPU seconds (user + system) of ``pid`` (default: this process) and every descendant alive now, with the
    children each has reaped (/proc/PID/stat)."""
    tree: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = fields
            tree.setdefault(int(fields[1]), []).append(int(entry.name))
    ticks, todo = 0, [pid or os.getpid()]
    while todo:
        current = todo.pop()
        if current in stats:
            ticks += sum(int(v) for v in stats[current][11:15])  # utime, stime, cutime, cstime
        todo.extend(tree.get(current, ()))
    return ticks / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU seconds per step: the whole tree (``tree``) and the Streamlit server alone (``server``)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.tree: dict[str, list[float]] = {}
        self.server: dict[str, list[float]] = {}
        self._began: tuple[float, float] = (0.0, 0.0)

    def start(self) -> None:
        self._began = (_tree_cpu_s(), _cpu_s(self.server_pid))

    def stop(self, step: str) -> None:
        tree, server = self._began
        self.tree.setdefault(step, []).append(_tree_cpu_s() - tree)
        self.server.setdefault(step, []).append(_cpu_s(self.server_pid) - server)

    def figures(self) -> dict[str, float]:
        """``<step>_cpu_s`` and ``<step>_server_cpu_s`` for each step: the median over its runs."""
        out = {}
        for step, runs in self.tree.items():
            out[f"{step}_cpu_s"] = statistics.median(runs)
            out[f"{step}_server_cpu_s"] = statistics.median(self.server[step])
        return out


def _wait_text(page: Any, expression: str, timeout_s: float = 120, arg: Any = None) -> None:
    page.wait_for_function(expression, arg=arg, polling="raf", timeout=timeout_s * 1000)


def _rows_text(page: Any) -> str:
    return page.evaluate(f"() => {ROWS_JS} || ''")


# A grid counts as shown when its iframe (same origin) has rendered row 0 and Streamlit has not marked it
# stale (a rerun is replacing it). With ``since`` (the first row's id before an action), only a grid that is
# new (Streamlit remounted it) or shows another first row counts. The shown grid is tagged live so that
# Playwright acts on that one.
LIVE = f"{GRID}[data-bench-live='1']"
_MARK_OLD = f"() => document.querySelectorAll({GRID!r}).forEach(f => f.dataset.benchOld = '1')"
_FIRST_ID = f"""() => {{
    const f = document.querySelector({LIVE!r}) || document.querySelector({GRID!r});
    const doc = f && f.contentDocument;
    const cell = doc && doc.querySelector(".ag-row[row-index='0'] [col-id='id']");
    return cell ? cell.innerText.trim() : null;
}}"""
_NEW_GRID_SHOWN = f"""(since) => {{
    const frames = [...document.querySelectorAll({GRID!r})];
    const live = frames.find(f => {{
        if (f.closest('[data-stale="true"]')) return false;
        const doc = f.contentDocument;
        const row = doc && doc.querySelector(".ag-row[row-index='0']");
        if (!row || row.getClientRects().length === 0) return false;
        if (since === undefined || since === null || !f.dataset.benchOld) return true;
        const cell = row.querySelector("[col-id='id']");
        return !!cell && cell.innerText.trim() !== since;
    }});
    frames.forEach(f => {{ if (f !== live) delete f.dataset.benchLive; }});
    if (live) live.dataset.benchLive = '1';
    return !!live;
}}"""
_GRID_STATE = f"""() => [...document.querySelectorAll({GRID!r})].map(f => ({{
    old: !!f.dataset.benchOld, stale: !!f.closest('[data-stale="true"]'),
    rows: f.contentDocument ? f.contentDocument.querySelectorAll('.ag-row').length : -1}}))"""


def _open(page: Any, url: str, label: str, cpu: _Cpu | None = None, step: str = "first_render") -> float:
    """Load the page, pick the dataset, and return the seconds from the pick to the first grid row visible (its
    CPU seconds go to ``cpu`` under ``step``)."""
    page.goto(f"{url}/Dataset")
    box = page.locator("[data-testid=stSelectbox]").filter(has_text="Workspace dataset")
    box.wait_for(timeout=120_000)
    box.click()
    option = page.get_by_role("option", name=label, exact=True)
    option.wait_for(timeout=30_000)
    if cpu:
        cpu.start()
    began = time.perf_counter()
    option.click()
    _wait_text(page, _NEW_GRID_SHOWN, timeout_s=300)
    took = time.perf_counter() - began
    if cpu:
        cpu.stop(step)
    return took


def _settled_grid(page: Any) -> Any:
    """The frame of the grid on screen now (not one that a rerun is replacing)."""
    try:
        _wait_text(page, _NEW_GRID_SHOWN)
    except Exception as exc:  # Playwright's TimeoutError: say what the page showed
        state = page.evaluate(_GRID_STATE)
        raise RuntimeError(f"no live grid after 120 s: grids {state}, {_rows_text(page)!r}") from exc
    return page.frame_locator(LIVE)


def _edit(page: Any, row: int, value: str, cpu: _Cpu | None = None) -> float:
    grid = _settled_grid(page)
    ident = grid.locator(f".ag-row[row-index='{row}'] .ag-cell[col-id='id']").first.inner_text().strip()
    grid.locator(f".ag-row[row-index='{row}'] .ag-cell[col-id='assistant']").first.dblclick()
    editor = grid.locator("textarea").first
    editor.fill(value)
    saved = f"Saved: example {ident}, assistant."
    if cpu:
        cpu.start()
    began = time.perf_counter()
    editor.press("Enter")
    _wait_text(page, f"() => document.body.innerText.includes({saved!r})")
    took = time.perf_counter() - began
    if cpu:
        cpu.stop("edit")
    return took


def _keystroke(page: Any, key: str, cpu: _Cpu | None = None) -> tuple[float, float, int]:
    """(to the row count line, to the new grid's first row, rows shown) for ``key`` typed into an empty
    regex."""
    box = page.get_by_label("Regex (RE2 syntax)")
    before = _rows_text(page)
    box.click()
    first = page.evaluate(_FIRST_ID)
    page.evaluate(_MARK_OLD)
    if cpu:
        cpu.start()
    began = time.perf_counter()
    box.press(key)
    _wait_text(page, f"() => {{ const t = {ROWS_JS}; return t && t !== {before!r}; }}")
    rows_s = time.perf_counter() - began
    if cpu:
        cpu.stop("regex")
    _wait_text(page, _NEW_GRID_SHOWN, arg=first)
    grid_s = time.perf_counter() - began
    shown = int(_rows_text(page).split()[0])
    box.fill("")
    _wait_text(page, f"() => {ROWS_JS} === {before!r}")
    _settled_grid(page)
    return rows_s, grid_s, shown


def session(size: str = "100k", data: str = "chat") -> dict:
    """Import ``size`` examples of ``data`` (``chat``: :func:`bench.data.chat_jsonl`, ``multi``: the multi-turn
    :func:`bench.data.multi_turn_jsonl`), start Streamlit + Chromium, and time render, edits and regex
    keystrokes."""
    from playwright.sync_api import sync_playwright

    from studio.storage.workspace import Workspace, import_file

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    folder = Path(tempfile.mkdtemp(prefix="bench-grid-"))
    workspace = Workspace(folder / "studio.db")
    began = time.perf_counter()
    source = {"chat": chat_jsonl, "multi": multi_turn_jsonl}[data](size)
    info, result = import_file(workspace, source, name=f"bench_{data}_{size}")
    import_s = time.perf_counter() - began
    label, total = f"{info.name} · {info.format}", len(result.frame)
    load_before = os.getloadavg()
    server, url = _start_streamlit(folder / "studio.db")
    cpu = _Cpu(server.pid)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                renders = [_open(page, url, label, cpu)]
                edits = [_edit(page, row, f"Edited by the benchmark, row {row}.", cpu) for row in range(EDITS)]
                keys = [_keystroke(page, key, cpu) for key in KEYS[data]]
                for _ in range(RENDERS - 1):
                    context.close()
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    page = context.new_page()
                    renders.append(_open(page, url, label, cpu, "warm_render"))
                heap_mb = page.evaluate("() => (performance.memory || {}).usedJSHeapSize || 0") / 2**20
                context.close()
            finally:
                browser.close()
        server_peak = _vm_hwm_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    regex_s = statistics.median(k[0] for k in keys)
    return {
        "wall_s": renders[0],
        "first_render_s": renders[0],
        "warm_render_s": statistics.median(renders[1:]) if len(renders) > 1 else renders[0],
        "edit_s": statistics.median(edits),
        "edit_max_s": max(edits),
        "regex_s": regex_s,
        "regex_minus_debounce_s": regex_s - DEBOUNCE_S,
        "regex_first_s": keys[0][0],  # the session's first search: it builds the turn view (multi-turn set)
        "regex_max_s": max(k[0] for k in keys),
        "regex_grid_s": statistics.median(k[1] for k in keys),
        "regex_rows_shown": [k[2] for k in keys],
        **cpu.figures(),
        "load_before": [round(v, 2) for v in load_before],
        "load_after": [round(v, 2) for v in os.getloadavg()],
        "rows": total,
        "turns_per_example": round(float(result.frame["messages"].map(len).mean()), 2),
        "edits": len(edits),
        "keystrokes": len(keys),
        "import_s": import_s,
        "server_peak_rss_mb": server_peak,
        "js_heap_mb": heap_mb,
    }


def multi_session(size: str = "100k") -> dict:
    """:func:`session` on the multi-turn set (system + 2–4 rounds, tool calls in 1 of 4, an image part in 1 of 10)."""
    return session(size, "multi")


PANEL_OPENS = 3


def _open_panel(page: Any, row: int) -> float:
    """Seconds from ticking row ``row``'s checkbox to its conversation panel visible; unticks it after."""
    grid = _settled_grid(page)
    ident = grid.locator(f".ag-row[row-index='{row}'] .ag-cell[col-id='id']").first.inner_text().strip()
    box = grid.locator(f".ag-row[row-index='{row}'] input.ag-checkbox-input").first
    shown = f"Conversation · example {ident}"
    began = time.perf_counter()
    box.click()
    _wait_text(page, f"() => document.body.innerText.includes({shown!r})")
    took = time.perf_counter() - began
    box.click()
    _wait_text(page, f"() => !document.body.innerText.includes({shown!r})")
    return took


def panel_session(size: str = "100k") -> dict:
    """Import ``size`` multi-turn conversations, open the Dataset page in Chromium and time ticking a row →
    its conversation panel shown (median of :data:`PANEL_OPENS`; the panel renders in the grid's fragment)."""
    from playwright.sync_api import sync_playwright

    from studio.storage.workspace import Workspace, import_file

    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium")
    folder = Path(tempfile.mkdtemp(prefix="bench-panel-"))
    workspace = Workspace(folder / "studio.db")
    began = time.perf_counter()
    info, result = import_file(workspace, multi_turn_jsonl(size), name=f"bench_panel_{size}")
    import_s = time.perf_counter() - began
    label = f"{info.name} · {info.format}"
    server, url = _start_streamlit(folder / "studio.db")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                render_s = _open(page, url, label)
                opens = [_open_panel(page, row) for row in range(PANEL_OPENS)]
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "wall_s": statistics.median(opens),
        "panel_s": statistics.median(opens),
        "panel_max_s": max(opens),
        "first_render_s": render_s,
        "rows": len(result.frame),
        "turns_per_example": round(float(result.frame["messages"].map(len).mean()), 2),
        "import_s": import_s,
    }


IDLE_PAGES = ("", "Dataset", "Cost", "Train", "Playground")


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(seconds: str = "60", watcher: str = "config", pages: str = ",".join(IDLE_PAGES)) -> dict:
    """The Streamlit server's CPU while one tab shows each page and nobody touches it.

    ``watcher="config"`` runs exactly what ``studio app`` runs (.streamlit/config.toml: watcher off);
    ``watcher="auto"`` is the baseline, Streamlit's default file watcher over the project folder (.venv/ and
    workspace/ included). ``cpu_pct`` is the worst page's share of one core in percent (CPU s ÷ wall s × 100);
    ``cpu_pct_by_page`` lists every page's.
    """
    from playwright.sync_api import sync_playwright

    from studio.storage.workspace import Workspace, seed_samples

    window = float(seconds)
    folder = Path(tempfile.mkdtemp(prefix="bench-idle-"))
    seed_samples(Workspace(folder / "studio.db"))
    extra = () if watcher == "config" else ("--server.fileWatcherType", watcher)
    server, url = _start_streamlit(folder / "studio.db", *extra)
    shares: dict[str, float] = {}
    started = time.perf_counter()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                for name in pages.split(","):
                    page.goto(f"{url}/{name}")
                    page.wait_for_selector("[data-testid=stApp]", timeout=120_000)
                    page.wait_for_function(
                        "() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=120_000
                    )
                    time.sleep(3)  # let the first run's background work (prefetch, probes) finish
                    began_cpu, began = _cpu_s(server.pid), time.perf_counter()
                    time.sleep(window)
                    shares[name or "Home"] = round(
                        100 * (_cpu_s(server.pid) - began_cpu) / (time.perf_counter() - began), 2
                    )
            finally:
                browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_pct": max(shares.values()),
        "cpu_pct_by_page": shares,
        "window_s": window,
        "watcher": watcher,
    }
