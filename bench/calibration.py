"""Calibration of the engine's "auto" hyperparameters: does a small style set teach the style without harm?

One run trains SmolLM2-135M-Instruct with the engine's real trainer (:func:`studio.engine.trainer.train`) on the
first N chats of the pirate style demo (N = 10, 16, 60) or on a generated 500-chat set in the same voice, then
measures:

- the perplexity of base and fine-tune (base + the run's LoRA adapter) on ``sample_data/heldout_english.txt``, a
  general English text no training set contains (:mod:`studio.engine.perplexity`), after every epoch;
- whether the style is learned: the greedy answers (24 tokens) to the 12 unseen prompts of
  ``sample_data/style_demo_test.jsonl`` that use two or more pirate words (the slow engine test's check:
  learned when at least 5 of 12 do).

``python -m bench.calibration 16 auto auto --log FILE`` runs one configuration (size, n_epochs,
learning_rate_multiplier; "auto" = the engine's current rule) and appends its row as JSON to FILE.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STYLE_DEMO = ROOT / "sample_data" / "style_demo.jsonl"
STYLE_TEST = ROOT / "sample_data" / "style_demo_test.jsonl"
HELDOUT_TEXT = ROOT / "sample_data" / "heldout_english.txt"
SEED = 42
STYLE_TOKENS = 24
STYLE_LEARNED_AT = 5  # of the 12 unseen prompts; tests/engine/test_hyperparameters.py asserts it

PIRATE = re.compile(r"\b(arr+|matey|ye|yer|aye|ahoy|hearty|avast|landlubber|scallywag|shiver|timbers)\b", re.IGNORECASE)


def pirate_markers(text: str) -> int:
    """How many pirate words an answer uses (whole words, any case)."""
    return len(PIRATE.findall(text))


def shows_style(text: str) -> bool:
    """An answer in the demo's voice: two or more pirate words."""
    return pirate_markers(text) >= 2


# -- the 500-chat set: everyday tasks × phrasings × pirate openers and closers, deterministic -------------------

_TASKS: tuple[tuple[str, str], ...] = (
    (
        "clean a cast iron pan",
        "scrub it with hot water and a stiff brush, dry it on the stove and rub in a thin coat of oil",
    ),
    (
        "keep basil alive on a windowsill",
        "give it the sunniest window, water when the top of the soil is dry and pinch off the flowers",
    ),
    (
        "remove a coffee stain from a shirt",
        "rinse it from the back with cold water, rub in a drop of dish soap and wash it as usual",
    ),
    (
        "save money on groceries",
        "plan the week's meals, write a list and shop after eating so hunger does not choose for you",
    ),
    (
        "start running",
        "begin with one minute of running and two of walking, three times a week, and add a little each week",
    ),
    (
        "sharpen a kitchen knife",
        "hold it at a low angle on a whetstone and draw it across evenly, the same number of strokes per side",
    ),
    (
        "make rice that is not sticky",
        "rinse the rice until the water runs clear, use a lid and let it rest ten minutes after cooking",
    ),
    ("fix a squeaky door", "put a few drops of oil on the hinge pins and swing the door back and forth to work it in"),
    ("pack a suitcase", "roll your clothes, put shoes at the bottom and keep a change of clothes in your hand luggage"),
    ("get rid of fruit flies", "set out a cup of vinegar with a drop of soap and keep ripe fruit in the fridge"),
    (
        "make my phone battery last longer",
        "dim the screen, close apps you do not use and turn off location when you do not need it",
    ),
    ("unclog a sink", "pour in hot water, then baking soda and vinegar, wait a quarter hour and flush it again"),
    (
        "learn a new language",
        "practise a little every day, label things around the house and talk with a patient friend",
    ),
    (
        "care for a houseplant",
        "check the soil with a finger before watering and turn the pot now and then toward the light",
    ),
    (
        "bake bread at home",
        "mix flour, water, salt and yeast, let the dough rise until doubled and bake it in a hot oven",
    ),
    ("stop procrastinating", "break the job into small steps and start the first one for just five minutes"),
    (
        "clean windows without streaks",
        "wash them with warm water and a little vinegar and dry them with crumpled newspaper",
    ),
    ("make a cup of tea", "warm the pot, pour boiling water over the leaves and let it steep three to five minutes"),
    ("organise my closet", "take everything out, keep what you wore this year and hang things by type"),
    ("keep my bike chain clean", "wipe it with a rag after wet rides and add a drop of oil to each link now and then"),
    ("cook pasta", "boil plenty of salted water, stir the pasta in and taste it a minute before the packet says"),
    ("remember names", "repeat the name when you hear it and link it to something about the person"),
    (
        "keep cut flowers fresh",
        "trim the stems at an angle, change the water every two days and keep them out of the sun",
    ),
    (
        "make a budget",
        "write down what comes in and what goes out each month, then set a limit for each kind of spending",
    ),
    ("fall asleep on a plane", "bring a neck pillow and ear plugs, skip coffee and keep your feet warm"),
    ("clean a microwave", "heat a bowl of water with lemon for three minutes, then wipe the softened mess away"),
    ("write a thank you note", "name the gift or the help, say how you used it and end with a warm wish"),
    (
        "prepare for a job interview",
        "learn about the company, practise answers aloud and pick your clothes the night before",
    ),
    ("grow tomatoes", "plant them in full sun, water deeply at the roots and tie the stems to a stake as they grow"),
    ("keep my kitchen tidy", "wash up as you cook and wipe the counters before bed"),
    ("make pancakes", "whisk flour, milk, eggs and a pinch of salt, then cook spoonfuls in a hot buttered pan"),
    ("stay warm in winter", "wear layers, keep your head and feet covered and close the curtains at night"),
    ("paint a room", "clean and tape the walls, cut in the edges with a brush and roll the rest in even strokes"),
    ("choose a ripe melon", "pick one that feels heavy for its size and smells sweet at the stem end"),
    ("teach a dog to sit", "hold a treat above its nose, move it back slowly and reward the dog the moment it sits"),
    ("reduce screen time", "set a daily limit on your phone and keep it out of the bedroom"),
    ("make a smoothie", "blend a banana, a handful of berries, some yogurt and a splash of milk"),
    ("keep a journal", "write three lines every evening about what happened and how you felt"),
    (
        "clean a bathroom quickly",
        "spray the surfaces, let the cleaner work while you tidy, then wipe from top to bottom",
    ),
    ("plan a picnic", "pack food that travels well, a blanket, water and a bag for the rubbish"),
    ("iron a shirt", "start with the collar and cuffs, then the sleeves and finish with the front and back"),
    ("save energy at home", "switch off lights you are not using, wash clothes cold and seal draughty windows"),
    ("make friends in a new city", "join a club or a class you enjoy and say yes to invitations"),
    ("store potatoes", "keep them in a cool dark place in a paper bag, away from onions"),
    ("improve my handwriting", "slow down, hold the pen loosely and copy a page of text each day"),
    ("wash a wool sweater", "use cool water and a gentle soap, squeeze it without wringing and dry it flat"),
    (
        "make a simple salad dressing",
        "shake three spoons of oil with one of vinegar, a little mustard, salt and pepper",
    ),
    ("get up earlier", "go to bed fifteen minutes earlier each week and put the alarm across the room"),
    ("set up a fish tank", "rinse the gravel, fill the tank, let the filter run a few weeks and add fish slowly"),
    ("hang a picture straight", "mark the height with a pencil, use a level and put the nail where the wire will sit"),
    ("keep my car clean inside", "keep a small bin in the car and shake out the mats every week"),
    ("read more books", "carry a book everywhere and read a few pages instead of scrolling"),
    ("cook an omelette", "beat two eggs, pour them into a buttered pan, add a filling and fold it when the top is set"),
    ("keep mosquitoes away", "empty standing water, use screens on the windows and run a fan on the porch"),
    ("be on time", "plan to arrive ten minutes early and get everything ready the night before"),
    ("clean white sneakers", "scrub them with a paste of baking soda and water and let them dry in the air"),
    ("make soup from leftovers", "soften an onion, add the leftovers and stock and simmer until everything is tender"),
    ("learn to swim", "take lessons in shallow water and practise floating and breathing before strokes"),
    ("keep bread fresh", "wrap it in a cloth or a paper bag and freeze what you will not eat in two days"),
    ("decorate a small flat", "use light colours, mirrors and furniture that can fold or store things"),
    ("deal with a cold", "rest, drink plenty of warm fluids and eat simple food until you feel better"),
    (
        "make homemade pizza",
        "stretch the dough thin, add sauce and toppings sparingly and bake it as hot as the oven goes",
    ),
    ("wrap a present neatly", "cut the paper to size, fold the edges under and use small pieces of tape"),
    ("keep my desk organised", "keep only what you use daily on top and clear it at the end of the day"),
)

_ASKS: tuple[str, ...] = (
    "How do I {task}?",
    "What's the best way to {task}?",
    "Any tips to {task}?",
    "Can you tell me how to {task}?",
    "I want to {task}. Where do I start?",
    "What's an easy way to {task}?",
    "Could you explain how to {task}?",
    "How should I {task}?",
)
_OPENERS = ("Arr, matey!", "Ahoy, me hearty!", "Avast, matey!", "Arr, ye landlubber!", "Ahoy there, matey!")
_CLOSERS = (
    "Aye, that be the way of it, me hearty.",
    "Arr, ye'll manage fine, matey.",
    "Shiver me timbers, it works every time, aye.",
    "Aye, and ye can tell yer crew ye learned it from a pirate.",
    "Arr, smooth sailin' to ye, matey.",
)


def generated_style_set(n: int = 500) -> list[dict[str, Any]]:
    """``n`` pirate-voice chats (at most 8 × the number of tasks), the same on every call: each everyday task asked
    in up to 8 phrasings, each answer an opener, the advice and a closer. No task is one of the 12 test prompts."""
    rows: list[dict[str, Any]] = []
    for round_ in range(len(_ASKS)):
        for index, (task, advice) in enumerate(_TASKS):
            ask = _ASKS[(index + round_) % len(_ASKS)]
            opener = _OPENERS[(index + 2 * round_) % len(_OPENERS)]
            closer = _CLOSERS[(3 * index + round_) % len(_CLOSERS)]
            answer = f"{opener} {advice[0].upper()}{advice[1:]}. {closer}"
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": ask.format(task=task)},
                        {"role": "assistant", "content": answer},
                    ]
                }
            )
    if n > len(rows):
        raise ValueError(f"at most {len(rows)} generated chats, asked for {n}")
    return rows[:n]


def style_set(n: int) -> list[dict[str, Any]]:
    """The first ``n`` chats of the style demo (n ≤ 60), or ``n`` generated ones (n > 60)."""
    from studio.engine.encoding import read_examples

    if n <= 60:
        return read_examples(STYLE_DEMO)[:n]
    return generated_style_set(n)


# -- measuring ---------------------------------------------------------------------------------------------------


def greedy_answers(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, Any]]], tokens: int = STYLE_TOKENS
) -> list[str]:
    """Greedy answers of ``tokens`` new tokens at most, one per chat (rendered with the model's chat template),
    decoded together in one left-padded batch."""
    import torch

    texts = [tokenizer.apply_chat_template(m, add_generation_prompt=True, tokenize=False) for m in prompts]
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    finally:
        tokenizer.padding_side = side
    with torch.no_grad():
        out = model.generate(**batch, max_new_tokens=tokens, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    return [tokenizer.decode(row[batch["input_ids"].shape[1] :], skip_special_tokens=True) for row in out]


def _base() -> str:
    from studio.engine.models import is_pulled, smollm2_dir

    if not is_pulled():
        raise SystemExit(f"{smollm2_dir()} is missing: run `studio engine pull` first (the bench downloads nothing)")
    return str(smollm2_dir())


def score(base: str, adapter: Path | None, *, style: bool) -> dict[str, Any]:
    """Held-out perplexity (and, with ``style``, the unseen prompts' greedy answers) of base or base + adapter."""
    from studio.engine.encoding import read_examples
    from studio.engine.perplexity import load_for_scoring, perplexity

    model, tokenizer = load_for_scoring(base, adapter)
    row: dict[str, Any] = {"ppl": perplexity(model, tokenizer, HELDOUT_TEXT.read_text(encoding="utf-8"))}
    if style:
        prompts = [[e["messages"][0]] for e in read_examples(STYLE_TEST)]
        answers = greedy_answers(model, tokenizer, prompts)
        row["styled"] = sum(map(shows_style, answers))
        row["answers"] = answers
    return row


def calibrate(
    size: int, n_epochs: int | str = "auto", multiplier: float | str = "auto", *, style: bool = True
) -> dict[str, Any]:
    """Train on ``size`` style chats with the engine's trainer and ``resolve_config``; measure the fine-tune after
    every epoch (perplexity) and at the end (perplexity, style). Returns one row of the calibration table."""
    import torch

    from studio.engine import trainer
    from studio.engine.hyperparameters import resolve_config

    base = _base()
    examples = style_set(size)
    config = resolve_config({"n_epochs": n_epochs, "learning_rate_multiplier": multiplier}, n_examples=size, seed=SEED)
    started = time.perf_counter()
    cpu_started = time.process_time()
    epochs_ppl: list[float] = []
    scoring = [0.0, 0.0]  # wall and CPU seconds spent scoring checkpoints, not training

    def on_checkpoint(step: int, path: Path, metrics: dict[str, Any]) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        epochs_ppl.append(round(score(base, path, style=False)["ppl"], 3))
        scoring[0] += time.perf_counter() - wall
        scoring[1] += time.process_time() - cpu
        print(f"  epoch checkpoint step {step}: loss {metrics['train_loss']:.3f} ppl {epochs_ppl[-1]}", flush=True)

    def on_metrics(metrics: dict[str, Any]) -> None:
        print(f"  step {metrics['step']}/{metrics['total_steps']} {metrics['step_seconds']:.1f} s", flush=True)

    result = trainer.train(
        base=base,
        train_examples=examples,
        valid_examples=None,
        config=config,
        job_dir=Path(tempfile.mkdtemp(prefix="bench-calibration-")),
        callbacks=trainer.TrainingCallbacks(on_checkpoint=on_checkpoint, on_metrics=on_metrics),
    )
    train_s = time.perf_counter() - started - scoring[0]
    train_cpu_s = time.process_time() - cpu_started - scoring[1]
    base_ppl = score(base, None, style=False)["ppl"]
    final = score(base, result.adapter_dir, style=style)
    return {
        "size": size,
        "n_epochs": config.n_epochs,
        "batch_size": config.batch_size,
        "learning_rate": config.learning_rate,
        "steps": result.step,
        "trained_tokens": result.trained_tokens,
        "base_ppl": round(base_ppl, 3),
        "tuned_ppl": round(final["ppl"], 3),
        "ppl_ratio": round(final["ppl"] / base_ppl, 3),
        "ppl_by_epoch": epochs_ppl,
        "styled": final.get("styled"),
        "answers": final.get("answers"),
        "train_s": round(train_s, 1),
        "train_cpu_s": round(train_cpu_s, 1),
        "threads": torch.get_num_threads(),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("size", type=int)
    parser.add_argument("n_epochs", nargs="?", default="auto")
    parser.add_argument("multiplier", nargs="?", default="auto")
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument(
        "--threads", type=int, help="torch threads (default: every core); 1 is faster on a busy machine"
    )
    args = parser.parse_args(argv)
    if args.threads:
        os.environ["STUDIO_ENGINE_THREADS"] = str(args.threads)
    epochs = args.n_epochs if args.n_epochs == "auto" else int(args.n_epochs)
    multiplier = args.multiplier if args.multiplier == "auto" else float(args.multiplier)
    row = calibrate(args.size, epochs, multiplier)
    row["load_avg"] = Path("/proc/loadavg").read_text().split()[0]
    with open(args.log, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "answers"}), flush=True)


if __name__ == "__main__":
    main()


def case(size: str, n_epochs: str = "auto") -> dict[str, Any]:
    """Bench task (``bench.cases``, group ``calibration``): one :func:`calibrate` row at the engine's auto
    learning rate and batch size; ``wall_s``/``cpu_s`` are the training's own (scoring not included)."""
    row = calibrate(int(size), n_epochs if n_epochs == "auto" else int(n_epochs), "auto")
    row["wall_s"], row["cpu_s"] = row.pop("train_s"), row.pop("train_cpu_s")
    row.pop("answers")
    return row
