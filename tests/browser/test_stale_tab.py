"""A tab left open at an older version, refreshed (two Chromium contexts, one app): it opens the dataset as it is
now, says which version its URL named, and checks that one out only when asked.

The measured fault: tab A's URL said ``version=<original>``; tab B saved a newer version; refreshing A checked the
original out as the dataset's current version, for everyone, without a word.
"""

import json

from playwright.sync_api import expect

from studio.storage.workspace import Workspace, import_file
from tests.browser.conftest import StreamlitServer
from tests.browser.test_two_sessions import cell, edit, open_dataset
from tests.waiting import wait_until


def test_a_stale_tab_refreshed_shows_the_current_version_and_offers_its_own(tmp_path, browser):
    data = tmp_path / "faq.jsonl"
    turns = (
        {"messages": [{"role": "user", "content": f"Q{i}?"}, {"role": "assistant", "content": f"A{i}."}]}
        for i in range(3)
    )
    data.write_text("".join(json.dumps(t) + "\n" for t in turns))
    workspace = tmp_path / "workspace" / "studio.db"
    info, _ = import_file(Workspace(workspace), data)
    store = Workspace(workspace)
    original = store.dataset(info.id).head_version_id
    server = StreamlitServer(workspace).start()
    contexts = [browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2)]
    try:
        a, b = (context.new_page() for context in contexts)
        open_dataset(a, server.url)
        wait_until(lambda: f"version={original}" in a.url, timeout=30, message="A's URL naming the version")
        open_dataset(b, server.url)
        edit(b, 0, "B edited answer 0.")
        expect(b.get_by_text("Saved: example 0, assistant.")).to_be_visible(timeout=20_000)
        name = b.get_by_placeholder("Version name")
        name.fill("from B")
        name.press("Enter")
        b.get_by_role("button", name="Save version").click()
        wait_until(lambda: store.dataset(info.id).head_version_id != original, timeout=30, message="B's version")
        newer = store.dataset(info.id).head_version_id
        edit(b, 1, "B edited answer 1 after saving.")  # acknowledged, in the newer version's log
        expect(b.get_by_text("Saved: example 1, assistant.")).to_be_visible(timeout=20_000)

        a.reload()  # A's URL still names the original version
        expect(a.get_by_text("This link named version")).to_be_visible(timeout=30_000)
        expect(cell(a, 0)).to_have_text("B edited answer 0.", timeout=30_000)  # the dataset as it is now
        expect(cell(a, 1)).to_have_text("B edited answer 1 after saving.", timeout=30_000)
        assert store.dataset(info.id).head_version_id == newer  # the refresh moved nothing for B
        wait_until(lambda: f"version={newer}" in a.url, timeout=30, message="A's URL naming what it shows")
        a.screenshot(path=str(tmp_path / "a-notice.png"))

        a.get_by_role("button", name="Open version “original”").click()  # asked for: now it is checked out
        wait_until(lambda: store.dataset(info.id).head_version_id == original, timeout=30, message="the checkout")
        expect(cell(a, 0)).to_have_text("A0.", timeout=30_000)
        expect(a.get_by_text("This link named version")).to_have_count(0, timeout=30_000)
        kept = store.load_version(newer)  # B's saved version is still there, as B saved it
        assert kept["assistant"].tolist()[0] == "B edited answer 0."
    finally:
        for context in contexts:
            context.close()
        server.stop()
