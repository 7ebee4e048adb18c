"""The Playground's public names in one place: run 2-4 targets over one prompt or a test set, vote blind A/B.

Each name lives in the module of its job; this module only gathers them for callers that want one import:

- :mod:`~studio.playground.targets` — targets (provider profile + model), code snippets that call one
- :mod:`~studio.playground.cases` — test sets as cases
- :mod:`~studio.playground.answers` — generation parameters, one request (retried), a stream, all targets' streams at
  once
- :mod:`~studio.playground.chat` — the chat with every target, each with its own history
- :mod:`~studio.playground.costs` — what an answer cost
- :mod:`~studio.playground.runs` — runs: concurrency, saved results, resume, export
- :mod:`~studio.playground.votes` — blind A/B votes
- :mod:`~studio.playground.metrics` — scores, aggregates, word diffs

Retries follow the one provider policy, :class:`studio.providers.retry.RetryPolicy`.
"""

from studio.playground.answers import Answer, Params, StreamEvent, StreamStats, stream_answer, stream_side_by_side
from studio.playground.cases import (
    Case,
    TestSetVersion,
    cases_from_frame,
    load_cases,
    parse_tools,
    version_cases,
    workspace_test_sets,
)
from studio.playground.chat import ChatTurn, conversation, pending_calls
from studio.playground.costs import PriceMap, cost_of
from studio.playground.metrics import diff_words
from studio.playground.runs import (
    RESULT_COLUMNS,
    Progress,
    RunInfo,
    export_results,
    get_run,
    list_runs,
    load_results,
    open_run,
    run_compare,
    run_key,
)
from studio.playground.targets import (
    DEFAULT_AZURE_API_VERSION,
    MAX_TARGETS,
    MIN_TARGETS,
    CompareError,
    Target,
    build_target,
    check_targets,
    default_model_index,
    list_models,
    parse_target,
    target_from_public,
    targets_from_form,
    usage_snippets,
)
from studio.playground.votes import (
    VOTES,
    Ballot,
    Vote,
    ab_sides,
    load_votes,
    next_ballot,
    next_unvoted,
    record_vote,
)
from studio.providers.retry import RetryPolicy

__all__ = [
    "DEFAULT_AZURE_API_VERSION",
    "MAX_TARGETS",
    "MIN_TARGETS",
    "RESULT_COLUMNS",
    "VOTES",
    "Answer",
    "Ballot",
    "Case",
    "ChatTurn",
    "CompareError",
    "Params",
    "PriceMap",
    "Progress",
    "RetryPolicy",
    "RunInfo",
    "StreamEvent",
    "StreamStats",
    "Target",
    "TestSetVersion",
    "Vote",
    "ab_sides",
    "build_target",
    "cases_from_frame",
    "check_targets",
    "conversation",
    "cost_of",
    "default_model_index",
    "diff_words",
    "export_results",
    "get_run",
    "list_models",
    "list_runs",
    "load_cases",
    "load_results",
    "load_votes",
    "next_ballot",
    "next_unvoted",
    "open_run",
    "parse_target",
    "parse_tools",
    "pending_calls",
    "record_vote",
    "run_compare",
    "run_key",
    "stream_answer",
    "stream_side_by_side",
    "target_from_public",
    "targets_from_form",
    "usage_snippets",
    "version_cases",
    "workspace_test_sets",
]
