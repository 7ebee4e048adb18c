"""Switching to Español in real Chromium on an open Dataset page: the live search keeps every role of its scope
(a word found only in tool calls and tool results is still found), the radios keep their choice, and a flag badge
names its turn in Spanish. The browser keeps a widget's value as the words it shows, so only a browser shows what
Streamlit lost at the switch (tests/pages/test_page_language.py reads what the page sends it)."""

import json

from playwright.sync_api import expect

from tests.browser.widgets import grid_of, upload


def chat(booking: str) -> dict:
    # the e-mail of turn 0 is flagged (pii) in a turn the grid does not show; "email" and "status" only in tool turns
    return {
        "messages": [
            {"role": "user", "content": f"Hi, I am Dana, dana.w@example.com. Where is booking {booking}?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_booking", "arguments": json.dumps({"send_email": True})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "status: sent"},
            {"role": "assistant", "content": f"Booking {booking} is confirmed, a message is on its way to you."},
            {"role": "user", "content": "Thanks a lot for checking that for me."},
            {"role": "assistant", "content": "You are welcome, have a pleasant journey with us."},
        ]
    }


def rows_line(page, text: str) -> None:
    expect(page.get_by_text(text, exact=True)).to_be_visible(timeout=30_000)


def test_the_search_scope_radios_and_badges_survive_a_switch_to_spanish(streamlit_server, page, tmp_path):
    data = tmp_path / "bookings.jsonl"
    data.write_text("".join(json.dumps(chat(f"B{i}")) + "\n" for i in range(3)))
    page.goto(f"{streamlit_server.url}/Dataset")
    upload(page, data, tmp_path, "1-loaded")
    rows_line(page, "3 of 3 rows")
    badge = grid_of(page).locator(".ag-row[row-index='0'] .flag-badge.flag-pii")
    expect(badge).to_have_text("pii · turn 0 (user)", timeout=20_000)
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_label("Regex (RE2 syntax)").fill("email")
    rows_line(page, "3 of 3 rows")

    sidebar.get_by_text("Español", exact=True).click()
    rows_line(page, "3 de 3 filas")
    page.screenshot(path=str(tmp_path / "2-spanish.png"), full_page=True)
    scope = sidebar.locator("[data-testid=stMultiSelect]").first
    expect(scope).to_contain_text("resultados de herramientas")
    expect(scope).to_contain_text("llamadas a herramientas")
    expect(sidebar.get_by_role("radio", name="todos")).to_be_checked()
    expect(sidebar.get_by_role("radio", name="no", exact=True)).to_be_checked()
    sidebar.get_by_label("Expresión regular (sintaxis RE2)").fill("status")  # the next search: the same scope
    rows_line(page, "3 de 3 filas")
    badge = grid_of(page).locator(".ag-row[row-index='0'] .flag-badge.flag-pii")
    expect(badge).to_have_text("datos personales · turno 0 (usuario)", timeout=20_000)
    expect(badge).to_have_attribute("title", "correo electrónico 'dana.w@example.com' en turno 0 (usuario)")
