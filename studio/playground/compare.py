"""The playground's engine: run 2-4 targets over one prompt or a test set, save every answer, vote blind A/B.

A *target* is a provider profile plus a model (base, fine-tuned or a checkpoint). A *run* is targets + shared
parameters + a test set; it is identified by a hash of those, so starting the same run again resumes it.

Test sets run with bounded concurrency (a thread pool over the one sync SDK client per target), retries with
exponential backoff and jitter on 408/409/429/5xx, timeouts and dropped connections (honouring ``Retry-After``),
and one result row saved per (row, target) as soon as it is known. A row saved with an answer is never requested
again, so a rerun after a crash or an interruption pays only for what is missing. A row whose retries ran out is
saved with its error (never raised) and requested again on the next run.

Tables (created on first use, in the workspace database): ``compare_runs``, ``compare_results``,
``compare_votes``. Only ``Profile.public()`` is stored; keys stay in memory, and are scrubbed from error text.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from studio.data.frame import content_text
from studio.errors import CompareError
from studio.providers.profiles import PROVIDER_KINDS, Profile, api_key_for, make_client, retry_after
from studio.storage.workspace import Workspace

MIN_TARGETS, MAX_TARGETS = 2, 4
RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
Vote = Literal["A", "B", "tie", "both_bad"]
VOTES: tuple[Vote, ...] = ("A", "B", "tie", "both_bad")
DEFAULT_AZURE_API_VERSION = "2024-10-21"
RESULT_COLUMNS = ("run_id", "row_index", "target", "model", "prompt", "reference", "answer", "tokens_in",
                  "tokens_out", "latency_s", "cost", "error", "attempts", "finish_reason")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS compare_runs (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    targets TEXT NOT NULL,
    params TEXT NOT NULL,
    source TEXT NOT NULL,
    rows INTEGER NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS compare_results (
    run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    row_index INTEGER NOT NULL,
    target TEXT NOT NULL,
    model TEXT NOT NULL,
    messages TEXT NOT NULL,
    prompt TEXT NOT NULL,
    reference TEXT,
    answer TEXT,
    tokens_in INTEGER,
    tokens_out INTEGER,
    latency_s REAL,
    cost REAL,
    error TEXT,
    attempts INTEGER NOT NULL,
    finish_reason TEXT,
    updated_at REAL NOT NULL,
    UNIQUE (run_id, row_index, target)
);
CREATE TABLE IF NOT EXISTS compare_votes (
    run_id INTEGER NOT NULL REFERENCES compare_runs(id) ON DELETE CASCADE,
    row_index INTEGER NOT NULL,
    left_target TEXT NOT NULL,
    right_target TEXT NOT NULL,
    vote TEXT NOT NULL CHECK (vote IN ('A', 'B', 'tie', 'both_bad')),
    created_at REAL NOT NULL,
    UNIQUE (run_id, row_index, left_target, right_target)
);
"""
_READY: set[str] = set()
_READY_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """A model to compare: a display name, a provider profile (no key) and a model id."""

    name: str
    profile: Profile
    model: str

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise CompareError("a target needs a name")
        if not self.model.strip():
            raise CompareError(f"target {self.name!r} needs a model")

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "profile": self.profile.public()}


def parse_target(spec: str, *, base_url: str | None = None, api_version: str | None = None) -> Target:
    """``NAME=PROVIDER:MODEL[@URL]`` → :class:`Target`.

    PROVIDER is local, openai, azure or compatible. The model may contain colons (``ft:gpt-4o-mini:org::id``).
    ``@URL`` (http:// or https://) sets the endpoint, else ``base_url``; compatible and azure need one.
    For azure the model is the deployment name.
    """
    name, eq, rest = spec.partition("=")
    provider, colon, model = rest.partition(":")
    if not eq or not colon or not name.strip() or not model:
        raise CompareError(f"target {spec!r}: expected NAME=PROVIDER:MODEL[@URL], e.g. base=openai:gpt-4o-mini")
    if provider not in PROVIDER_KINDS:
        raise CompareError(f"target {spec!r}: unknown provider {provider!r}; use one of {', '.join(PROVIDER_KINDS)}")
    url = base_url
    at = model.rfind("@")
    if at > 0 and model[at + 1:].startswith(("http://", "https://")):
        model, url = model[:at], model[at + 1:]
    if provider in ("compatible", "azure") and not url:
        raise CompareError(f"target {spec!r}: the {provider} provider needs an endpoint: add @URL or --base-url")
    if provider == "azure":
        profile = Profile("azure", base_url=url, api_version=api_version or DEFAULT_AZURE_API_VERSION,
                          deployment=model)
    else:
        profile = Profile(provider, base_url=url.rstrip("/") if url else None)  # type: ignore[arg-type]
    return Target(name.strip(), profile, model)


def build_target(name: str, kind: str, model: str, *, base_url: str | None = None,
                 api_version: str | None = None) -> Target:
    """A target from form fields (the page's sidebar); blank name → the model id."""
    if kind not in PROVIDER_KINDS:
        raise CompareError(f"unknown provider {kind!r}; use one of {', '.join(PROVIDER_KINDS)}")
    url = (base_url or "").strip().rstrip("/") or None
    if kind in ("compatible", "azure") and not url:
        raise CompareError(f"the {kind} provider needs an endpoint URL")
    profile = Profile(kind, base_url=url, api_version=(api_version or DEFAULT_AZURE_API_VERSION) if kind == "azure"
                      else None, deployment=model.strip() if kind == "azure" else None)  # type: ignore[arg-type]
    return Target((name or "").strip() or model.strip(), profile, model.strip())


def preset_widgets(preset: Sequence[Mapping[str, str]]) -> dict[str, Any]:
    """The Playground's target widget values (by widget key) for targets chosen elsewhere (the Train page's
    "Compare in the Playground"): each has ``name``, ``kind`` and ``model``."""
    values: dict[str, Any] = {"pg_count": len(preset)} if preset else {}
    for i, target in enumerate(preset):
        values.update({f"pg_kind_{i}": target["kind"], f"pg_name_{i}": target["name"],
                       f"pg_model_{i}": target["model"], f"pg_model_text_{i}": target["model"]})
    return values


def targets_from_form(rows: Sequence[tuple[str, str, str, str | None]]) -> list[Target]:
    """Checked targets from (name, provider, model, endpoint) form rows; the first problem raises."""
    targets = [build_target(name, kind, model, base_url=url) for name, kind, model, url in rows]
    check_targets(targets)
    return targets


def target_from_public(public: Mapping[str, Any]) -> Target:
    """Inverse of :meth:`Target.public` (a saved run's targets)."""
    return Target(public["name"], Profile(**public["profile"]), public["model"])


def check_targets(targets: Sequence[Target]) -> None:
    """2 to 4 targets with distinct names."""
    if not MIN_TARGETS <= len(targets) <= MAX_TARGETS:
        raise CompareError(f"choose {MIN_TARGETS} to {MAX_TARGETS} targets, got {len(targets)}")
    names = [t.name for t in targets]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise CompareError(f"target names must be unique; repeated: {', '.join(duplicated)}")


def list_models(profile: Profile, *, api_key: str | None = None, timeout: float = 2.0) -> list[str]:
    """Model ids the provider lists (``GET /models``); raises :class:`CompareError` when it is unreachable."""
    import openai

    try:
        client = make_client(profile, api_key=api_key or api_key_for(profile), timeout=timeout, max_retries=0)
        return sorted(m.id for m in client.models.list())
    except openai.OpenAIError as exc:
        raise CompareError(f"{profile.kind} at {profile.url}: cannot list models ({type(exc).__name__})") from None


# ---------------------------------------------------------------------------------------------- parameters


@dataclass(frozen=True)
class Params:
    """Shared generation parameters; the system prompt replaces the test set's own when it is not empty."""

    system_prompt: str = ""
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.temperature <= 2:
            raise CompareError(f"temperature must be between 0 and 2, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise CompareError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_tokens < 1:
            raise CompareError(f"max tokens must be at least 1, got {self.max_tokens}")

    def request(self) -> dict[str, Any]:
        options: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p,
                                   "max_tokens": self.max_tokens}
        if self.seed is not None:
            options["seed"] = self.seed
        return options


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request, exponential backoff with full jitter, and the per-request timeout (seconds)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    timeout: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before attempt ``attempt + 1``: the server's Retry-After when given, else backoff with jitter."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


# ---------------------------------------------------------------------------------------------- test sets


@dataclass(frozen=True)
class Case:
    """One test prompt: the conversation up to the reference answer, and that answer (None when absent)."""

    index: int
    messages: tuple[Mapping[str, Any], ...]
    reference: str | None = None

    @property
    def prompt(self) -> str:
        """The last user message, for tables."""
        return next((content_text(m.get("content")) for m in reversed(self.messages) if m.get("role") == "user"), "")


def cases_from_frame(frame: pd.DataFrame) -> list[Case]:
    """Test cases from a canonical frame: the reference is the last assistant turn, the prompt what precedes it."""
    cases = []
    for position, messages in enumerate(frame["messages"]):
        messages = list(messages or [])
        last = max((i for i, m in enumerate(messages) if m.get("role") == "assistant"), default=None)
        if last is None:
            cases.append(Case(position, tuple(messages)))
        else:
            cases.append(Case(position, tuple(messages[:last]), content_text(messages[last].get("content"))))
    if not cases:
        raise CompareError("the test set has no rows")
    return cases


def load_cases(path: str | Path, *, data: bytes | None = None) -> list[Case]:
    """Test cases from any file :func:`studio.data.io.load_dataset` reads."""
    from studio.data.io import load_dataset

    return cases_from_frame(load_dataset(path, data=data).frame)


def _with_system(messages: Sequence[Mapping[str, Any]], system_prompt: str) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    if not system_prompt.strip():
        return out
    return [{"role": "system", "content": system_prompt}] + [m for m in out if m.get("role") != "system"]


# ---------------------------------------------------------------------------------------------- cost


PriceMap = Mapping[str, tuple[float, float]]  # model → (USD per 1M input tokens, per 1M output tokens)


def cost_of(target: Target, tokens_in: int | None, tokens_out: int | None, *,
            prices: PriceMap | None = None) -> float | None:
    """USD for one answer: $0 on the local engine; fine-tuned ids priced as fine-tuned inference of their base.

    ``prices`` overrides the table (exact model ids). None when a price or a token count is unknown.
    """
    if target.profile.kind == "local":
        return 0.0
    if tokens_in is None or tokens_out is None:
        return None
    if prices is not None:
        if target.model not in prices:
            return None
        per_in, per_out = prices[target.model]
    else:
        per_in, per_out = _table_prices(target.model)
        if per_in is None or per_out is None:
            return None
    return (tokens_in * per_in + tokens_out * per_out) / 1e6


def _table_prices(model: str) -> tuple[float | None, float | None]:
    try:
        from studio.errors import PricingError
    except ImportError:  # pricing.py not present: cost unknown
        return None, None
    try:
        entry = _price_table().prices_for(model)
    except PricingError:
        return None, None
    if model.startswith("ft:") or entry.local:
        return entry.input, entry.output
    return (entry.base_input if entry.base_input is not None else entry.input,
            entry.base_output if entry.base_output is not None else entry.output)


_PRICES: list[Any] = []


def _price_table():
    if not _PRICES:
        from studio.cost.prices import load_prices

        _PRICES.append(load_prices())
    return _PRICES[0]


# ---------------------------------------------------------------------------------------------- requests


@dataclass
class Answer:
    """One target's answer to one prompt (or the error that ended its attempts)."""

    text: str | None = None
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    cost: float | None = None
    error: str | None = None
    attempts: int = 0
    finish_reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _retryable(exc: Exception) -> bool:
    import openai

    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in RETRY_STATUSES
    return isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError))


def _describe(exc: Exception, key: str | None) -> str:
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = f"HTTP {status}: {message}" if status else f"{type(exc).__name__}: {message}"
    if key and len(key) >= 4:
        text = text.replace(key, "***")
    return text[:500]


class _Caller:
    """One target's client (no SDK retries: ours are counted) and the retry loop around each request."""

    def __init__(self, target: Target, api_key: str | None, policy: RetryPolicy, params: Params,
                 prices: PriceMap | None, sleep: Callable[[float], Any], stop: threading.Event) -> None:
        self.target, self.policy, self.params, self.prices = target, policy, params, prices
        self.api_key = api_key if api_key is not None else api_key_for(target.profile)
        self.client = make_client(target.profile, api_key=self.api_key, timeout=policy.timeout, max_retries=0)
        self.sleep = sleep
        self.stop = stop

    def ask(self, messages: list[dict[str, Any]], rng: random.Random) -> Answer:
        import openai

        answer = Answer()
        while True:
            answer.attempts += 1
            started = time.perf_counter()
            try:
                response = self.client.chat.completions.create(model=self.target.model, messages=messages,
                                                               **self.params.request())
            except openai.OpenAIError as exc:
                if not _retryable(exc) or answer.attempts >= self.policy.max_attempts or (
                        self.stop.is_set()):
                    answer.error = _describe(exc, self.api_key)
                    if _retryable(exc) and answer.attempts >= self.policy.max_attempts:
                        answer.error += f" (gave up after {answer.attempts} attempts)"
                    return answer
                self.sleep(self.policy.delay(answer.attempts, retry_after(exc), rng))
                if self.stop.is_set():
                    answer.error = f"{_describe(exc, self.api_key)} (interrupted before retrying)"
                    return answer
                continue
            answer.latency_s = time.perf_counter() - started
            choice = response.choices[0] if response.choices else None
            answer.text = (choice.message.content or "") if choice else ""
            answer.finish_reason = choice.finish_reason if choice else None
            if response.usage is not None:
                answer.tokens_in, answer.tokens_out = response.usage.prompt_tokens, response.usage.completion_tokens
            answer.cost = cost_of(self.target, answer.tokens_in, answer.tokens_out, prices=self.prices)
            return answer


@dataclass
class StreamStats:
    """One streamed answer: filled in by :func:`stream_answer` as chunks arrive and when the stream ends."""

    name: str = ""
    model: str = ""
    tokens_in: int | None = None
    tokens_out: int | None = None
    latency_s: float | None = None
    first_token_s: float | None = None
    cost: float | None = None
    text: str = ""
    finish_reason: str | None = None


def stream_answer(target: Target, messages: Sequence[Mapping[str, Any]], params: Params, stats: StreamStats, *,
                  api_key: str | None = None, timeout: float = 120.0) -> Iterator[str]:
    """Stream one answer as text chunks; ``stats`` holds tokens, latency and cost once the stream is exhausted."""
    import openai

    key = api_key if api_key is not None else api_key_for(target.profile)
    client = make_client(target.profile, api_key=key, timeout=timeout, max_retries=2)
    started = time.perf_counter()
    try:
        stream = client.chat.completions.create(model=target.model,
                                                messages=_with_system(messages, params.system_prompt), stream=True,
                                                stream_options={"include_usage": True}, **params.request())
        for chunk in stream:
            if chunk.usage is not None:
                stats.tokens_in, stats.tokens_out = chunk.usage.prompt_tokens, chunk.usage.completion_tokens
            for choice in chunk.choices:
                if choice.finish_reason:
                    stats.finish_reason = choice.finish_reason
                if choice.delta and choice.delta.content:
                    if stats.first_token_s is None:
                        stats.first_token_s = time.perf_counter() - started
                    stats.text += choice.delta.content
                    yield choice.delta.content
    except openai.OpenAIError as exc:
        raise CompareError(f"{target.name}: {_describe(exc, key)}") from None
    stats.latency_s = time.perf_counter() - started
    stats.cost = cost_of(target, stats.tokens_in, stats.tokens_out)


# ---------------------------------------------------------------------------------------------- runs


def _ensure_tables(workspace: Workspace) -> None:
    path = str(workspace.path.resolve())
    with _READY_LOCK:
        if path in _READY:
            return
        with workspace.transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
        _READY.add(path)


@dataclass(frozen=True)
class RunInfo:
    id: int
    key: str
    name: str
    targets: tuple[dict[str, Any], ...]
    params: dict[str, Any]
    source: str
    rows: int
    created_at: float

    @property
    def target_names(self) -> list[str]:
        return [t["name"] for t in self.targets]


def run_key(targets: Sequence[Target], params: Params, cases: Sequence[Case]) -> str:
    """What makes a run the same run: targets, parameters and the prompts with their references."""
    payload = json.dumps([[t.public() for t in targets], asdict(params),
                          [[list(c.messages), c.reference] for c in cases]], sort_keys=True, ensure_ascii=False,
                         default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def open_run(workspace: Workspace, targets: Sequence[Target], params: Params, cases: Sequence[Case], *,
             name: str = "", source: str = "") -> RunInfo:
    """The run for these targets, parameters and cases: the saved one (to resume) or a new one."""
    check_targets(targets)
    _ensure_tables(workspace)
    key = run_key(targets, params, cases)
    with workspace.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO compare_runs(key, name, targets, params, source, rows, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (key, name or source or "run", json.dumps([t.public() for t in targets]), json.dumps(asdict(params)),
             source, len(cases), time.time()))
        row = db.execute("SELECT * FROM compare_runs WHERE key=?", (key,)).fetchone()
    return _run_info(row)


def _run_info(row: Any) -> RunInfo:
    return RunInfo(id=row["id"], key=row["key"], name=row["name"], targets=tuple(json.loads(row["targets"])),
                   params=json.loads(row["params"]), source=row["source"], rows=row["rows"],
                   created_at=row["created_at"])


def list_runs(workspace: Workspace) -> list[RunInfo]:
    """Saved runs, newest first."""
    _ensure_tables(workspace)
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_runs ORDER BY id DESC").fetchall()
    return [_run_info(r) for r in rows]


def get_run(workspace: Workspace, run_id: int) -> RunInfo:
    _ensure_tables(workspace)
    with workspace.transaction() as db:
        row = db.execute("SELECT * FROM compare_runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        raise CompareError(f"no comparison run with id {run_id} in {workspace.path}")
    return _run_info(row)


def _done(workspace: Workspace, run_id: int) -> set[tuple[int, str]]:
    with workspace.transaction() as db:
        rows = db.execute("SELECT row_index, target FROM compare_results WHERE run_id=? AND error IS NULL",
                          (run_id,)).fetchall()
    return {(r["row_index"], r["target"]) for r in rows}


def _save(workspace: Workspace, run_id: int, case: Case, target: Target, messages: list[dict[str, Any]],
          answer: Answer) -> None:
    # A saved answer is never overwritten by a later error (a stale retry cannot undo a paid success).
    with workspace.transaction() as db:
        db.execute(
            "INSERT INTO compare_results(run_id, row_index, target, model, messages, prompt, reference, answer,"
            " tokens_in, tokens_out, latency_s, cost, error, attempts, finish_reason, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(run_id, row_index, target) DO UPDATE SET answer=excluded.answer,"
            " tokens_in=excluded.tokens_in, tokens_out=excluded.tokens_out, latency_s=excluded.latency_s,"
            " cost=excluded.cost, error=excluded.error, attempts=compare_results.attempts + excluded.attempts,"
            " finish_reason=excluded.finish_reason, updated_at=excluded.updated_at"
            " WHERE compare_results.error IS NOT NULL",
            (run_id, case.index, target.name, target.model, json.dumps(messages, ensure_ascii=False), case.prompt,
             case.reference, answer.text, answer.tokens_in, answer.tokens_out, answer.latency_s, answer.cost,
             answer.error, answer.attempts, answer.finish_reason, time.time()))


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    errors: int
    skipped: int


def run_compare(workspace: Workspace, run: RunInfo, targets: Sequence[Target], cases: Sequence[Case],
                params: Params, *, concurrency: int = 8, retry: RetryPolicy = RetryPolicy(),
                api_keys: Mapping[str, str] | None = None, prices: PriceMap | None = None,
                on_progress: Callable[[Progress], None] | None = None, stop: threading.Event | None = None,
                seed: int = 0, sleep: Callable[[float], Any] | None = None) -> pd.DataFrame:
    """Ask every target every case not yet answered in ``run``, saving each answer as it arrives.

    Returns :func:`load_results` of the run. ``on_progress`` is called from the calling thread. Setting
    ``stop`` lets in-flight requests finish (and be saved) and starts no new ones; an exception in the calling
    thread (Ctrl-C, a Streamlit rerun) does the same, and cuts retry waits short. ``sleep`` replaces the wait
    between attempts (tests record the delays with it).
    """
    if concurrency < 1:
        raise CompareError(f"concurrency must be at least 1, got {concurrency}")
    check_targets(targets)
    keys = api_keys or {}
    halt = threading.Event()
    if stop is not None and stop.is_set():
        halt.set()
    callers = {t.name: _Caller(t, keys.get(t.name), retry, params, prices, sleep or halt.wait, halt) for t in targets}
    done = _done(workspace, run.id)
    jobs = [(case, target) for case in cases for target in targets if (case.index, target.name) not in done]
    total, skipped = len(cases) * len(targets), len(cases) * len(targets) - len(jobs)
    errors = 0

    def work(case: Case, target: Target) -> Answer | None:
        if halt.is_set() or (stop is not None and stop.is_set()):
            halt.set()
            return None
        messages = _with_system(case.messages, params.system_prompt)
        rng = random.Random(f"{seed}:{case.index}:{target.name}")
        answer = callers[target.name].ask(messages, rng)
        _save(workspace, run.id, case, target, messages, answer)  # here, so a crash of the caller loses nothing
        return answer

    if on_progress:
        on_progress(Progress(skipped, total, 0, skipped))
    pool = ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(jobs))), thread_name_prefix="compare")
    try:
        futures = [pool.submit(work, case, target) for case, target in jobs]
        finished = skipped
        for future in as_completed(futures):
            answer = future.result()
            if answer is None:
                continue
            finished += 1
            errors += not answer.ok
            if on_progress:
                on_progress(Progress(finished, total, errors, skipped))
    except BaseException:
        halt.set()  # in-flight requests finish and are saved; queued ones are dropped, retry waits end
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return load_results(workspace, run.id, [t.name for t in targets])


def load_results(workspace: Workspace, run_id: int, targets: Sequence[str] | None = None) -> pd.DataFrame:
    """The run's saved rows, ordered by row then target (in ``targets`` order when given)."""
    _ensure_tables(workspace)
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_results WHERE run_id=? ORDER BY row_index", (run_id,)).fetchall()
    frame = pd.DataFrame([{c: r[c] for c in RESULT_COLUMNS} for r in rows], columns=list(RESULT_COLUMNS))
    frame = frame.astype({"answer": object, "error": object, "reference": object})
    frame = frame.where(frame.notna(), None)
    order = list(targets) if targets is not None else list(dict.fromkeys(frame["target"]))
    rank = {name: i for i, name in enumerate(order)}
    frame = frame[frame["target"].isin(rank)]
    frame = frame.assign(_rank=frame["target"].map(rank)).sort_values(["row_index", "_rank"], kind="stable")
    return frame.drop(columns="_rank").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------- blind A/B


def ab_sides(run_id: int, row_index: int, pair: tuple[str, str], *, seed: int = 0) -> tuple[str, str]:
    """(left, right) target names for a row: a seeded coin flip, the same every time it is asked."""
    first, second = sorted(pair)
    flip = random.Random(f"{seed}:{run_id}:{row_index}:{first}:{second}").random() < 0.5
    return (second, first) if flip else (first, second)


def record_vote(workspace: Workspace, run_id: int, row_index: int, left: str, right: str, vote: Vote) -> str:
    """Store a vote (a later vote on the same row and pair replaces it); returns the winner's name or the outcome."""
    if vote not in VOTES:
        raise CompareError(f"unknown vote {vote!r}; use one of {', '.join(VOTES)}")
    _ensure_tables(workspace)
    with workspace.transaction() as db:
        db.execute("DELETE FROM compare_votes WHERE run_id=? AND row_index=? AND"
                   " ((left_target=? AND right_target=?) OR (left_target=? AND right_target=?))",
                   (run_id, row_index, left, right, right, left))
        db.execute("INSERT INTO compare_votes(run_id, row_index, left_target, right_target, vote, created_at)"
                   " VALUES (?, ?, ?, ?, ?, ?)", (run_id, row_index, left, right, vote, time.time()))
    return _winner(left, right, vote)


def _winner(left: str, right: str, vote: str) -> str:
    return {"A": left, "B": right}.get(vote, vote)


def load_votes(workspace: Workspace, run_id: int, pair: tuple[str, str] | None = None) -> pd.DataFrame:
    """Votes of a run (of one pair when given): row, left, right, vote, winner."""
    _ensure_tables(workspace)
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_votes WHERE run_id=? ORDER BY created_at", (run_id,)).fetchall()
    frame = pd.DataFrame([{"row_index": r["row_index"], "left": r["left_target"], "right": r["right_target"],
                           "vote": r["vote"], "winner": _winner(r["left_target"], r["right_target"], r["vote"])}
                          for r in rows], columns=["row_index", "left", "right", "vote", "winner"])
    if pair is not None:
        frame = frame[frame.apply(lambda r: {r["left"], r["right"]} == set(pair), axis=1)] if len(frame) else frame
    return frame.reset_index(drop=True)


@dataclass(frozen=True)
class Ballot:
    """The next blind comparison to vote on: the prompt and two answers whose targets stay hidden until the vote."""

    row_index: int
    prompt: str
    left: str
    right: str
    left_answer: str
    right_answer: str


def next_ballot(results: pd.DataFrame, votes: pd.DataFrame, run_id: int, pair: tuple[str, str], *,
                seed: int = 0) -> Ballot | None:
    """The first unvoted row of ``pair``, its sides chosen by :func:`ab_sides`; None when every row has a vote."""
    row = next_unvoted(results, votes, pair)
    if row is None:
        return None
    left, right = ab_sides(run_id, row, pair, seed=seed)
    answers = results[results["row_index"] == row].set_index("target")
    return Ballot(row, answers["prompt"].iloc[0], left, right, answers.loc[left, "answer"],
                  answers.loc[right, "answer"])


def next_unvoted(results: pd.DataFrame, votes: pd.DataFrame, pair: tuple[str, str]) -> int | None:
    """The first row where both targets answered and no vote on this pair exists yet."""
    answered = results[results["target"].isin(pair) & results["error"].isna()]
    both = answered.groupby("row_index")["target"].nunique()
    voted = set(votes["row_index"]) if len(votes) else set()
    for row_index in both[both == 2].index:
        if int(row_index) not in voted:
            return int(row_index)
    return None


# ---------------------------------------------------------------------------------------------- export, reuse


def export_results(frame: pd.DataFrame, fmt: Literal["csv", "jsonl"]) -> bytes:
    """Results as CSV (formula-looking cells neutralised for spreadsheets) or JSONL (one object per row)."""
    if fmt == "jsonl":
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records).encode()
    if fmt == "csv":
        from studio.data.io import neutralise_formula

        # CRLF, as studio.data.io's exporter: with "\n" a lone "\r" went out unquoted, split the row in a spreadsheet and
        # put the rest of the cell ("=...") at the start of a new row, past the formula guard.
        return frame.map(neutralise_formula).to_csv(index=False, lineterminator="\r\n").encode()
    raise CompareError(f"unknown export format {fmt!r}; use csv or jsonl")


def usage_snippets(target: Target) -> dict[str, str]:
    """Code that calls ``target`` with its base URL: openai SDK, LangChain ``ChatOpenAI``, curl (no keys in them)."""
    profile, model = target.profile, target.model
    if profile.kind == "azure":
        env = "AZURE_OPENAI_API_KEY"
        python = (f"import os\nfrom openai import AzureOpenAI\n\nclient = AzureOpenAI(\n"
                  f"    azure_endpoint={profile.base_url!r},\n    api_version={profile.api_version!r},\n"
                  f"    api_key=os.environ[{env!r}],\n)\nresponse = client.chat.completions.create(\n"
                  f"    model={model!r},\n    messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}],\n)\n"
                  "print(response.choices[0].message.content)\n")
        langchain = (f"from langchain_openai import AzureChatOpenAI\n\nllm = AzureChatOpenAI(\n"
                     f"    azure_endpoint={profile.base_url!r},\n    api_version={profile.api_version!r},\n"
                     f"    azure_deployment={model!r},\n)  # reads {env}\nprint(llm.invoke(\"Hello\").content)\n")
        url = (f"{profile.base_url.rstrip('/')}/openai/deployments/{model}/chat/completions"
               f"?api-version={profile.api_version}")
        curl = (f"curl {url!s} \\\n  -H \"api-key: ${env}\" \\\n  -H \"Content-Type: application/json\" \\\n"
                f"  -d '{json.dumps({'messages': [{'role': 'user', 'content': 'Hello'}]})}'\n")
        return {"python": python, "langchain": langchain, "curl": curl}
    base_url = profile.url
    env = "STUDIO_ENGINE_KEY" if profile.kind == "local" else "OPENAI_API_KEY"
    key_expr = f"os.environ.get({env!r}, 'local-engine')" if profile.kind == "local" else f"os.environ[{env!r}]"
    python = (f"import os\nfrom openai import OpenAI\n\nclient = OpenAI(base_url={base_url!r}, api_key={key_expr})\n"
              f"response = client.chat.completions.create(\n    model={model!r},\n"
              f"    messages=[{{\"role\": \"user\", \"content\": \"Hello\"}}],\n)\n"
              "print(response.choices[0].message.content)\n")
    langchain = (f"import os\nfrom langchain_openai import ChatOpenAI\n\n"
                 f"llm = ChatOpenAI(model={model!r}, base_url={base_url!r}, api_key={key_expr})\n"
                 "print(llm.invoke(\"Hello\").content)\n")
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}]})
    curl = (f"curl {base_url}/chat/completions \\\n  -H \"Authorization: Bearer ${env}\" \\\n"
            f"  -H \"Content-Type: application/json\" \\\n  -d '{body}'\n")
    return {"python": python, "langchain": langchain, "curl": curl}


# ---------------------------------------------------------------------------------------------- display


_MARKDOWN_SPECIAL = set("\\`*_{}[]()<>#+-.!|~=$:&")


def escape_markdown(text: str) -> str:
    """Text that Streamlit's markdown shows literally (character by character, so it is safe on stream chunks)."""
    return "".join("  \n" if c == "\n" else f"\\{c}" if c in _MARKDOWN_SPECIAL else c for c in text)


def diff_words(a: str, b: str) -> list[tuple[Literal["same", "del", "add"], str]]:
    """Word-level differences from ``a`` to ``b`` as (op, text) runs."""
    import difflib

    left, right = a.split(), b.split()
    out: list[tuple[Literal["same", "del", "add"], str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", " ".join(left[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(left[i1:i2])))
        if j2 > j1:
            out.append(("add", " ".join(right[j1:j2])))
    return out


def diff_markdown(a: str, b: str) -> str:
    """The word diff as escaped markdown: removed words struck through in red, added words in green."""
    parts = []
    for op, text in diff_words(a, b):
        escaped = escape_markdown(text)
        parts.append(escaped if op == "same" else f":red-background[~~{escaped}~~]" if op == "del"
                     else f":green-background[{escaped}]")
    return " ".join(parts)
