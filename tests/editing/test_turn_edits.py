"""Edits over whole conversations change only what they name (cases 15 and 17 of ../shared/cases)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.chat import content_text, with_text
from studio.data.frame import build_frame
from studio.data.loader import load_dataset
from studio.data.writers import export_bytes
from studio.editing.ops import CONVERSATION, EditCell, RegexReplace
from studio.editing.previews import preview_regex_replace
from studio.editing.recipes import Recipe, apply_recipe, op_from_dict
from studio.editing.turn_edits import SCOPE_ROLES, edit_turn_text, match_ids, replace_in_turns
from studio.errors import OperationError
from studio.quality.patterns import compile_pattern
from tests.conftest import SHARED_CASES

CASES = SHARED_CASES / "conversations"


def reload(frame, tmp_path):
    path = tmp_path / "export.jsonl"
    path.write_bytes(export_bytes(frame, to="openai-chat"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_case_15_redact_recipe_widened_to_every_turn_leaves_no_address_in_the_export(tmp_path):
    frame = load_dataset(CASES / "15-multiturn-pii-earlier-turn.jsonl").frame
    original = json.loads((CASES / "15-redact-email.recipe.json").read_text())
    widened = {**original, "ops": [{**op, "field": CONVERSATION} for op in original["ops"]]}
    text = export_bytes(apply_recipe(frame, Recipe.from_dict(widened)), to="openai-chat").decode()
    assert "@example.com" not in text and text.count("[email]") == 12
    # the recipe as saved reaches the last user turn only, and the addresses are in the first one
    as_saved = export_bytes(apply_recipe(frame, Recipe.from_dict(original)), to="openai-chat").decode()
    assert as_saved.count("@example.com") == 12


def test_case_15_the_widened_recipe_reports_the_12_rows_it_changed_in_earlier_turns():
    # `studio clean` printed "no change" for the widened recipe although it redacted an address in each row.
    frame = load_dataset(CASES / "15-multiturn-pii-earlier-turn.jsonl").frame
    original = json.loads((CASES / "15-redact-email.recipe.json").read_text())
    widened = {**original, "ops": [{**op, "field": CONVERSATION} for op in original["ops"]]}
    messages = []
    apply_recipe(frame, Recipe.from_dict(widened), on_step=lambda report: messages.append(report.message))
    apply_recipe(frame, Recipe.from_dict(original), on_step=lambda report: messages.append(report.message))
    assert messages[0].endswith(": changed 12 rows")
    assert messages[1].endswith(": no change")  # the last user turn holds no address


def _typo_fixed(frame):
    for example in frame["messages"]:
        parts = example[1]["content"]
        assert isinstance(parts, list) and len(parts) == 2
        assert parts[0]["text"].startswith("What part is this?")
        yield parts[1]


def test_case_17_typo_fixed_by_recipe_replace_or_grid_edit_keeps_every_image_part(tmp_path):
    frame = load_dataset(CASES / "17-vision-rows-grid-edit.jsonl").frame
    images = [m[1]["content"][1] for m in frame["messages"]]
    recipe = Recipe.from_dict(json.loads((CASES / "17-fix-typo.recipe.json").read_text()))
    by_recipe = apply_recipe(frame, recipe)
    scoped = RegexReplace(CONVERSATION, "Waht", "What", roles=("user",)).apply(frame)
    edited = frame
    for example_id, text in zip(frame["id"], frame["user"], strict=True):
        edited = EditCell(int(example_id), "user", text.replace("Waht", "What")).apply(edited)
    for result in (by_recipe, scoped, edited):
        assert list(_typo_fixed(result)) == images
        exported = reload(result, tmp_path)
        assert [e["messages"][1]["content"][1] for e in exported] == images  # byte-for-byte after export → load


def test_scope_picks_roles_and_first_or_last_turns_and_the_preview_names_them():
    frame = build_frame(
        [
            {
                "messages": [
                    {"role": "user", "content": "cat one"},
                    {"role": "assistant", "content": "a cat"},
                    {"role": "user", "content": "cat two"},
                    {"role": "assistant", "content": "the cat"},
                ]
            }
        ],
        [1],
    )
    first_user = RegexReplace(CONVERSATION, "cat", "dog", roles=("user",), turns="first")
    assert [m["content"] for m in first_user.apply(frame)["messages"].iat[0]] == [
        "dog one",
        "a cat",
        "cat two",
        "the cat",
    ]
    preview = preview_regex_replace(frame, RegexReplace(CONVERSATION, "cat", "dog"))
    assert preview.rows_affected == 1
    assert preview.sample[["id", "turn", "role", "before", "after"]].values.tolist() == [
        [0, 0, "user", "cat one", "dog one"],
        [0, 1, "assistant", "a cat", "a dog"],
        [0, 2, "user", "cat two", "dog two"],
        [0, 3, "assistant", "the cat", "the dog"],
    ]
    assert match_ids(frame, compile_pattern("one"), roles=("user",), turns="first").tolist() == [True]
    assert match_ids(frame, compile_pattern("one"), roles=("user",), turns="last").tolist() == [False]


def test_tool_call_arguments_are_replaced_as_text_and_must_stay_json():
    frame = build_frame(
        [
            {
                "messages": [
                    {"role": "user", "content": "book"},
                    {
                        "role": "assistant",
                        "content": None,
                        "tool_calls": [
                            {
                                "id": "c",
                                "type": "function",
                                "function": {"name": "book", "arguments": '{"email": "a@example.com"}'},
                            }
                        ],
                    },
                    {"role": "tool", "tool_call_id": "c", "content": "ok"},
                ]
            }
        ],
        [1],
    )
    out = RegexReplace(CONVERSATION, r"\w+@example\.com", "[email]", roles=("tool_calls",)).apply(frame)
    call = out["messages"].iat[0][1]["tool_calls"][0]
    assert call == {"id": "c", "type": "function", "function": {"name": "book", "arguments": '{"email": "[email]"}'}}
    with pytest.raises(OperationError, match="invalid JSON"):
        RegexReplace(CONVERSATION, '"', "", roles=("tool_calls",)).apply(frame)


def test_recipes_round_trip_scoped_ops_and_old_recipes_read_the_same():
    op = RegexReplace(CONVERSATION, "a", "b", roles=("user", "tool"), turns="last")
    assert op_from_dict(json.loads(json.dumps(op.to_dict()))) == op
    assert RegexReplace("user", "a", "b").to_dict() == {
        "op": "regex_replace",
        "field": "user",
        "pattern": "a",
        "replacement": "b",
        "ignore_case": False,
    }
    with pytest.raises(OperationError, match="scope roles"):
        RegexReplace(CONVERSATION, "a", "b", roles=("robot",))
    with pytest.raises(OperationError, match="roles and turns go with"):
        RegexReplace("user", "a", "b", roles=("user",))


# -- property: an edit changes only what it names ---------------------------------------------------------------

_text = st.text(alphabet="abcxyz ", min_size=0, max_size=12)
_extra = st.dictionaries(st.sampled_from(["meta", "x_note"]), st.integers(-(2**63), 2**63 - 1), max_size=1)
_part = st.one_of(
    st.builds(lambda t: {"type": "text", "text": t}, _text),
    st.builds(lambda u: {"type": "image_url", "image_url": {"url": f"https://i/{u}.png"}}, _text),
)
_content = st.one_of(_text, st.lists(_part, min_size=1, max_size=3))


@st.composite
def conversations(draw):
    messages = []
    for i in range(draw(st.integers(1, 6))):
        role = ("user", "assistant")[i % 2]
        message = {"role": role, "content": draw(_content), **draw(_extra)}
        if role == "assistant" and draw(st.booleans()):
            message["weight"] = draw(st.sampled_from([0, 1]))
        if role == "assistant" and draw(st.booleans()):
            message["tool_calls"] = [
                {"id": "t", "type": "function", "function": {"name": "f", "arguments": json.dumps({"q": draw(_text)})}}
            ]
        messages.append(message)
    return messages


def _untargeted(messages, roles):
    """Everything an x→y replacement in ``roles`` may not touch."""
    out = []
    for m in messages:
        kept = {k: v for k, v in m.items() if k not in ("content", "tool_calls")}
        if m["role"] not in roles:
            kept["content"] = m["content"]
        elif isinstance(m["content"], list):
            kept["parts"] = [p for p in m["content"] if p.get("type") != "text"]
        if "tool_calls" in m and "tool_calls" not in roles:
            kept["tool_calls"] = m["tool_calls"]
        out.append(kept)
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.lists(conversations(), min_size=1, max_size=4),
    st.sampled_from([("user",), ("assistant",), ("user", "tool_calls")]),
)
def test_a_scoped_replace_changes_only_the_text_it_names_through_export_and_load(tmp_path_factory, chats, roles):
    frame = build_frame([{"messages": m} for m in chats], list(range(1, len(chats) + 1)))
    out, changes = replace_in_turns(frame, compile_pattern("x"), "y", roles=roles)
    path = tmp_path_factory.mktemp("p") / "out.jsonl"
    path.write_bytes(export_bytes(out, to="openai-chat"))
    reloaded = [json.loads(line)["messages"] for line in path.read_text().splitlines()]
    assert [_untargeted(m, roles) for m in reloaded] == [_untargeted(m, roles) for m in chats]
    assert all(c.before.replace("x", "y") == c.after for c in changes)
    assert not any("x" in content_text(m.get("content")) for c in reloaded for m in c if m["role"] in roles)


def test_editing_one_turn_changes_that_turn_only():
    frame = load_dataset(CASES / "17-vision-rows-grid-edit.jsonl").frame
    before = [list(m) for m in frame["messages"]]
    out = edit_turn_text(frame, 3, 1, "What part is this? (photo 3)")
    after = list(out["messages"])
    assert after[3][1]["content"] == [
        {"type": "text", "text": "What part is this? (photo 3)"},
        before[3][1]["content"][1],
    ]
    assert after[3][0] is before[3][0] and after[3][2] is before[3][2]
    assert [after[i] for i in range(len(after)) if i != 3] == [before[i] for i in range(len(before)) if i != 3]
    assert out["user"].iat[3] == "What part is this? (photo 3)"
    with pytest.raises(OperationError, match="no turn 9"):
        edit_turn_text(frame, 3, 9, "x")


_parts = st.lists(_part, min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(_parts, st.data())
def test_an_edit_inside_one_text_part_changes_that_part_only_and_keeps_every_other_in_its_place(parts, data):
    """Editing a turn's text in the grid or the panel edits the text as one string (parts joined by a line break):
    a change within one part rewrites that part alone; images and the other text parts keep their places."""
    slots = [i for i, p in enumerate(parts) if p["type"] == "text"]
    if not slots:
        return
    slot = data.draw(st.sampled_from(slots))
    piece = parts[slot]["text"]
    a = data.draw(st.integers(0, len(piece)))
    b = data.draw(st.integers(a, len(piece)))
    edited_piece = piece[:a] + data.draw(_text) + piece[b:]
    text = "\n".join(edited_piece if i == slot else p["text"] for i, p in enumerate(parts) if p["type"] == "text")
    out = with_text(parts, text)
    assert content_text(out) == text
    if text == content_text(parts):
        assert out is parts  # nothing changed, nothing written
        return
    assert [p["type"] for p in out] == [p["type"] for p in parts] or len(out) < len(parts)
    images = [p for p in parts if p["type"] != "text"]
    assert [p for p in out if p["type"] != "text"] == images  # every image, in its order
    if len(out) == len(parts):  # the change fell in one part (or was read as one of its neighbours')
        assert sum(o != p for o, p in zip(out, parts, strict=True)) == 1


def test_a_change_across_an_image_is_refused_and_a_save_without_change_writes_nothing():
    image = {"type": "image_url", "image_url": {"url": "https://i/a.png"}}
    parts = [{"type": "text", "text": "Compare photo A"}, image, {"type": "text", "text": "with photo B"}]
    assert with_text(parts, "Compare photo A\nwith photo B") is parts
    assert with_text(parts, "Compare photo A\nwith photo C") == [
        parts[0],
        image,
        {"type": "text", "text": "with photo C"},
    ]
    with pytest.raises(OperationError, match="image_url between them"):
        with_text(parts, "Compare photo A with photo B")  # the line break between the parts removed
    frame = build_frame([{"messages": [{"role": "user", "content": parts}]}], [1])
    same = edit_turn_text(frame, int(frame["id"].iat[0]), 0, "Compare photo A\nwith photo B")
    assert same["messages"].iat[0][0]["content"] is parts


def _has_x(messages, roles):
    """The live filter's answer worked out by hand: some text of ``roles`` in some turn holds an "x"."""
    for m in messages:
        if m["role"] in roles and "x" in content_text(m.get("content")):
            return True
        calls = m.get("tool_calls") or [] if "tool_calls" in roles else []
        if any("x" in c["function"]["arguments"] for c in calls):
            return True
    return False


@settings(max_examples=60, deadline=None)
@given(
    st.lists(conversations(), min_size=1, max_size=6),
    st.sampled_from([SCOPE_ROLES, ("user",), ("assistant",), ("tool_calls",), ("system", "tool")]),
)
def test_the_live_filter_finds_a_match_in_any_turn_of_the_chosen_roles_only(chats, roles):
    frame = build_frame([{"messages": m} for m in chats], list(range(1, len(chats) + 1)))
    found = match_ids(frame, compile_pattern("X", ignore_case=True), roles=roles)
    assert found.tolist() == [_has_x(m, roles) for m in chats]


def test_the_live_filter_leaves_out_roles_outside_its_scope_however_wide_the_scope():
    chat = [
        {"role": "system", "content": "x marks the system"},
        {"role": "user", "content": "find x here"},
        *({"role": "assistant", "content": f"answer {n}"} for n in range(4)),
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": '{"q": "x"}'}}]},
    ]
    frame = build_frame([{"messages": chat}], [1])
    x = compile_pattern("x")
    assert match_ids(frame, x, roles=("assistant",)).tolist() == [False]  # most texts, none with an x
    assert match_ids(frame, x, roles=("assistant", "tool_calls")).tolist() == [True]
    assert match_ids(frame, x, roles=("user",)).tolist() == [True]
    assert match_ids(frame, x, roles=("assistant",)).tolist() == [False]  # each scope's mask kept for the view


def test_a_large_search_split_over_the_cores_finds_what_one_pass_finds(monkeypatch):
    import studio.editing.turn_edits as turn_edits

    chats = [
        [{"role": "user", "content": f"{'x' if i % 3 == 0 else 'y'} {i}"}, {"role": "assistant", "content": "ok"}]
        for i in range(10)
    ]
    chats[7][1]["content"] = [{"type": "image_url", "image_url": {"url": "u"}}, {"type": "text", "text": "x"}]
    frame = build_frame([{"messages": m} for m in chats], list(range(1, 11)))
    one_pass = match_ids(frame, compile_pattern("x"))
    monkeypatch.setattr(turn_edits, "_PARALLEL_TEXTS", 2)  # 21 texts: parts of 2 or more
    monkeypatch.setattr(turn_edits, "worker_count", lambda: 3)
    split = match_ids(frame, compile_pattern("x"))
    assert split.tolist() == one_pass.tolist() == [_has_x(m, SCOPE_ROLES) for m in chats]
    assert split.sum() == 5  # rows 0, 3, 6, 9 and the text part of row 7
