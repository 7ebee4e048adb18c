"""Schema detection and column mapping, table-driven."""

import pytest

from studio.data.formats import ColumnMapping, RecordError, detect_schema, guess_mapping, record_to_example
from studio.data.writers import example_to_record


@pytest.mark.parametrize(
    "keys,schema",
    [
        (["messages"], "chat"),
        (["messages", "tools", "meta"], "chat"),
        (["conversations", "id"], "sharegpt"),
        (["instruction", "input", "output"], "alpaca"),
        (["prompt", "completion"], "prompt_completion"),
        (["Question", "Answer"], "qa"),
        (["pregunta", "respuesta", "categoria"], "qa"),
        (["text"], None),
        ([], None),
    ],
)
def test_detect_schema(keys, schema):
    assert detect_schema(keys) == schema


@pytest.mark.parametrize(
    "columns,mapping",
    [
        (["question", "answer"], ColumnMapping(user="question", assistant="answer")),
        (
            ["System Prompt", "Query", "Response"],
            ColumnMapping(user="Query", assistant="Response", system="System Prompt"),
        ),
        (["input", "output"], ColumnMapping(user="input", assistant="output")),
        (["prompt", "completion"], ColumnMapping(user="prompt", assistant="completion")),
        (["answer"], None),
    ],
)
def test_guess_mapping(columns, mapping):
    assert guess_mapping(columns) == mapping


@pytest.mark.parametrize(
    "record,schema,field",
    [
        ({"messages": [1]}, "chat", "messages"),
        ({"messages": {"role": "user"}}, "chat", "messages"),
        ({"conversations": [{"from": "robot", "value": "x"}]}, "sharegpt", "conversations"),
        ({"instruction": "x"}, "alpaca", "output"),
        ({"prompt": ["not", "text"], "completion": "x"}, "prompt_completion", "prompt"),
    ],
)
def test_record_errors_name_the_field(record, schema, field):
    with pytest.raises(RecordError) as caught:
        record_to_example(record, schema)
    assert caught.value.field == field


def test_multi_turn_to_sharegpt_keeps_every_turn():
    example = {
        "messages": [
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"},
        ]
    }
    record = example_to_record(example, "sharegpt")
    assert [t["from"] for t in record["conversations"]] == ["human", "gpt", "human", "gpt"]
    assert record_to_example(record, "sharegpt") == example
