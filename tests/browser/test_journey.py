"""The whole journey in one go in real Chromium, in English and then in Spanish (issue 15's "Done when").

English: load the samples → open one → live regex filter → edit a cell ("Saved") → export with splits (saved as
versions) → Cost → train on a real local engine (the tiny random Llama; SmolLM2 in the ``slow`` variant) →
"Compare in the Playground": base vs the fine-tune in one chat, then over the sample test set → a blind vote.

Spanish: the sidebar's switch, then the same pages with the same panels open. The visible text of every page
(the app, the AgGrid iframe, widget labels, placeholders, chart axes in the Vega SVG, st.dataframe headers and
cells) is split into words, and each word must be a word of the Spanish UI strings (``[es]`` of
studio/locales/*.toml), a name the journey made (dataset, version, model) or a token of ``allowed_tokens.txt``.
Dataset text and model answers are data, not UI: grid text cells, chat answers, code snippets, the vote's prompt
and answers, and the st.dataframe columns of :data:`DATA_COLUMNS` (prompts, answers, references) and those named
after a Playground target (its answers) are left out.

Screenshots of every page in both languages go to ``test-artifacts/journey/`` (git-ignored); the test prints it.
"""

from __future__ import annotations

import contextlib
import re
import tomllib
from collections.abc import Collection
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from studio.cost.prices import load_prices
from studio.i18n import translator
from studio.playground.compare import list_runs
from studio.quality.rules import RULES
from studio.storage.workspace import SAMPLE_DIR, SAMPLE_FILES, Workspace
from tests.browser.conftest import ROOT, StreamlitServer
from tests.browser.widgets import ROWS, choose, grid_of, wait_rows
from tests.engine_support import TINY, EngineProcess
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

ARTIFACTS = ROOT / "test-artifacts" / "journey"
ALLOWED = Path(__file__).with_name("allowed_tokens.txt")
DATASET = "style_demo"
EDITED = "Arr, this answer was edited in the journey test."  # dataset text: the history quotes it
PAGES = {"home": "", "dataset": "Dataset", "cost": "Cost", "train": "Train", "playground": "Playground"}

# Text nodes under these are data (dataset text, model answers, code), never UI strings.
DATA = [
    ".ag-cell[col-id=system]",
    ".ag-cell[col-id=user]",
    ".ag-cell[col-id=assistant]",
    ".ag-cell[col-id=conversation]",
    "[data-testid=stChatMessageContent]",
    "[data-testid=stCode]",
    "[data-testid=stJson]",
    "[class*=st-key-data-]",  # containers the pages key "data-…" (the blind vote's prompt and answers)
]

# st.dataframe columns that hold data (the test set's prompts and references, answers, conversation turns), by
# their studio/locales/columns.toml key; a column named after a Playground target holds its answers too.
DATA_COLUMNS = ("prompt", "answer", "reference", "reference_tool_calls", "tool_calls", "user", "assistant", "system")

# Streamlit's own strings that its API does not let an app set: the file uploader's drop zone ("Drag and drop
# file here", "200MB per file") and its button ("Upload"). Text under these is left out, and only these.
# The "Running… Stop" status widget comes and goes with each script run.
STREAMLIT_OWN = [
    "[data-testid=stFileUploaderDropzoneInstructions]",
    "[data-testid=stFileUploaderDropzone] button",
    "[data-testid=stStatusWidget]",
]

# Every visible text node of one document, the cells of st.dataframe tables (they draw on a canvas; glide data
# grid keeps each header and the rows on screen in an accessibility table, off screen, with aria-colindex) except
# the columns named in dataHeaders, and the placeholder of an empty text field (what a user reads there); nodes
# under a DATA or STREAMLIT_OWN selector are skipped. aria-labels and SVG <title>s are for screen readers and
# hover, not on screen.
VISIBLE_TEXT = """([skipped, dataHeaders]) => {
    const out = [];
    const skip = (el) => skipped.some((s) => el.closest(s));
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const el = node.parentElement;
        const text = node.textContent.trim();
        if (!text || !el || ["SCRIPT", "STYLE", "NOSCRIPT", "title", "desc"].includes(el.tagName)) continue;
        if (skip(el)) continue;
        if (el.closest("svg") ? !el.closest("svg").checkVisibility() : !el.checkVisibility()) continue;
        if (getComputedStyle(el).fontFamily.includes("Material")) continue;  // an icon's ligature ("folder_open")
        const box = el.getBoundingClientRect();
        if (box.width < 2 || box.height < 2) continue;  // visually hidden ("Skip to main content" until focused)
        out.push(text);
    }
    for (const table of document.querySelectorAll("[data-testid=stDataFrame]")) {
        const data = new Set();
        for (const el of table.querySelectorAll("[role=columnheader]")) {
            const header = el.textContent.trim();
            if (dataHeaders.includes(header.toLowerCase())) data.add(el.getAttribute("aria-colindex"));
            if (header) out.push(header);
        }
        for (const el of table.querySelectorAll("[role=gridcell]")) {
            const text = el.textContent.trim();
            if (text && !data.has(el.getAttribute("aria-colindex"))) out.push(text);
        }
    }
    for (const el of document.querySelectorAll("input[placeholder], textarea[placeholder]")) {
        if (el.value || skip(el) || el.closest("[data-baseweb=select]") || !el.checkVisibility()) continue;
        const value = el.getAttribute("placeholder");
        if (!/^[\\[{]/.test(value)) out.push(value);  // a JSON example is code
    }
    return out;
}"""

LETTERS = re.compile(r"[^\W\d_]+")
TOKEN = re.compile(r"[\w/][\w\-:./@']*")


def ui_words() -> set[str]:
    """The words of every Spanish UI string, placeholders (``{name}``) and markdown/icon syntax left out."""
    words: set[str] = set()
    for path in (ROOT / "studio" / "locales").glob("*.toml"):
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("es", {})
        for value in table.values():
            value = re.sub(r"\{[^}]*\}|:material/[a-z_]+:", " ", value)
            words.update(w.lower() for w in LETTERS.findall(value))
    for rule in RULES:  # the rules' descriptions live with the rules (studio/quality/rules.py)
        words.update(w.lower() for w in LETTERS.findall(re.sub(r"`[^`]*`|\{\{[^}]*\}\}", " ", rule.description("es"))))
    return words


def allowed_tokens() -> set[str]:
    lines = (line.split("#", 1)[0].strip() for line in ALLOWED.read_text(encoding="utf-8").splitlines())
    return {line.lower() for line in lines if line}


def english_left(texts: list[str], allowed: set[str], names: set[str]) -> list[str]:
    """The words of ``texts`` that are neither Spanish UI words nor allowed tokens nor names, with their context."""
    found = []
    for text in texts:
        text = re.sub(r"\w+…", "…", text)  # a word cut short ("jo…") is a quote of data, not a word
        for token in TOKEN.findall(text):
            token = token.strip("'\"").rstrip(".:-/'").lower()  # 'quoted' names are names
            if not LETTERS.search(token) or token in allowed or token in names:
                continue
            if token.startswith("/") or "://" in token:  # a path or a URL: names, not words
                continue
            bad = [w for w in LETTERS.findall(token) if w.lower() not in allowed]
            if bad:
                found.append(f"{'/'.join(bad)!s:>20} in {text[:90]!r}")
    return sorted(set(found))


def settle(page) -> None:
    """Wait until Streamlit has finished the script run the last action started."""
    page.wait_for_timeout(400)
    expect(page.locator("[data-testid=stStatusWidget]")).to_have_count(0, timeout=60_000)


def go(page, name: str, heading: str) -> None:
    """Open a page through the sidebar's navigation (the same session: language and open dataset kept)."""
    page.locator(f"[data-testid=stSidebarNav] a[href$='/{PAGES[name]}']").click()
    expect(page.get_by_role("heading", name=heading).first).to_be_visible(timeout=60_000)
    settle(page)


def shoot(page, lang: str, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{lang}-{name}.png"), full_page=True)


def visible_text(page, data_headers: Collection[str] = ()) -> list[str]:
    """What :data:`VISIBLE_TEXT` reads on the page and in its frames; st.dataframe columns headed by one of
    ``data_headers`` (lower case) are data."""
    arguments = [DATA + STREAMLIT_OWN, sorted(data_headers)]
    texts = page.evaluate(VISIBLE_TEXT, arguments)
    for frame in page.frames[1:]:  # the AgGrid iframe (and any other component's frame)
        with contextlib.suppress(Exception):  # a frame detached by a rerun holds no text any more
            texts += frame.evaluate(VISIBLE_TEXT, arguments)
    return texts


def send(page, text: str) -> None:
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(text)
    box.press("Enter")


def journey_in_english(page, model: str, workspace: Path, max_tokens: int | None = None) -> None:
    page.get_by_role("button", name="Load the sample datasets").click()
    wait_until(  # the import runs in that script run; leaving the page before it ends would stop it
        lambda: len(Workspace(workspace).datasets()) == len(SAMPLE_FILES), timeout=60, message="the samples"
    )
    settle(page)
    shoot(page, "en", "home")

    go(page, "dataset", "Dataset")
    choose(page, "Workspace dataset", f"{DATASET} · jsonl/chat")
    wait_rows(page, "60 of 60 rows")
    regex = page.get_by_label("Regex (RE2 syntax)")
    regex.fill("egg")
    expect(page.get_by_text(ROWS)).not_to_have_text("60 of 60 rows", timeout=15_000)
    regex.fill("")
    wait_rows(page, "60 of 60 rows")
    grid = grid_of(page)
    expect(grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='id']").first).to_have_text("0", timeout=15_000)
    cell = grid.locator(".ag-row[row-index='0'] .ag-cell[col-id='assistant']")
    cell.dblclick()
    editor = grid.locator("textarea").first
    editor.fill(EDITED)
    editor.press("Enter")
    expect(page.get_by_text(re.compile(r"Saved: example 0, (last )?assistant"))).to_be_visible(timeout=20_000)
    page.get_by_text("Prepare the export and the splits").click()
    page.get_by_role("button", name="Save the splits as workspace versions").click()
    expect(page.get_by_text("Saved 3 split versions.")).to_be_visible(timeout=30_000)
    settle(page)
    shoot(page, "en", "dataset")

    go(page, "cost", "Cost")
    expect(page.get_by_text(re.compile(r"examples?|rows?")).first).to_be_visible(timeout=30_000)
    shoot(page, "en", "cost")

    go(page, "train", "Train")
    expect(page.get_by_text("Local engine running")).to_be_visible(timeout=60_000)
    field = page.get_by_label("Base model")
    field.fill(model)
    field.press("Enter")
    settle(page)
    # The page's default: no validation file (the 6-example split is below the 10 an upload needs: it says so).
    # One epoch: the journey shows a job, not a good model.
    expect(page.get_by_text(re.compile(r"Not preselected: the validation split .+ has 6 examples"))).to_be_visible(
        timeout=30_000
    )
    page.get_by_text("manual", exact=True).click()
    epochs = page.get_by_label("Number of epochs")
    epochs.fill("1")
    epochs.press("Enter")
    settle(page)
    expect(page.get_by_text(re.compile(r"Valid training data: \d+ examples"))).to_be_visible(timeout=60_000)
    page.get_by_role("button", name="Upload and start the job").click()
    expect(page.get_by_text("succeeded", exact=False).first).to_be_visible(timeout=600_000)
    expect(page.locator("[data-testid=stVegaLiteChart], .vega-embed").first).to_be_visible(timeout=30_000)
    settle(page)
    shoot(page, "en", "train")

    page.get_by_role("button", name="Compare in the Playground").click()
    expect(page.get_by_role("heading", name="Playground: base vs fine-tuned")).to_be_visible(timeout=60_000)
    settle(page)
    if max_tokens is not None:  # shorter answers: the journey checks the pages, not how long a model talks
        field = page.get_by_label("Max tokens")
        field.fill(str(max_tokens))
        field.press("Enter")
        settle(page)
    send(page, "Tell me about the sea.")
    expect(page.get_by_text("tokens ·")).to_have_count(2, timeout=120_000)
    page.get_by_role("tab", name="Test set").click()
    page.get_by_role("button", name="Run the test set").click()
    expect(page.get_by_text("Per target", exact=True).first).to_be_visible(timeout=300_000)
    settle(page)
    page.get_by_role("tab", name="Blind A/B").click()
    page.get_by_role("button", name="A is better").click()
    expect(page.get_by_text(re.compile(r"^You voted A is better: A was"))).to_be_visible(timeout=30_000)
    settle(page)
    shoot(page, "en", "playground")


def spanish_pass(page, names: set[str], targets: set[str]) -> dict[str, list[str]]:
    """Every page again in Spanish with the journey's panels open; returns the English words left, by page.
    ``targets``: the Playground's target names (a results column named after one holds its answers)."""
    allowed = ui_words() | allowed_tokens()
    left: dict[str, list[str]] = {}
    page.get_by_test_id("stSidebar").get_by_text("Español").click()
    expect(page.get_by_text("Motor local").first).to_be_visible(timeout=30_000)
    es = translator("es")
    data_headers = {es(f"columns.{key}").lower() for key in DATA_COLUMNS} | {t.lower() for t in targets}
    for name in PAGES:
        go(page, name, es(f"{name}.title"))
        if name == "dataset":  # the grid draws its Spanish headers (its iframe is rebuilt for the new options)
            header = grid_of(page).locator(".ag-header-cell-text", has_text="asistente").first
            expect(header).to_be_visible(timeout=30_000)
        texts = visible_text(page, data_headers)
        if name == "dataset":
            page.locator("[data-testid=stExpander] summary").first.click()  # the open/import panel
            settle(page)
            # The picker still names the open dataset (its label changed with the language, which rebuilt it).
            picker = page.locator("[data-testid=stSelectbox]").filter(has_text=es("dataset.pick")).locator("input")
            expect(picker).to_have_value(f"{DATASET} · jsonl/chat", timeout=30_000)
            texts += visible_text(page, data_headers)
        if name == "playground":
            expect(page.get_by_role("tab").first).to_be_visible(timeout=60_000)
            for tab in page.get_by_role("tab").all():
                tab.click()
                settle(page)
                texts += visible_text(page, data_headers)
        if name == "train":
            for summary in page.locator("[data-testid=stExpander] summary").all():
                summary.click()
                settle(page)
            texts += visible_text(page, data_headers)
        table = page.locator("[data-testid=stDataFrame]")
        headers, cells = table.locator("[role=columnheader]").count(), table.locator("[role=gridcell]").count()
        print(f"{name}: {len(texts)} texts, {headers} table headers and {cells} cells on screen")
        if name == "train":  # the jobs, events and checkpoints tables: their headers and cells are read
            assert headers > 0 and cells > 0
        shoot(page, "es", name)
        if found := english_left(texts, allowed, names):
            left[name] = found
    return left


def journey_names(workspace: Workspace, engine_url: str) -> set[str]:
    """Names the journey shows as they are: datasets, their formats and versions, the engine's models (and their
    job ids), the priced models and where their prices come from."""
    names = {p.stem for p in SAMPLE_DIR.iterdir()} | {EDITED}
    for dataset in workspace.datasets():
        names |= {dataset.name, dataset.source_name, dataset.format, *(v.name for v in workspace.versions(dataset.id))}
    models = [m["id"] for m in httpx.get(f"{engine_url}/v1/models", timeout=10).json()["data"]]
    names |= {*models, *(part for m in models for part in m.split(":"))}
    for run in list_runs(workspace):  # the Playground's target names, as the user (or the default) named them
        names |= set(run.target_names)
    prices = load_prices()
    names |= set(prices.models) | set(TOKEN.findall(prices.source))
    return {part.lower() for name in names for part in (name, *TOKEN.findall(name))}


def walk(tmp_path, page, model: str, model_dir: Path, *, spanish: bool = True, max_tokens: int | None = None) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    print(f"\njourney screenshots: {ARTIFACTS}")
    engine = EngineProcess(tmp_path / "engine", models={model: model_dir}, threads=1)
    workspace = tmp_path / "workspace" / "studio.db"
    server = StreamlitServer(workspace, env={"STUDIO_ENGINE_URL": f"{engine.base_url}/v1"}).start()
    try:
        page.goto(server.url)
        expect(page.get_by_role("heading", name="Fine-Tuning Studio")).to_be_visible(timeout=60_000)
        journey_in_english(page, model, workspace, max_tokens)
        if spanish:
            names = journey_names(Workspace(workspace), engine.base_url)
            targets = {t for run in list_runs(Workspace(workspace)) for t in run.target_names}
            left = spanish_pass(page, names, targets)
            assert left == {}, "English a user sees in Spanish:\n" + "\n".join(
                f"{name}: {word}" for name, words in left.items() for word in words
            )
        assert page.dialogs == []
    except BaseException:
        shoot(page, "failed", "last")  # what the page showed when the journey stopped
        raise
    finally:
        server.stop()
        engine.stop()
    assert len(list(ARTIFACTS.glob("*.png"))) >= (10 if spanish else 5)


@pytest.mark.timeout(900)
def test_the_whole_journey_in_english_then_spanish(tmp_path, page, tiny_model_dir):
    walk(tmp_path, page, TINY, tiny_model_dir)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_whole_journey_on_smollm2(tmp_path, page, smollm2_dir):
    """The English journey on the real base model, answers cut to 32 tokens (the Spanish pass does not depend on
    the model: the tiny journey above covers it; tests/playground/test_runs_engine.py runs the sample test set on
    SmolLM2 at the default lengths)."""
    walk(tmp_path, page, "smollm2-135m-instruct", smollm2_dir, spanish=False, max_tokens=32)
