"""The canonical frame: text columns, lossless messages, turn edits."""

import pandas as pd
import pytest

from studio.core.chat import content_text
from studio.data.frame import build_frame, conversation_text, iter_examples, refresh_text_columns, set_turn, turn_texts

MULTI = [
    {"role": "system", "content": "S1"},
    {"role": "user", "content": "u1"},
    {"role": "assistant", "content": "a1"},
    {"role": "system", "content": "S2"},
    {"role": "user", "content": [{"type": "text", "text": "u2"}]},
    {"role": "assistant", "content": "a2"},
]


def test_turn_texts_first_system_last_user_last_assistant():
    assert turn_texts(MULTI) == ("S1", "u2", "a2")
    assert turn_texts([{"role": "user", "content": "x"}]) == (None, "x", None)


def test_build_frame_columns_and_dtypes():
    frame = build_frame(
        [{"messages": MULTI}, {"messages": [{"role": "user", "content": "q"}]}],
        [3, 7],
        pd.DataFrame({"topic": ["a", "b"], "user": ["clash", "clash"]}),
    )
    assert list(frame.columns) == ["id", "messages", "system", "user", "assistant", "source_row", "topic"]
    assert frame["user"].tolist() == ["u2", "q"]
    assert frame["assistant"].isna().tolist() == [False, True]
    assert frame["id"].tolist() == [0, 1] and frame["source_row"].tolist() == [3, 7]
    assert str(frame["user"].dtype) == "string"


@pytest.mark.parametrize(
    "field,text,expected_roles,changed_index",
    [
        ("system", "new", ["system", "user", "assistant", "system", "user", "assistant"], 0),
        ("user", "new", ["system", "user", "assistant", "system", "user", "assistant"], 4),
        ("assistant", "new", ["system", "user", "assistant", "system", "user", "assistant"], 5),
    ],
)
def test_set_turn_edits_the_shown_turn(field, text, expected_roles, changed_index):
    out = set_turn(MULTI, field, text)
    assert [m["role"] for m in out] == expected_roles
    # a list-valued content keeps its shape: its text part says the new text
    assert content_text(out[changed_index]["content"]) == text
    assert type(out[changed_index]["content"]) is type(MULTI[changed_index]["content"])
    assert MULTI[changed_index]["content"] != text  # input untouched


def test_set_turn_inserts_missing_turns():
    out = set_turn([{"role": "user", "content": "q"}], "system", "S")
    assert out[0] == {"role": "system", "content": "S"}
    out = set_turn(out, "assistant", "A")
    assert out[-1] == {"role": "assistant", "content": "A"}


def test_refresh_text_columns_and_examples():
    frame = build_frame([{"messages": MULTI, "tools": [{"type": "function"}]}], [1])
    frame.at[0, "messages"] = set_turn(frame.at[0, "messages"], "user", "edited")
    frame = refresh_text_columns(frame, [0])
    assert frame.at[0, "user"] == "edited"
    assert next(iter_examples(frame))["tools"] == [{"type": "function"}]
    assert "user: edited" in conversation_text(frame).iat[0]


def test_editing_a_few_cells_gives_the_same_columns_as_a_full_refresh_and_keeps_chunks_bounded():
    examples = [
        {"messages": [{"role": "user", "content": f"question {n}"}, {"role": "assistant", "content": f"answer {n}"}]}
        for n in range(300)
    ]
    frame = build_frame(examples, list(range(1, 301)))
    for step in range(120):  # many single-cell edits, as a user makes them one by one in the grid
        position = (step * 37) % 300
        messages = frame["messages"].copy()
        messages.iat[position] = set_turn(messages.iat[position], "assistant", f"edited {step}")
        frame = refresh_text_columns(frame.assign(messages=messages), [position])
    full = refresh_text_columns(frame)
    for field in ("system", "user", "assistant"):
        assert frame[field].tolist() == full[field].tolist()
        assert frame[field].dtype == full[field].dtype
        assert frame[field].array.__arrow_array__().num_chunks <= 65
    assert frame["assistant"].iat[(119 * 37) % 300] == "edited 119"
    assert frame["system"].isna().all()  # untouched columns keep their missing values
