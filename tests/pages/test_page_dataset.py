"""AppTest of the Dataset page's non-grid widgets: filters and counts, bulk fixes, undo, versions, export."""

import pytest

from studio.editing.editor import DatasetEditor
from studio.editing.ops import DeleteRows
from studio.storage.workspace import Workspace
from tests.pages.apptest import open_chats, open_page

ROWS = [
    ("What is a fever?", "A body temperature above 38 °C, usually a sign that the body is fighting an infection."),
    ("what is a FEVER", "A body temperature above 38 °C, usually a sign that the body is fighting an infection."),
    ("How long should I sleep?", "Short."),
    ("Is coffee bad?", "Moderate coffee is fine for most adults, about three or four cups a day at most."),
    ("Contact?", "Write to ana.perez@example.com for an appointment with the clinic, any weekday morning."),
]


@pytest.fixture
def page(tmp_path):
    return open_faq(tmp_path, ROWS)


def open_faq(tmp_path, rows):
    """The Dataset page with ``rows`` (question, answer) imported as "faq" and open."""
    chats = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in rows]
    workspace, session, info = open_chats(tmp_path, chats, "faq")
    return open_page("dataset", dataset=session), workspace, info.id


def shown(at):
    return next(m.value for m in at.markdown if " of " in m.value and "rows" in m.value)


def versions_listed(at):
    return next(s for s in at.selectbox if s.key.startswith("open-version-")).options


def test_regex_and_rule_filters_change_the_row_count(page):
    at, _, _ = page
    assert not at.exception
    assert shown(at) == "**5 of 5 rows**"
    at.text_input(key="regex").set_value("fever").run()
    assert shown(at) == "**2 of 5 rows**"
    at.checkbox(key="ignore_case").uncheck().run()
    assert shown(at) == "**1 of 5 rows**"
    at.text_input(key="regex").set_value("(unclosed").run()
    assert any("position" in e.value for e in at.error) and shown(at) == "**5 of 5 rows**"
    at.text_input(key="regex").set_value("").run()
    at.checkbox(key="rule_pii").check().run()
    assert shown(at) == "**1 of 5 rows**"
    assert any("(1)" in c.label for c in at.checkbox if c.key == "rule_too_short")


def test_duplicate_filter_shows_groups(page):
    at, _, _ = page
    at.radio(key="dup_mode").set_value("normalized").run()
    assert shown(at) == "**2 of 5 rows**"
    at.radio(key="dup_mode").set_value("exact").run()
    assert shown(at) == "**0 of 5 rows**"


def test_the_near_duplicate_filter_says_when_its_bucket_cap_was_hit(tmp_path, monkeypatch):
    from studio.quality import near_duplicates as module

    rows = [
        (f"How do I reset my password on device {n}?", "Open settings, then security, then reset.") for n in range(8)
    ]
    at, _, _ = open_faq(tmp_path, rows)
    at.radio(key="dup_mode").set_value("near").run()
    assert not at.exception and not any("not compared" in c.value for c in at.caption)

    real = module.near_duplicates
    monkeypatch.setattr(module, "near_duplicates", lambda frame, **kw: real(frame, **{**kw, "max_bucket": 2}))
    at.slider(key="threshold").set_value(0.75).run()  # another threshold: the clusters are computed again
    note = next(c.value for c in at.caption if "not compared" in c.value)
    assert "more than 2" in note


def test_delete_flagged_then_undo_redo_persist(page):
    at, workspace, dataset_id = page
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    at.button(key="delete_flagged").click().run()
    assert not at.exception and shown(at) == "**4 of 4 rows**"
    assert len(DatasetEditor(workspace, dataset_id).frame) == 4
    at.button(key="undo").click().run()
    assert shown(at) == "**5 of 5 rows**"
    assert len(DatasetEditor(workspace, dataset_id).frame) == 5
    at.button(key="redo").click().run()
    assert shown(at) == "**4 of 4 rows**"


def test_regex_replace_preview_and_apply(page):
    at, workspace, dataset_id = page
    at.multiselect(key="replace_roles").set_value(["assistant"])
    at.text_input(key="replace_pattern").set_value("38 °c").run()
    at.text_input(key="replace_with").set_value("100.4 °F").run()
    assert any("Nothing matches" in c.value for c in at.caption)  # case matters unless told otherwise
    at.checkbox(key="replace_ignore_case").check().run()
    assert any("2 rows would change" in c.value for c in at.caption)
    preview = at.dataframe[-1].value
    assert list(preview.columns) == ["id", "turn", "role", "before", "after"]
    assert set(preview["role"]) == {"assistant"} and preview["after"].str.contains("100.4 °F").all()
    at.button(key="replace_apply").click().run()
    frame = DatasetEditor(workspace, dataset_id).frame
    assert frame["assistant"].str.contains("100.4 °F").sum() == 2
    assert "(ignoring case)" in DatasetEditor(workspace, dataset_id).recipe().numbered()


def test_an_invalid_replace_pattern_is_explained_as_typed(page):
    at, _, _ = page
    at.checkbox(key="replace_ignore_case").check().run()
    at.text_input(key="replace_pattern").set_value("fever (").run()
    errors = " ".join(e.value for e in at.error)
    assert "missing )" in errors and "fever (" in errors and "(?i)" not in errors


def test_save_version_and_splits(page):
    at, workspace, dataset_id = page
    at.text_area(key="fill_system").input("You are a careful medical assistant.").run()
    at.button(key="fill_apply").click().run()
    at.text_input(key="version_name").input("with system").run()
    at.button(key="save_version").click().run()
    assert [v.name for v in workspace.versions(dataset_id)] == ["original", "with system"]
    assert [s.value for s in at.success] == ["Saved version with system (5 rows)."]  # confirmed, and listed at once
    assert versions_listed(at) == ["original · 5", "with system · 5"]
    at.toggle(key="export_open").set_value(True).run()
    assert any("Nothing leaks across splits" in m.value for m in at.success) or at.warning
    at.button(key="save_splits").click().run()
    names = [v.name for v in workspace.versions(dataset_id)]
    assert names[:2] == ["original", "with system"] and "train (seed 42)" in names
    assert "Saved 3 split versions." in [s.value for s in at.success]
    listed = versions_listed(at)  # the version menu lists them at once
    assert {"train (seed 42)", "validation (seed 42)", "test (seed 42)"} <= {o.split(" · ")[0] for o in listed}
    assert workspace.dataset(dataset_id).head_version_id == workspace.versions(dataset_id)[1].id


def test_jump_to_an_example_from_another_page(page):
    at, _, _ = page
    at.query_params["id"] = "3"
    at.run()
    assert shown(at) == "**1 of 5 rows**"
    assert at.button(key="clear_jump").label == "× only examples 3 (from the Cost page)"
    at.button(key="clear_jump").click().run()
    assert shown(at) == "**5 of 5 rows**"


def test_pick_an_older_version(page):
    at, workspace, dataset_id = page
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    at.button(key="delete_flagged").click().run()
    at.text_input(key="version_name").input("no short answers").run()
    at.button(key="save_version").click().run()
    assert shown(at) == "**4 of 4 rows**"
    original = workspace.versions(dataset_id)[0]
    at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("open-version-"))).set_value(
        original.id
    ).run()
    assert not at.exception
    assert shown(at) == "**5 of 5 rows**"
    assert workspace.dataset(dataset_id).head_version_id == original.id


def test_the_export_panel_checks_what_a_format_cannot_hold_once_per_change(page, monkeypatch):
    import ui.dataset

    at, _, _ = page
    calls = []
    real = ui.dataset.unrepresentable_rows
    monkeypatch.setattr(ui.dataset, "unrepresentable_rows", lambda frame, to: calls.append(to) or real(frame, to=to))
    at.toggle(key="export_open").set_value(True).run()
    at.run()
    at.run()
    assert calls == ["openai-chat"]  # reruns reuse it
    at.text_area(key="fill_system").input("Be careful.").run()
    at.button(key="fill_apply").click().run()
    assert calls == ["openai-chat", "openai-chat"]  # a change computes it again


def test_the_filter_and_the_replacement_offer_the_same_scope(page):
    at, _, _ = page
    search, replace = at.multiselect(key="regex_roles"), at.multiselect(key="replace_roles")
    assert search.options == replace.options and len(search.options) >= 3
    assert at.radio(key="regex_turns").options == at.radio(key="replace_turns").options
    at.multiselect(key="regex_roles").set_value(["assistant"]).run()
    at.text_input(key="regex").set_value("fever").run()
    assert shown(at) == "**0 of 5 rows**"  # "fever" is in the questions only


def test_the_frame_names_the_open_dataset_without_reading_the_workspace(page, monkeypatch):
    import ui.frame

    at, _, _ = page
    reads, drawing = [], []
    real_connect, real_caption = Workspace._connect, ui.frame.open_dataset_caption

    def connect(self):
        if drawing:
            reads.append(self.path)
        return real_connect(self)

    def caption(tr):
        drawing.append(True)
        try:
            real_caption(tr)
        finally:
            drawing.clear()

    monkeypatch.setattr(Workspace, "_connect", connect)
    monkeypatch.setattr(ui.frame, "open_dataset_caption", caption)
    at.run()
    assert any(c.value.endswith(" faq · original") for c in at.caption), [c.value for c in at.caption]
    assert reads == []  # the page's run reads the dataset once, in the picker, not again for its title line
    at.text_input(key="version_name").input("v2").run()
    at.button(key="save_version").click().run()
    assert any(c.value.endswith(" faq · v2") for c in at.caption)


def test_the_url_names_the_open_dataset_and_version_and_a_refresh_reopens_them(page):
    at, workspace, dataset_id = page
    original = workspace.versions(dataset_id)[0].id
    assert at.query_params == {"dataset": str(dataset_id), "version": str(original)}
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    at.button(key="delete_flagged").click().run()
    at.text_input(key="version_name").input("no short answers").run()
    at.button(key="save_version").click().run()
    saved = workspace.versions(dataset_id)[-1].id
    assert at.query_params == {"dataset": str(dataset_id), "version": str(saved)}  # kept up to date
    at.selectbox(key=f"open-version-{dataset_id}-{saved}").set_value(original).run()
    assert at.query_params == {"dataset": str(dataset_id), "version": str(original)}

    refreshed = open_page("dataset", run=False)  # a refresh: a new session, the same URL
    refreshed.query_params.update(at.query_params)
    refreshed.run()
    assert not refreshed.exception and shown(refreshed) == "**5 of 5 rows**"
    assert workspace.dataset(dataset_id).head_version_id == original
    picker = next(s for s in refreshed.selectbox if s.key == "open-dataset")
    assert picker.value == dataset_id


def test_a_link_to_an_older_version_opens_the_current_one_and_offers_the_older(page):
    # Measured: a tab left at ?version=<original> and refreshed after another tab saved a newer version checked
    # the original out as the dataset's current version for everyone, silently.
    at, workspace, dataset_id = page
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    at.button(key="delete_flagged").click().run()
    at.text_input(key="version_name").input("no short answers").run()
    at.button(key="save_version").click().run()
    original, saved = (v.id for v in workspace.versions(dataset_id))
    linked = open_page("dataset", run=False)
    linked.query_params.update({"dataset": str(dataset_id), "version": str(original), "id": ["3"]})
    linked.run()
    assert not linked.exception
    assert workspace.dataset(dataset_id).head_version_id == saved  # nothing changed for anyone
    assert shown(linked) == "**1 of 4 rows**"  # the current version, filtered to the linked example
    notice = next(w.value for w in linked.warning if "This link named version" in w.value)
    assert "“original”" in notice and "“no short answers”" in notice
    assert linked.query_params["version"] == str(saved)  # the URL names what is shown

    linked.button(key="link_checkout").click().run()  # asked for: the older version becomes the current one
    assert workspace.dataset(dataset_id).head_version_id == original
    assert shown(linked) == "**1 of 5 rows**" and linked.query_params["version"] == str(original)
    assert not any("This link named version" in w.value for w in linked.warning)
    linked.button(key="clear_jump").click().run()
    assert shown(linked) == "**5 of 5 rows**" and "id" not in linked.query_params
    linked.selectbox(key=f"open-version-{dataset_id}-{original}").set_value(saved).run()
    assert shown(linked) == "**4 of 4 rows**"  # the URL, now its own, does not switch it back
    linked.run()
    assert shown(linked) == "**4 of 4 rows**" and linked.query_params["version"] == str(saved)


def test_staying_at_the_current_version_keeps_everyones_edits(page):
    at, workspace, dataset_id = page
    original = workspace.versions(dataset_id)[0].id
    stale_url = dict(at.query_params)  # a tab left open at the original version
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    at.button(key="delete_flagged").click().run()
    at.text_input(key="version_name").input("no short answers").run()
    at.button(key="save_version").click().run()
    saved = workspace.dataset(dataset_id).head_version_id
    DatasetEditor(workspace, dataset_id).apply(DeleteRows(ids=(0,)))  # an acknowledged edit after saving

    stale = open_page("dataset", run=False)  # the old tab, refreshed
    stale.query_params.update(stale_url)
    stale.run()
    assert not stale.exception and shown(stale) == "**3 of 3 rows**"  # the head with the other session's edit
    assert any("This link named version" in w.value for w in stale.warning)
    stale.button(key="link_stay").click().run()
    assert not any("This link named version" in w.value for w in stale.warning)
    assert workspace.dataset(dataset_id).head_version_id == saved != original
    assert len(DatasetEditor(workspace, dataset_id).frame) == 3


def test_the_fixes_act_on_the_rows_the_filter_shows_and_offer_no_empty_action(tmp_path):
    at, workspace, dataset_id = open_faq(tmp_path, [*ROWS, ("Is tea bad?", "No."), ("Is TEA bad", "No.")])
    at.selectbox(key="bulk_rule").set_value("too_short").run()
    assert at.button(key="delete_flagged").label == "Delete 3 flagged rows"  # no filter: the whole dataset
    at.text_input(key="regex").set_value("tea").run()
    assert shown(at) == "**2 of 7 rows**"
    delete = at.button(key="delete_flagged")
    assert delete.label == "Delete 2 flagged rows of the 2 shown" and not delete.disabled
    keep = at.button(key="keep_one")
    assert keep.label == "Keep one per group among the 2 rows shown (deletes 0 rows)" and keep.disabled
    at.selectbox(key="keep_kind").set_value("normalized").run()
    assert at.button(key="keep_one").label == "Keep one per group among the 2 rows shown (deletes 1 row)"
    at.button(key="keep_one").click().run()
    answers = DatasetEditor(workspace, dataset_id).frame
    assert len(answers) == 6 and answers["user"].str.contains("fever", case=False).sum() == 2  # not shown: kept
    at.button(key="delete_flagged").click().run()
    assert shown(at) == "**0 of 5 rows**"
    assert "Short." in DatasetEditor(workspace, dataset_id).frame["assistant"].tolist()  # not shown: kept
    delete = at.button(key="delete_flagged")
    assert delete.label == "Delete 0 flagged rows of the 0 shown" and delete.disabled  # nothing to offer


def test_the_export_warns_about_empty_answers_and_can_leave_them_out(tmp_path):
    at, workspace, dataset_id = open_faq(tmp_path, [*ROWS, ("Is tea bad?", "   "), ("Hello?", "")])
    at.toggle(key="export_open").set_value(True).run()
    warning = [w.value for w in at.warning if "empty answer" in w.value]
    assert warning == [
        "2 examples have an empty answer or question (ids 5, 6); training on them teaches the model to answer "
        "with nothing."
    ]

    def downloaded():
        buttons = [b for b in at.get("download_button") if b.key.startswith("download_")]
        return sum(int(b.label.split("(")[1].split()[0]) for b in buttons)

    assert downloaded() == 7
    at.checkbox(key="skip_empty").check().run()
    assert downloaded() == 5
    at.button(key="save_splits").click().run()
    saved = [v for v in workspace.versions(dataset_id) if "seed" in v.name]
    assert sum(v.rows for v in saved) == 5  # the saved splits leave them out too


GERMAN_CSV = b"frage,antwort,notiz\nWas ist Fieber?,Eine hohe Temperatur.,x\nWie lange schlafen?,Acht Stunden.,y\n"


def upload_and_map(at):
    """Upload a table whose columns the loader cannot place, then map them; returns the warnings before."""
    at.file_uploader(key="upload").set_value(("kb.csv", GERMAN_CSV, "text/csv")).run()
    before = [w.value for w in at.warning]
    user = next(s.key for s in at.selectbox if s.key.endswith("-user"))
    at.selectbox(key=user).set_value("frage").run()
    at.selectbox(key=user.replace("-user", "-assistant")).set_value("antwort").run()
    return before


def test_the_mapping_warning_goes_once_the_columns_are_mapped_and_the_import_succeeds():
    at = open_page("dataset")
    assert upload_and_map(at) == [
        "kb.csv: cannot tell the format from its keys ['antwort', 'frage', 'notiz']; choose a format or map the "
        "question/answer columns"
    ]
    assert at.warning.len == 0 and "Detected csv/qa, encoding utf-8: 2 examples." in [i.value for i in at.info]
    at.button(key="import").click().run()
    assert not at.exception and at.warning.len == 0 and shown(at) == "**2 of 2 rows**"


def test_an_import_runs_the_page_once(monkeypatch):
    import ui.dataset

    at = open_page("dataset")
    upload_and_map(at)
    runs = []
    real = ui.dataset.open_panel
    monkeypatch.setattr(ui.dataset, "open_panel", lambda *a: runs.append(1) or real(*a))
    at.button(key="import").click().run()
    assert shown(at) == "**2 of 2 rows**"
    assert runs == [1]  # the import is done before the run that shows it: no st.rerun(), no second run


def test_picking_a_dataset_runs_the_page_once(tmp_path, monkeypatch):
    import ui.dataset

    chats = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in ROWS]
    _, _, info = open_chats(tmp_path, chats, "faq")
    at = open_page("dataset")  # a new session: nothing open yet
    assert at.info and not any(" of " in m.value and "rows" in m.value for m in at.markdown)
    runs = []
    real = ui.dataset.open_panel
    monkeypatch.setattr(ui.dataset, "open_panel", lambda *a: runs.append(1) or real(*a))
    at.selectbox(key="open-dataset").set_value(info.id).run()
    assert not at.exception and shown(at) == "**5 of 5 rows**"
    assert runs == [1]  # the menu's callback opened it before the run that shows it: no second run


def test_a_dataset_still_decoding_gets_its_grid_drawn_first_under_the_key_it_keeps(tmp_path, monkeypatch):
    import st_aggrid

    import studio.storage.workspace as workspace_module
    import ui.dataset
    from studio.storage.frames import FrameCache

    chats = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a in ROWS]
    _, _, info = open_chats(tmp_path, chats, "faq")
    open_chats(tmp_path, chats[:2], "newer")  # the newest, the one the page decodes ahead of a pick
    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache())  # a restarted server: nothing decoded
    at = open_page("dataset")
    grids = []
    real = st_aggrid.AgGrid

    def spy(data, *args, **kwargs):
        grids.append((kwargs["key"], len(data)))
        return real(data, *args, **kwargs)

    monkeypatch.setattr(st_aggrid, "AgGrid", spy)
    monkeypatch.setattr(ui.dataset, "AgGrid", spy)
    at.selectbox(key="open-dataset").set_value(info.id).run()
    assert not at.exception and shown(at) == "**5 of 5 rows**"
    # first the places, with an empty grid (its iframe loads while the frame decodes), then the rows in that grid
    assert grids == [(f"grid-{info.id}", 0), (f"grid-{info.id}", 5)]


def test_opening_the_linked_version_is_refused_when_the_dataset_moved_again(page):
    at, workspace, dataset_id = page
    stale_url = dict(at.query_params)
    at.text_input(key="version_name").input("v2").run()
    at.button(key="save_version").click().run()
    saved = workspace.dataset(dataset_id).head_version_id
    stale = open_page("dataset", run=False)
    stale.query_params.update(stale_url)
    stale.run()
    DatasetEditor(workspace, dataset_id).apply(DeleteRows(ids=(4,)))  # after the notice was shown
    stale.button(key="link_checkout").click().run()
    assert any("changed in another session" in w.value for w in stale.warning)
    assert workspace.dataset(dataset_id).head_version_id == saved  # nothing overwritten
    assert shown(stale) == "**4 of 4 rows**"  # what is stored now


def test_the_export_names_the_kept_keys_a_record_format_does_not_write(tmp_path):
    chats = [
        {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"A{i}."}]}
        | ({"source": "forum"} if i < 3 else {})
        for i in range(6)
    ]
    _, session, _ = open_chats(tmp_path, chats)
    at = open_page("dataset", dataset=session)
    at.toggle(key="export_open").set_value(True).run()
    assert [i.value for i in at.info if "source" in i.value] == [
        "Kept keys that openai-chat has no place for are not written (rows with a value in brackets): source (3). "
        "CSV and Parquet write them as columns."
    ]
    at.selectbox(key="export_format").set_value("csv").run()
    assert not [i.value for i in at.info if "source" in i.value]


@pytest.mark.parametrize(
    "lang,words",
    [
        ("en", "whole and checking it with the quality rules would need"),
        ("es", "entero y revisarlo con las reglas de calidad necesitaría"),
    ],
)
def test_an_upload_too_large_for_the_free_memory_is_refused_in_the_pages_language_and_nothing_imported(
    monkeypatch, lang, words
):
    from studio.core import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 1000)  # the 100-byte table and its rules need ~2 KB
    at = open_page("dataset", lang=lang)
    at.file_uploader(key="upload").set_value(("kb.csv", GERMAN_CSV, "text/csv")).run()
    assert not at.exception and not at.error
    [warning] = [w.value for w in at.warning]
    assert warning.startswith(("Loading kb.csv (", "Cargar kb.csv (")) and words in warning
    assert "import" not in [b.key for b in at.button]
    assert Workspace().datasets() == []
