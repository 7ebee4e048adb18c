"""Quality rules: what each must flag and must not, in English and Spanish, over tiny inline frames."""

from __future__ import annotations

import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.errors import PatternError
from studio.quality.rules import RULES, analyze

LONG_EN = "Drink plenty of water, rest at home and keep warm while the infection runs its course."
LONG_ES = "Bebe mucha agua, descansa en casa y abrígate mientras la infección sigue su curso normal."


def chat(
    user: str | None = "What helps with a cold?",
    answer: str | None = LONG_EN,
    system: str | None = None,
    **assistant_keys,
) -> dict:
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    if user is not None:
        messages.append({"role": "user", "content": user})
    if answer is not None or assistant_keys:
        messages.append({"role": "assistant", "content": answer, **assistant_keys})
    return {"messages": messages}


def frame_of(*examples: dict) -> pd.DataFrame:
    return build_frame(list(examples), list(range(1, len(examples) + 1)))


def flagged(rule: str, *examples: dict, **params) -> list[bool]:
    analysis = analyze(frame_of(*examples), rules=[rule], params={rule: params} if params else None)
    return analysis.flags[rule].tolist()


TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


@pytest.mark.parametrize(
    "example,expected",
    [
        (chat(), False),
        (chat(answer=""), True),
        (chat(answer="  \n "), True),
        (chat(answer=None), True),  # no assistant turn at all
        (chat(user=None), True),
        (chat(user="   "), True),
        (chat(answer=None, tool_calls=[TOOL_CALL]), False),  # a tool-call turn is not an empty answer
        (chat(answer="", tool_calls=[TOOL_CALL]), False),
        (chat(user="¿Qué ayuda con un resfriado?", answer=LONG_ES), False),
    ],
)
def test_empty(example, expected):
    assert flagged("empty", example) == [expected]


@pytest.mark.parametrize(
    "answer,params,expected",
    [
        ("Yes.", {}, True),
        ("Sí, es seguro.", {}, True),
        ("x" * 49, {}, True),
        ("x" * 50, {}, False),
        ("  " + "x" * 49 + "  ", {}, True),  # surrounding spaces do not count
        ("", {}, False),  # blank answers are the `empty` rule's business
        ("Short but fine.", {"min_chars": 10}, False),
    ],
)
def test_too_short(answer, params, expected):
    assert flagged("too_short", chat(answer=answer), **params) == [expected]


@pytest.mark.parametrize(
    "answer,expected",
    [
        # finished answers
        (LONG_EN, False),
        (LONG_ES, False),
        ("Is it contagious? Yes, for about a week after the first symptoms appear!", False),
        ('The doctor called it a "viral infection that clears up on its own."', False),
        ("Most colds clear up without treatment (see the patient leaflet.)", False),
        ("You can read the full guidance at https://www.nhs.uk/conditions/common-cold", False),
        ("Typical symptoms include:\n- a runny nose\n- sneezing\n- a sore throat", False),
        ("Steps to follow:\n1. Rest\n2. Drink fluids\n3. Take paracetamol if needed", False),
        ("Run the script with:\n```\npython check.py --all\n```", False),
        ("Call the helper function with the flag set to `verbose`", False),
        ("感冒通常是由病毒引起的，一般一周左右就会自然好转，多喝水多休息", False),
        ("感冒はウイルスによって引き起こされ、通常は一週間ほどで自然に治ります。", False),
        ("Rest, fluids and patience are all you need to get through a cold 😊", False),
        ("Take vitamin A", False),  # too short to judge, and 'A' is not the article
        # cut off
        ("Drink plenty of water, rest at home and keep warm while the infection…", True),
        ("Drink plenty of water, rest at home and keep warm while the infection...", True),
        ("Bebe mucha agua y descansa...", True),
        ("Drink plenty of water and", True),
        ("Rest at home and avoid contact with the", True),
        ("Bebe mucha agua y", True),
        ("Es una infección vírica de", True),
        ("La infección se extiende por la garganta causando", True),
        ("El virus afecta a las vías respiratorias produciendo", True),
        ("Drink plenty of water, rest at home and keep warm while the infection runs its course", True),
        ("Bebe mucha agua, descansa en casa y abrígate mientras la infección sigue su curso normal", True),
    ],
)
def test_truncated(answer, expected):
    assert flagged("truncated", chat(answer=answer)) == [expected]


def test_truncated_connectors_follow_the_chosen_languages():
    example = chat(answer="Bebe mucha agua y")
    assert flagged("truncated", example, languages=["en"]) == [False]
    assert flagged("truncated", example, languages=["es"]) == [True]


def test_truncated_names_the_connector():
    analysis = analyze(frame_of(chat(answer="Bebe mucha agua y descansa porque")), rules=["truncated"])
    assert analysis.issues["message"].tolist() == ["the answer ends with the connector word 'porque'"]


def test_exact_duplicate_counts_repeats_and_names_the_first():
    frame = frame_of(chat(), chat(), chat(answer=LONG_ES), chat())
    analysis = analyze(frame, rules=["exact_duplicate"])
    assert analysis.flags["exact_duplicate"].tolist() == [False, True, False, True]
    assert analysis.counts == {"exact_duplicate": 2}
    assert analysis.issues["cluster_id"].tolist() == [0, 0]
    assert analysis.issues["message"].tolist() == ["exact copy of example 0"] * 2


@pytest.mark.parametrize(
    "first,second,exact,normalized",
    [
        (chat(), chat(), True, True),
        (chat(), chat(user="what helps with a COLD"), False, True),
        (chat(), chat(answer="  " + LONG_EN.replace(", ", " ,  ")), False, True),
        (chat(answer=LONG_ES), chat(answer=LONG_ES.replace("í", "i").replace("á", "a")), False, True),
        (chat(), chat(answer=LONG_EN.replace("water", "tea")), False, False),
        (chat(), chat(system="Be brief."), False, False),  # the system turn is part of the example
    ],
)
def test_exact_and_normalized_duplicates(first, second, exact, normalized):
    assert flagged("exact_duplicate", first, second) == [False, exact]
    assert flagged("normalized_duplicate", first, second) == [False, normalized]


def test_multi_turn_examples_differ_in_middle_turns():
    def convo(middle: str) -> dict:
        return {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": middle},
                {"role": "user", "content": "And then?"},
                {"role": "assistant", "content": LONG_EN},
            ]
        }

    assert flagged("exact_duplicate", convo("Hello!"), convo("Hello!"), convo("Hey.")) == [False, True, False]


def test_tool_call_answers_differ_by_their_calls():
    other = {**TOOL_CALL, "function": {"name": "other", "arguments": "{}"}}
    rows = [
        chat(answer=None, tool_calls=[TOOL_CALL]),
        chat(answer=None, tool_calls=[other]),
        chat(answer=None, tool_calls=[TOOL_CALL]),
    ]
    assert flagged("exact_duplicate", *rows) == [False, False, True]


def test_near_duplicate_clusters_one_word_changes():
    frame = frame_of(
        chat(),
        chat(answer=LONG_EN.replace("water", "fluids")),
        chat(
            user="How do I treat a sprained ankle?",
            answer="Rest it, put ice on it, use a compression bandage and keep the foot raised for the first two days.",
        ),
        chat(user="¿Qué ayuda con un resfriado?", answer=LONG_ES),
    )
    analysis = analyze(frame, rules=["near_duplicate"])
    assert analysis.flags["near_duplicate"].tolist() == [True, True, False, False]
    assert analysis.flags["cluster_id"].tolist() == [
        0,
        0,
        2,
        3,
    ]  # every row has a cluster; alone = its own id
    strict = analyze(frame, rules=["near_duplicate"], params={"near_duplicate": {"threshold": 0.99}})
    assert strict.flags["near_duplicate"].tolist() == [False] * 4


@pytest.mark.parametrize(
    "second,expected",
    [
        (chat(answer=LONG_ES), True),  # same question, different answer
        (chat(user="WHAT HELPS WITH A COLD", answer=LONG_ES), True),  # folded question still the same
        (chat(), False),  # same answer: a duplicate, not a conflict
        (chat(answer=LONG_EN.upper()), False),  # same answer once folded
        (chat(user="How long does a cold last?", answer=LONG_ES), False),
    ],
)
def test_duplicate_prompt(second, expected):
    assert flagged("duplicate_prompt", chat(), second) == [False, expected]


def test_duplicate_prompt_ignores_blank_questions():
    assert flagged("duplicate_prompt", chat(user=""), chat(user="", answer=LONG_ES)) == [False, False]


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("Hello {{name}}, your appointment is confirmed for next week at the clinic.", True),
        ("Hola {{ nombre }}, tu cita está confirmada para la semana que viene.", True),
        ("Read more at <link> about how to manage a cold at home without medicines.", True),
        ("Más información en <enlace> sobre cómo cuidarte en casa.", True),
        ("See [INSERT LINK] for the full leaflet about colds and flu in adults.", True),
        ("Consulta [Insertar enlace] para ver el folleto completo.", True),
        ("Answer: rest, drink fluids and take paracetamol for the fever if needed.", True),
        ("Respuesta: descansa, bebe líquidos y toma paracetamol si hay fiebre.", True),
        ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod.", True),
        (LONG_EN, False),
        ('In JSON write {"dose": 500} and in Python use f"{dose} mg" for the label.', False),
        ("Use a < b to compare and the <div> tag in HTML for layout blocks.", False),
        ("The answer: rest. Many people ask this question: how long does it last?", False),
    ],
)
def test_placeholder(answer, expected):
    assert flagged("placeholder", chat(answer=answer)) == [expected]


def test_placeholder_in_the_question_names_the_field():
    analysis = analyze(frame_of(chat(user="Question: what helps with a cold?")), rules=["placeholder"])
    assert analysis.issues[["field", "message"]].values.tolist() == [["user", "prompt label 'Question:' in user"]]


@pytest.mark.parametrize(
    "answer,expected",
    [
        ("Write to jane.doe@example.com for the results.", "e-mail address 'jane.doe@example.com'"),
        ("Llama al +34 612 345 678 para pedir cita.", "phone number '+34 612 345 678'"),
        ("Llama al 612 34 56 78 para pedir cita.", "phone number '612 34 56 78'"),
        ("Llama al 612345678 para pedir cita.", "phone number '612345678'"),
        ("Call (555) 123-4567 to book.", "phone number '(555) 123-4567'"),
        ("Call 555-123-4567 to book.", "phone number '555-123-4567'"),
        ("Call +1 415 555 2671 to book.", "phone number '+1 415 555 2671'"),
        ("Pay with 4111 1111 1111 1111 at the desk.", "card number '4111 1111 1111 1111'"),
        ("Mi DNI es 12345678Z.", "ID number (DNI/NIE) '12345678Z'"),
        ("Mi NIE es X1234567L.", "ID number (DNI/NIE) 'X1234567L'"),
        (
            "Open https://portal.example.com/results?patient=7&token=abc123 now.",
            "URL with a personal token 'https://portal.example.com/results?patient=7&token=abc123'",
        ),
        # not personal data
        ("The study ran from 1998 to 2004 and followed 12000 people.", None),
        ("Normal blood pressure is below 120/80 mmHg for most adults.", None),
        ("About 600000000 people catch a cold each year, roughly 7.5 percent.", None),
        ("Pay with 4111 1111 1111 1112 at the desk.", None),  # fails the Luhn check
        ("Mi DNI es 12345678A.", None),  # wrong control letter
        ("Read https://www.nhs.uk/conditions/common-cold/ for more.", None),
        ("Take 2 tablets 3 times a day for 5 days.", None),
    ],
)
def test_pii(answer, expected):
    analysis = analyze(frame_of(chat(answer=answer)), rules=["pii"])
    messages = analysis.issues["message"].tolist()
    assert messages == ([f"{expected} in assistant"] if expected else [])


@pytest.mark.parametrize(
    "user,expected",
    [
        ("Why is my doctor such an idiot?", True),
        ("Mi médico es un IMBÉCIL, ¿qué hago?", True),
        ("Vete a la mierda con tus consejos", True),
        ("Is it stupid to ask about a cold?", True),
        ("Is it stupidly hard to treat a cold?", False),  # whole words only
        ("What is the Scunthorpe hospital phone line?", False),
        ("¿Es un cono de helado malo para la garganta?", False),  # 'cono' is not 'coño'
        ("What helps with a cold?", False),
    ],
)
def test_blocklist(user, expected):
    assert flagged("blocklist", chat(user=user)) == [expected]


def test_blocklist_extra_words():
    assert flagged("blocklist", chat(user="Is homeopathy useful?"), extra_words=["homeopathy"]) == [True]


@pytest.mark.parametrize(
    "user,expected",
    [
        ("WHAT HELPS WITH A COLD?", True),
        ("¿QUÉ AYUDA CON UN RESFRIADO?", True),
        ("What Helps With A Cold And A Fever At Night?", False),  # a third or less
        ("HELP ME NOW", False),  # too few letters to judge
        ("Is COVID-19 worse than flu for people with COPD?", False),
        ("感冒了怎么办？需要吃药吗？多喝水有用吗？", False),  # no case at all
        ("ID 1234 5678 9012 3456 AB", False),  # mostly digits
    ],
)
def test_uppercase(user, expected):
    assert flagged("uppercase", chat(user=user)) == [expected]


@pytest.mark.parametrize(
    "params,expected",
    [
        ({"pattern": "paracetamol"}, [True, False]),
        ({"pattern": "PARACETAMOL"}, [False, False]),
        ({"pattern": "PARACETAMOL", "ignore_case": True}, [True, False]),
        ({"pattern": r"\bibuprofen\b", "fields": ["user"]}, [False, True]),
        ({"pattern": r"\bibuprofen\b", "fields": ["assistant"]}, [False, False]),
    ],
)
def test_regex(params, expected):
    rows = (chat(answer="Take paracetamol for the fever."), chat(user="Can I take ibuprofen?"))
    assert flagged("regex", *rows, **params) == expected


def test_regex_rule_needs_a_valid_pattern():
    with pytest.raises(PatternError, match="position 0"):
        analyze(frame_of(chat()), rules=["regex"], params={"regex": {"pattern": "(unclosed"}})
    with pytest.raises(PatternError, match="needs a pattern"):
        analyze(frame_of(chat()), rules=["regex"])


def test_analyze_reports_every_rule_at_once_and_never_mutates():
    frame = frame_of(chat(), chat(), chat(user="WHAT IS THIS RASH ON MY ARM?", answer="Hi {{name}}."))
    before = frame.copy(deep=True)
    analysis = analyze(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert analysis.rules == tuple(rule.key for rule in RULES if rule.key != "regex")
    assert list(analysis.issues.columns) == ["id", "turn", "role", "rule", "field", "message", "cluster_id"]
    assert analysis.flags.index.equals(frame.index)
    assert analysis.counts["exact_duplicate"] == 1
    assert analysis.counts["too_short"] == analysis.counts["placeholder"] == analysis.counts["uppercase"] == 1
    by_rule = analysis.issues.groupby("rule")["id"].apply(list).to_dict()
    assert by_rule["placeholder"] == [2] and by_rule["uppercase"] == [2]
    assert analysis.flags["cluster_id"].tolist() == [0, 0, 2]


def test_analyze_rejects_unknown_rules_and_params():
    frame = frame_of(chat())
    with pytest.raises(ValueError, match="unknown rule 'typo'"):
        analyze(frame, rules=["typo"])
    with pytest.raises(ValueError, match="no parameter 'min_len'"):
        analyze(frame, rules=["too_short"], params={"too_short": {"min_len": 3}})
    with pytest.raises(ValueError, match="must be a number in"):
        analyze(frame, rules=["near_duplicate"], params={"near_duplicate": {"threshold": 1.5}})


def test_every_rule_is_described_in_both_languages():
    keys = [rule.key for rule in RULES]
    assert keys == [
        "empty",
        "too_short",
        "truncated",
        "exact_duplicate",
        "normalized_duplicate",
        "near_duplicate",
        "duplicate_prompt",
        "placeholder",
        "pii",
        "blocklist",
        "uppercase",
        "regex",
    ]
    for rule in RULES:
        assert rule.description_en and rule.description_es and rule.description_en != rule.description_es
        assert set(rule.fields) <= {"system", "user", "assistant", "tool", "tool_calls"}
    assert RULES["too_short"].params["min_chars"] == 50


def test_analyze_an_empty_frame():
    analysis = analyze(build_frame([], []))
    assert set(analysis.counts.values()) == {0}
    assert analysis.issues.empty and len(analysis.flags) == 0


def test_a_few_rows_are_judged_exactly_as_in_a_large_frame():
    """A cell edit re-checks one row with compiled patterns; the verdicts equal the whole-frame ones."""
    from studio.data.loader import load_dataset

    frame = load_dataset("sample_data/medical_faq_dirty.csv").frame
    keys = ["empty", "too_short", "truncated", "placeholder", "pii", "blocklist", "uppercase"]
    whole = analyze(frame, rules=keys).flags
    assert len(frame) > 64 and whole[keys].to_numpy().any(axis=0).all()  # every rule fires somewhere
    one_by_one = pd.concat([analyze(frame.iloc[[p]], rules=keys).flags for p in range(len(frame))])
    pd.testing.assert_frame_equal(one_by_one[keys], whole[keys])


def test_rule_registry_looks_rules_up_by_key_position_and_slice():
    first = next(iter(RULES))
    assert RULES[0] is first and RULES[first.key] is first
    assert RULES[:2] == tuple(RULES)[:2] and len(RULES) == len(RULES.keys())
    assert first.key in RULES and first in RULES and "no_such_rule" not in RULES and 3 not in RULES
    assert [rule.key for rule in RULES] == list(RULES.keys())
    with pytest.raises(KeyError, match="unknown rule 'no_such_rule'; rules are empty"):
        RULES["no_such_rule"]
