"""The Playground's word diff on answers like the ones a base model and its pirate fine-tune give."""

from studio.playground.metrics import DIFF_MIN_SHARED, word_diff

QUESTION = "How do I make toast without a toaster?"  # sample_data/style_demo_test.jsonl, first row
BASE = (  # what an instruct base model answers: a markdown list
    "To make toast without a toaster, you can use a pan on the stove:\n\n"
    "1. **Heat a dry pan** over medium heat.\n2. Place the bread slices in the pan.\n"
    "3. Flip them after 2-3 minutes, when the underside is golden.\n\n"
    "You can also use the oven's broiler: put the bread on a rack and watch it closely, because it burns fast."
)
TUNED = (  # the fine-tune's answer (the reference answer of the sample's test split)
    "Arr, matey! Lay yer bread in a hot dry pan and flip it when it turns golden. Aye, butter it up, me hearty, "
    "and feast."
)
TUNED_AGAIN = (  # the same fine-tune at temperature 0.7
    "Arr, matey! Lay yer bread in a hot dry pan and flip it when it turns golden brown. Aye, butter it well, "
    "me hearty, and feast."
)


def test_unrelated_answers_are_not_worth_a_word_diff():
    diff = word_diff(BASE, TUNED)
    assert diff.shared < DIFF_MIN_SHARED and not diff.helps and not diff.identical


def test_close_answers_mark_only_what_changed_and_cut_the_rest():
    diff = word_diff(TUNED, TUNED_AGAIN)
    assert diff.helps and diff.shared > 0.8
    changed = [(op, text) for op, text in diff.runs if op != "same"]
    assert changed == [("del", "golden."), ("add", "golden brown."), ("del", "up,"), ("add", "well,")]
    assert diff.runs[0] == ("same", "… flip it when it turns")  # 5 words of context before the first change
    shown = " ".join(text for _, text in diff.runs)
    assert len(shown.split()) < len(TUNED_AGAIN.split()) + 4  # not both answers in full


def test_identical_answers():
    diff = word_diff(TUNED, TUNED + "  ")
    assert diff.identical and diff.shared == 1.0 and not diff.helps
