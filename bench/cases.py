"""Every measurement of ``python -m bench``: what runs, at which size, against which baseline and goal.

A case's ``check`` and ``ratio`` are Python expressions over these names (medians over the runs):

- ``w``: ours, the case's ``metric`` (seconds unless ``unit`` says otherwise); ``c``: its CPU seconds;
  ``m``: its peak RSS in MB; ``x``: every figure ours reported (e.g. ``x["lost_rows"]``);
- ``bw``, ``bc``, ``bm``, ``bx``: the same for the baseline (None when there is none);
- ``r`` (check only): the ratio.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.data import SIZES


@dataclass(frozen=True)
class Case:
    group: str
    name: str
    size: str  # shown in the table; the tasks' argument unless ``args`` is given
    ours: str  # "module:function" run by bench.worker
    baseline: str | None = None
    baseline_name: str = ""
    goal: str = "report"
    check: str | None = None  # None: reported without a goal
    metric: str = "wall_s"
    baseline_metric: str | None = None  # the baseline's figure when not ``metric`` (both sides from one task's run)
    unit: str = "s"
    ratio: str | None = "bw / w"  # default: speed-up, the baseline's time over ours
    ratio_name: str = "speed-up"
    args: tuple[str, ...] | None = None
    baseline_args: tuple[str, ...] | None = None
    # (size label, args, baseline args) for smoke runs (--size) of cases not sized in examples
    quick: tuple[str, tuple[str, ...], tuple[str, ...] | None] | None = None
    runs: int | None = None  # fixed number of fresh-process runs (the task repeats inside); None: --repeat
    slow: bool = False
    notes: tuple[str, ...] = field(default=())
    data: str = "chat"  # the data set of a sized case: chat, multi (multi-turn) or nearcopy (bench.data)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.group, self.name, self.size

    @property
    def sized_by_data(self) -> bool:
        return self.size in SIZES

    def resized(self, size: str) -> Case:
        """This case on ``size`` examples (data cases) or its quick variant (the others) for smoke runs."""
        from dataclasses import replace

        if self.sized_by_data:
            if size == self.size:
                return self
            goal = "report" if self.check is None else f"— (goal is for {self.size})"
            return replace(self, size=size, args=None, baseline_args=None, goal=goal, check=None)
        if self.quick is None:
            return self
        label, args, baseline_args = self.quick
        goal = "report" if self.check is None else f"— (goal is for {self.size})"
        return replace(self, size=label, args=args, baseline_args=baseline_args, goal=goal, check=None)

    def ours_args(self) -> tuple[str, ...]:
        return self.args if self.args is not None else (self.size,)

    def base_args(self) -> tuple[str, ...]:
        return self.baseline_args if self.baseline_args is not None else self.ours_args()


COOKBOOK = "OpenAI cookbook loop: per-line json.loads + format checks + tiktoken per message"
COOKBOOK_PROCESS = "the cookbook loop as a whole process"
WHOLE_PROCESS = (
    "Whole process under `/usr/bin/time`, started to exit: wall, CPU (user + system, workers included) and "
    "`time_max_rss_mb` (its biggest process) from `time`; `tree_peak_mb` sums the command's process tree every 50 ms. "
    "`inner_step_s`: the library call alone in a warm process (no start-up, imports or encoding build)."
)
GRID = "bench.browser:session"
GRID_MULTI = "bench.browser:multi_session"
GRID_MULTI_NOTE = (
    "The grid cases' session on `bench.data.multi_turn_jsonl` (~7.4 turns per example, tool calls in 1 of 4, an "
    "image part in 1 of 10): the live regex searches every turn of every role (tool-call arguments and results "
    "included). `*_cpu_s` in results.json: CPU seconds of each step (Streamlit, Chromium and the harness; "
    "`*_server_cpu_s`: Streamlit alone); `load_before`/`load_after`: the load average around the session."
)
PLAYGROUND_NOTE = (
    "The sequential loop's time is linear in the prompts: it is timed on `extrapolated_from` "
    "prompts × 2 models and scaled to the full count."
)

SIDE_BY_SIDE_NOTE = (
    "The Playground chat's `stream_side_by_side` (one thread per target); the baseline streams each target alone, "
    "one after another, and takes the slowest; `sequential_s` (the baseline's sum) is what the page took when it "
    "streamed target 1, then target 2."
)
MULTI_NOTE = (
    "`python -m studio.cli analyze FILE --rules … --json` in a child process: wall and CPU as /usr/bin/time "
    "gives them, peak RSS of the process tree (`process_peak_rss_mb`: the largest single process); the file "
    "is read in 32 MB parts on one worker process per core (studio/quality/streamed.py), so the tree's sum "
    "counts pages shared after fork once per process. The row after it is the rules step alone on the whole "
    "frame loaded at once (`load_s`: the load it follows), the Dataset page's path. The set "
    "(bench.data.multi_turn_jsonl): ~7.4 turns per example, tool calls in 1 of 4, an image part in 1 of 10."
)
NEARCOPY_NOTE = (
    "bench.data.multi_turn_jsonl(near_copies=True): one-round chats (system, user, assistant; tool calls in 1 "
    "of 4), each with ~63 lightly edited copies, shuffled. `compared`: pairs confirmed with rapidfuzz."
)

CALIBRATION_NOTE = (
    "bench.calibration: SmolLM2-135M-Instruct trained by the engine's trainer on the first N chats of "
    "sample_data/style_demo.jsonl (500: generated in the same voice), epochs/batch/LR as `resolve_config` "
    'chooses for "auto"; perplexity of sample_data/heldout_english.txt, base and base + adapter, float32; '
    "`styled`: of the 12 unseen prompts of style_demo_test.jsonl, greedy answers (24 tokens) with 2+ pirate "
    "words. Wall and CPU: the training alone."
)

CASES: list[Case] = [
    # 1. load + canonicalise
    Case(
        "load",
        "load + canonicalise chat JSONL",
        "1M",
        "bench.tasks:load_ours",
        "bench.tasks:load_baseline",
        "pandas.read_json(lines=True)",
        slow=True,
    ),
    Case(
        "load",
        "load + canonicalise chat JSONL",
        "100k",
        "bench.tasks:load_ours",
        "bench.tasks:load_baseline",
        "pandas.read_json(lines=True)",
    ),
    # 2. validate + token statistics
    Case(
        "tokens",
        "validate + token statistics (gpt-4o-mini, 2 workers)",
        "1M",
        "bench.tasks:tokens_ours",
        "bench.tasks:tokens_baseline",
        COOKBOOK,
        "≤ 15 s, ≤ 2 GB",
        "w <= 15 and m <= 2048",
        slow=True,
    ),
    Case(
        "tokens",
        "validate + token statistics (gpt-4o-mini, 2 workers)",
        "100k",
        "bench.tasks:tokens_ours",
        "bench.tasks:tokens_baseline",
        COOKBOOK,
    ),
    # 3. cleaning rules
    Case(
        "rules",
        "all cleaning rules except near-duplicates",
        "1M",
        "bench.tasks:rules_ours",
        goal="≤ 60 s, ≤ 3 GB",
        check="w <= 60 and m <= 3072",
        ratio=None,
        slow=True,
    ),
    Case("rules", "all cleaning rules except near-duplicates", "100k", "bench.tasks:rules_ours", ratio=None),
    Case(
        "rules",
        "near-duplicate clusters (similarity 0.8)",
        "100k",
        "bench.tasks:near_ours",
        goal="≤ 30 s",
        check="w <= 30",
        ratio=None,
    ),
    # 3a. the rules over whole conversations: `studio analyze` as a user runs it, and the inner step beside it
    Case(
        "multiturn",
        "`studio analyze`, every rule but near-duplicates (multi-turn set, whole process)",
        "1M",
        "bench.tasks:analyze_multi",
        goal="≤ 60 s, ≤ 3 GB",
        check="w <= 60 and m <= 3072",
        ratio=None,
        runs=1,
        slow=True,
        data="multi",
        notes=(MULTI_NOTE,),
    ),
    Case(
        "multiturn",
        "rules step only: analyze() on the loaded frame, every rule but near-duplicates (multi-turn set)",
        "1M",
        "bench.tasks:rules_multi",
        ratio=None,
        runs=1,
        slow=True,
        data="multi",
    ),
    Case(
        "multiturn",
        "`studio analyze`, every rule but near-duplicates (multi-turn set, whole process)",
        "100k",
        "bench.tasks:analyze_multi",
        ratio=None,
        runs=1,
        data="multi",
        notes=(MULTI_NOTE,),
    ),
    Case(
        "multiturn",
        "rules step only: analyze() on the loaded frame, every rule but near-duplicates (multi-turn set)",
        "100k",
        "bench.tasks:rules_multi",
        ratio=None,
        runs=1,
        data="multi",
    ),
    Case(
        "nearcopy",
        "`studio analyze --rules near_duplicate` (near-copy set, whole process)",
        "1M",
        "bench.tasks:analyze_nearcopy",
        goal="≤ 3 min, ≤ 4 GB",
        check="w <= 180 and m <= 4096",
        ratio=None,
        runs=1,
        slow=True,
        data="nearcopy",
        notes=(NEARCOPY_NOTE,),
    ),
    Case(
        "nearcopy",
        "near-duplicates step only: near_duplicates() on the loaded frame (near-copy set)",
        "1M",
        "bench.tasks:near_nearcopy",
        ratio=None,
        runs=1,
        slow=True,
        data="nearcopy",
    ),
    Case(
        "nearcopy",
        "near-duplicates step only: near_duplicates() on the loaded frame (near-copy set)",
        "100k",
        "bench.tasks:near_nearcopy",
        ratio=None,
        runs=1,
        data="nearcopy",
    ),
    # 4. regex filter and the grid in Chromium
    Case(
        "regex",
        "regex filter over system/user/assistant",
        "100k",
        "bench.tasks:regex_ours",
        "bench.tasks:regex_baseline",
        "per-row Python re.search loop",
        "≤ 100 ms",
        "w <= 0.1",
    ),
    Case(
        "grid",
        "grid first render (pick dataset → first row)",
        "100k",
        GRID,
        goal="≤ 3 s",
        check="w <= 3",
        metric="first_render_s",
        ratio=None,
        runs=1,
        notes=("First session of a fresh server; `warm_render_s` in results.json is later sessions.",),
    ),
    Case(
        "grid",
        "grid edit round-trip (Enter → Saved caption)",
        "100k",
        GRID,
        goal="≤ 0.3 s",
        check="w <= 0.3",
        metric="edit_s",
        ratio=None,
        runs=1,
    ),
    Case(
        "grid",
        "regex keystroke → updated row count (incl. 200 ms debounce)",
        "100k",
        GRID,
        goal="≤ 0.5 s",
        check="w <= 0.5",
        metric="regex_s",
        ratio=None,
        runs=1,
        notes=(
            "`regex_minus_debounce_s` is the same minus the 200 ms debounce; `regex_grid_s` runs to the "
            "new grid's first row.",
        ),
    ),
    # 4c. the same three grid goals on the multi-turn set (issue 19): the data set changed, not the tasks
    Case(
        "gridmulti",
        "grid first render (pick dataset → first row), multi-turn set",
        "100k",
        GRID_MULTI,
        goal="≤ 3 s",
        check="w <= 3",
        metric="first_render_s",
        ratio=None,
        runs=1,
        data="multi",
        notes=(GRID_MULTI_NOTE,),
    ),
    Case(
        "gridmulti",
        "grid edit round-trip (Enter → Saved caption), multi-turn set",
        "100k",
        GRID_MULTI,
        goal="≤ 0.3 s",
        check="w <= 0.3",
        metric="edit_s",
        ratio=None,
        runs=1,
        data="multi",
    ),
    Case(
        "gridmulti",
        "regex keystroke → updated row count (incl. 200 ms debounce), multi-turn set, every role and turn",
        "100k",
        GRID_MULTI,
        goal="≤ 0.5 s",
        check="w <= 0.5",
        metric="regex_s",
        ratio=None,
        runs=1,
        data="multi",
    ),
    Case(
        "panel",
        "conversation panel: tick a row → its turns shown (multi-turn set)",
        "100k",
        "bench.browser:panel_session",
        goal="≤ 0.3 s",
        check="w <= 0.3",
        metric="panel_s",
        ratio=None,
        runs=1,
        notes=(
            "Multi-turn conversations (7–9 turns, tool calls in 1 of 4, an image part in 1 of 10) from "
            "`bench.data.multi_turn_jsonl`; median of 3 opens, `panel_max_s` the slowest.",
        ),
    ),
    # 4a. the Train page: a rerun must not export and validate the chosen version again
    Case(
        "train",
        "Train page rerun with a 100k-row version chosen",
        "100k",
        "bench.train_page:rerun_ours",
        "bench.train_page:rerun_baseline",
        "export + validate on every rerun (the page before)",
        "report",
        ratio="bw / w",
        runs=1,
        notes=(
            "Streamlit AppTest over app.py; median of 3 reruns after the first run "
            "(`first_run_s`, which exports and validates once).",
        ),
    ),
    # 4b. the app at rest: an open tab must not cost a core (Streamlit's file watcher once did)
    Case(
        "idle",
        "Streamlit server CPU, one tab idle on each page (worst page)",
        "60 s",
        "bench.browser:idle_cpu",
        "bench.browser:idle_cpu",
        "Streamlit's default file watcher (auto), Home only",
        "≤ 2 % of a core",
        "w <= 2",
        metric="cpu_pct",
        unit="% of a core",
        ratio="bw / w",
        ratio_name="baseline ÷ ours",
        args=("60", "config"),
        baseline_args=("60", "auto", ""),
        runs=1,
        quick=("5 s", ("5", "config"), ("5", "auto", "")),
        notes=(
            "Share of one core: the server's CPU seconds over 60 s of wall time after each page has "
            "rendered; `cpu_pct_by_page` in results.json lists every page.",
        ),
    ),
    Case(
        "idle",
        "engine CPU, idle after one answer (model loaded)",
        "engine, 60 s",
        "bench.engine_load:idle_cpu_ours",
        goal="≈ 0 (≤ 0.5 % of a core)",
        check="w <= 0.5",
        metric="cpu_pct",
        unit="% of a core",
        ratio=None,
        args=("60",),
        runs=1,
        slow=True,
        quick=("5 s", ("5",), None),
        notes=(
            "A `studio engine --preload` process answers one request, rests 3 s, then its CPU seconds over 60 s "
            "of wall time (/proc/PID/stat): the decode loop's thread ends when no row is left, and waiting "
            "requests block on queues, nothing polls.",
        ),
    ),
    # 5. local engine
    Case(
        "engine",
        "LoRA step time, batch 4 × 128 tokens",
        "20 steps",
        "bench.engine:train_ours",
        "bench.engine:train_bare",
        "bare torch + peft loop, same batches",
        "ratio ≤ 1.1",
        "r <= 1.1",
        ratio="w / bw",
        ratio_name="ours ÷ bare",
        args=("20",),
        quick=("5 steps", ("5",), ("5",)),
        runs=1,
        slow=True,
        notes=("Median step time after 3 warm-up steps; precision and threads as listed.",),
    ),
    Case(
        "engine",
        "LoRA training throughput, style demo (60 chats, auto batch: 4 chats padded, 1 packed row): packed vs padded",
        "1 epoch",
        "bench.engine:train_style_demo_pairs",
        "bench.engine:train_style_demo_pairs",
        "dynamic padding (packing off), in turn with packed in the same process",
        "≥ 1.3× padded",
        "r >= 1.3",
        metric="tokens_per_s",
        baseline_metric="padded_tokens_per_s",
        unit="tokens/s",
        ratio="x['ratio']",
        ratio_name="packed ÷ padded, median of 3 pairs",
        args=("3", "1"),
        baseline_args=("3", "1"),
        runs=1,
        slow=True,
        notes=(
            "The examples' tokens (no padding) over the sum of the steps' own times, both with the auto batch size:"
            " packed, the 60 chats in rows of 1,024 tokens holding their common 24-token start once, 1 row a step"
            " (4 steps); padded, 4 chats a step (15 steps). Packed then padded, 3 times in turn in one process (the"
            " machine's speed drifts); each side's median, and the median of the 3 pairs' ratios (`pair_ratios`)."
            " CPU and memory are that one process's, for both sides.",
        ),
    ),
    Case(
        "engine",
        "generation, greedy, merged LoRA model",
        "128 tokens",
        "bench.engine:generate_ours",
        "bench.engine:generate_baseline",
        "transformers model.generate, float32",
        "≥ 24 tokens/s",
        "w >= 24",
        metric="tokens_per_s",
        unit="tokens/s",
        ratio="w / bw",
        ratio_name="ours ÷ baseline",
        args=("128",),
        quick=("16 tokens", ("16",), ("16",)),
        runs=1,
        slow=True,
    ),
    Case(
        "engine",
        "concurrent streams, aggregate (128 tokens each)",
        "1 stream",
        "bench.engine:concurrent_ours",
        "bench.engine:concurrent_baseline",
        "one request at a time (the engine before batching)",
        "≥ 0.95× the engine before (same thread setup)",
        "w >= 0.95 * bw",
        metric="tokens_per_s",
        unit="tokens/s",
        ratio="w / bw",
        ratio_name="ours ÷ sequential",
        args=("1", "128"),
        quick=("1 stream, 16 tokens", ("1", "16"), ("1", "16")),
        runs=1,
        slow=True,
    ),
    Case(
        "engine",
        "concurrent streams, aggregate (128 tokens each)",
        "4 streams",
        "bench.engine:concurrent_ours",
        "bench.engine:concurrent_baseline",
        "one request at a time (the engine before batching)",
        "report",
        metric="tokens_per_s",
        unit="tokens/s",
        ratio="w / bw",
        ratio_name="ours ÷ sequential",
        args=("4", "128"),
        quick=("4 streams, 16 tokens", ("4", "16"), ("4", "16")),
        runs=1,
        slow=True,
    ),
    Case(
        "engine",
        "concurrent streams, aggregate (128 tokens each)",
        "8 streams",
        "bench.engine:concurrent_ours",
        "bench.engine:concurrent_baseline",
        "one request at a time (the engine before batching)",
        "≥ 3× one stream at a time (the baseline), first token ≤ 1 s",
        "w >= 3 * bw and x['first_token_max_s'] <= 1",
        metric="tokens_per_s",
        unit="tokens/s",
        ratio="w / bw",
        ratio_name="ours ÷ sequential",
        args=("8", "128"),
        quick=("8 streams, 16 tokens", ("8", "16"), ("8", "16")),
        runs=1,
        slow=True,
        notes=(
            "Aggregate = streams × tokens ÷ wall time; `first_token_max_s` is the slowest stream's first "
            "token (for the baseline: the last request's, which waits for all the others). Both decode in a "
            "thread other than the one that loaded the model, as the server does. On 2026-11-30 one stream ran at"
            " about half the `generation` row's speed (11 against 27 tokens/s); on 2026-12-01, on a host whose CPU"
            " has AVX2 but no AVX-512, one stream and the `generation` row ran alike (20.5 and 20.3 tokens/s), and"
            " int8 decoding as fast as float32 (19.5 and 19.6).",
        ),
    ),
    Case(
        "engine",
        "cached model load (base)",
        "SmolLM2-135M",
        "bench.engine:load_ours",
        goal="≤ 1 s",
        check="w <= 1",
        ratio=None,
        args=("",),
        runs=1,
        slow=True,
        notes=(
            "Median of 3 loads in an engine process that has already served a model, tokenizer parsed "
            "again each time; `first_in_process_s` is the process's very first load (lazy imports, first "
            "kernels), which `studio engine --preload` pays at start.",
        ),
    ),
    Case(
        "engine",
        "cached model load (base + LoRA merged)",
        "SmolLM2-135M",
        "bench.engine:load_ours",
        goal="≤ 1 s",
        check="w <= 1",
        metric="merged_s",
        ratio=None,
        args=("",),
        runs=1,
        slow=True,
    ),
    Case(
        "engine",
        "first streamed token, model preloaded (SDK over HTTP)",
        "SmolLM2-135M",
        "bench.engine:first_token_ours",
        goal="≤ 0.5 s",
        check="w <= 0.5",
        ratio=None,
        args=("5",),
        runs=1,
        slow=True,
        notes=(
            "Median of 5 requests to a `studio engine --preload` process; `preload_s` is from the "
            "process start to the model loaded.",
        ),
    ),
    # 6. playground
    Case(
        "playground",
        "1,000 prompts × 2 models, 200 ms endpoint: concurrent vs sequential",
        "1,000 prompts",
        "bench.bench_playground:concurrent",
        "bench.bench_playground:sequential",
        "sequential openai SDK loop",
        "≥ 10× speed-up",
        "r >= 10",
        args=("1000",),
        baseline_args=("1000/100",),
        quick=("20 prompts", ("20",), ("20/5",)),
        notes=(PLAYGROUND_NOTE,),
    ),
    Case(
        "playground",
        "same with 5 % 429/500 faults: lost rows, double charges",
        "1,000 prompts",
        "bench.bench_playground:faults",
        goal="0 lost, 0 charged twice",
        check="x['lost_rows'] == 0 and x['duplicate_charges'] == 0",
        ratio=None,
        args=("1000",),
        quick=("20 prompts", ("20",), None),
    ),
    *(
        Case(
            "playground",
            f"one chat message, {n} targets streaming at once vs the slowest alone (40 words, 50 ms/word)",
            f"{n} targets",
            "bench.bench_playground:side_by_side",
            "bench.bench_playground:side_by_side_alone",
            "slowest single target, streaming alone",
            "≤ 1.2× the slowest single target",
            "r <= 1.2",
            ratio="w / bw",
            ratio_name="of the slowest single target",
            args=(str(n),),
            baseline_args=(str(n),),
            notes=(SIDE_BY_SIDE_NOTE,),
        )
        for n in (2, 4)
    ),
    *(
        Case(
            "playground",
            f"one chat message, {n} targets streaming at once on the local engine (40 tokens each)",
            f"{n} × SmolLM2-135M",
            "bench.bench_playground:side_by_side_engine",
            "bench.bench_playground:side_by_side_engine_alone",
            "slowest single target, streaming alone",
            ratio="w / bw",
            ratio_name="of the slowest single target",
            args=(str(n),),
            baseline_args=(str(n),),
            runs=1,
            slow=True,
            notes=(SIDE_BY_SIDE_NOTE,),
        )
        for n in (2, 4)
    ),
    Case(
        "playground",
        "`studio compare` whole process, 12 prompts × 2 targets, local engine, defaults",
        "SmolLM2-135M",
        "bench.engine_load:compare_ours",
        goal="0 errors, each answer decoded once",
        check="x['errors'] == 0 and x['generations_started'] == x['answers']",
        ratio=None,
        args=("12",),
        runs=1,
        slow=True,
        quick=("4 prompts", ("4",), None),
        notes=(
            "Both targets are the base model on one `studio engine --preload` process (one decode loop, 8 rows): "
            "concurrency 8, 512 max tokens, 60 s timeout, 5 attempts. `generations_started` is the engine's "
            "count (/health `chat.started`); before the keep-alive and the idempotency key, 2 × 4 prompts ended "
            "with 3 of 8 `APITimeoutError … gave up after 5 attempts` in 5 min 7 s.",
        ),
    ),
    # 7. command line
    Case(
        "cli",
        "`studio --help` in a fresh process",
        "—",
        "bench.cli:help_ours",
        "bench.cli:bare_python",
        "`python -c pass`",
        "≤ 0.25 s CPU, no pandas",
        "c <= 0.25 and x['heavy_modules'] == []",
        ratio="w / bw",
        ratio_name="ours ÷ bare Python",
        args=("5",),
        runs=1,
        quick=("—", ("2",), ("2",)),
        notes=("Median of 5 new processes each; `heavy_modules`: the heavy libraries `--help` imported.",),
    ),
    *(
        Case(
            "cli",
            name,
            "1M",
            ours,
            "bench.cli:cookbook_process",
            baseline_name,
            goal,
            check,
            ratio=ratio,
            slow=True,
            notes=(WHOLE_PROCESS,),
        )
        for name, ours, baseline_name, ratio, goal, check in (
            (
                "`studio validate`, whole process",
                "bench.cli:validate_process",
                COOKBOOK_PROCESS,
                "bw / w",
                "≤ 12 s, ≤ 1 GB",
                "w <= 12 and x['tree_peak_mb'] <= 1024",
            ),
            (
                "`studio estimate --model gpt-4o-mini`, whole process",
                "bench.cli:estimate_process",
                COOKBOOK_PROCESS,
                "bw / w",
                "≤ 12 s, ≤ 1 GB",
                "w <= 12 and x['tree_peak_mb'] <= 1024",
            ),
            (
                "`studio analyze` (rules but near-duplicates), whole process",
                "bench.cli:analyze_process",
                f"{COOKBOOK_PROCESS} (format checks and tokens, not the cleaning rules: for scale, no speed-up)",
                None,
                "report",
                None,
            ),
        )
    ),
    # 9. the engine's "auto" settings: a small style set must not wreck the base's English
    *(
        Case(
            "calibration",
            "held-out English perplexity, fine-tune ÷ base (auto LR and batch; pirate style set)",
            size,
            "bench.calibration:case",
            goal=goal,
            check=check,
            metric="ppl_ratio",
            unit="× base",
            ratio=None,
            args=args,
            quick=("10 chats, 1 epoch", ("10", "1"), None),
            runs=1,
            slow=True,
            notes=(CALIBRATION_NOTE,),
        )
        for size, args, goal, check in (
            ("10 chats", ("10",), "≤ 1.5× base", "w <= 1.5"),
            ("16 chats", ("16",), "≤ 1.5× base", "w <= 1.5"),
            (
                "60 chats, 2 epochs (the demo)",
                ("60", "2"),
                "≤ 1.5× base, style in ≥ 5 of 12",
                "w <= 1.5 and x['styled'] >= 5",
            ),
            ("500 chats", ("500",), "≤ 1.5× base", "w <= 1.5"),
        )
    ),
]

GROUPS = sorted({c.group for c in CASES})
