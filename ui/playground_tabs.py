"""The Playground page's three tabs: a chat streamed side by side (every target at once), a test set over every
target, blind A/B votes. (The target preset widgets live in ``ui/playground.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import altair as alt
import streamlit as st

from studio.core.chat import tool_call_summary
from studio.cost.estimate import format_usd
from studio.errors import StudioError
from studio.i18n import Translator
from studio.playground import compare
from studio.playground.cases import parse_tools
from studio.playground.chat import ChatTurn, conversation, pending_calls
from studio.playground.metrics import (
    TOOL_METRIC_KEYS,
    aggregate,
    disagreements,
    score_rows,
    side_by_side,
    win_rate,
    word_diff,
)
from studio.storage.workspace import Workspace
from ui.frame import kept_choice, show_errors
from ui.markdown import escape_markdown
from ui.playground import (
    answer_markdown,
    diff_markdown,
    metric_axis,
    number_columns,
    usage_code,
)

# The results table as files: (format, MIME type).
_DOWNLOADS: tuple[tuple[Literal["csv", "jsonl"], str], ...] = (("csv", "text/csv"), ("jsonl", "application/jsonl"))

CHART_METRICS = (
    "similarity",
    "exact_match",
    "contains",
    "regex",
    *TOOL_METRIC_KEYS,
    "latency_p50",
    "latency_p95",
    "cost",
    "errors",
)
TOOLS_EXAMPLE = (
    '[{"type": "function", "function": {"name": "get_weather", '
    '"parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]'
)
_RUN_ID = "pg_run_id"  # the run the A/B tab votes on (widget keys vanish off the page)


def show(text: str | None) -> None:
    """A prompt or a model's answer as the markdown it is (lists, bold, code), never HTML (:func:`answer_markdown`)."""
    st.markdown(answer_markdown(text or ""))


_CHAT = "pg_chat"  # {"key": the targets' identity, "turns": [ChatTurn, ...]}


def _stats_caption(reply: compare.StreamStats, tr: Translator) -> str:
    cost = (
        tr("playground.unknown_cost")
        if reply.cost is None
        else tr("playground.free")
        if reply.cost == 0
        else format_usd(reply.cost)
    )
    latency = "–" if reply.latency_s is None else f"{reply.latency_s:.2f}"
    tokens = "–" if reply.tokens_out is None else reply.tokens_out  # a server that did not say: no number
    return tr.plural("playground.stats", reply.tokens_out or 0, tokens=tokens, latency=latency, cost=cost)


def _show_reply(reply: compare.StreamStats | str, tr: Translator) -> None:
    if isinstance(reply, str):
        st.error(reply)
        return
    show(reply.text)
    if reply.tool_calls:
        st.code(tool_call_summary({"tool_calls": reply.tool_calls}, limit=2000), language=None)
    st.caption(_stats_caption(reply, tr))


def chat_tab(
    targets: list[compare.Target], params: compare.Params, api_key: str | None, *, disabled: bool, tr: Translator
) -> None:
    """A chat with every target at once: each message streams to all of them in parallel (one thread each; this
    script thread draws the chunks), each target keeps its own history, optional tools typed as JSON."""
    tools_text = st.text_area(tr("playground.tools"), key="pg_tools", placeholder=TOOLS_EXAMPLE, height=100)
    try:
        tools, tools_error = parse_tools(tools_text), None
    except StudioError as exc:
        tools, tools_error = [], str(exc)
        st.error(tools_error)
    identity = [t.public() for t in targets]
    chat = st.session_state.get(_CHAT)
    restart = st.button(tr("playground.new_chat"), key="pg_new_chat")
    if restart or chat is None or chat["key"] != identity:
        chat = st.session_state[_CHAT] = {"key": identity, "turns": []}
    turns: list[ChatTurn] = chat["turns"]
    text = st.chat_input(tr("playground.message"), key="pg_message", disabled=disabled or bool(tools_error))
    if not targets:
        return
    columns = st.columns(len(targets))
    for i, (column, target) in enumerate(zip(columns, targets, strict=True)):
        with column:
            st.markdown(f"**{escape_markdown(target.name)}** · `{target.model}`")
            for turn in turns:
                with st.chat_message("user"):
                    show(turn.text)
                with st.chat_message("assistant"):
                    _show_reply(turn.replies[i], tr)
            if pending_calls(turns, i) and not text:
                st.caption(tr("playground.tool_result_next"))
    if text:
        _stream_turn(targets, columns, turns, text, params, api_key, tools, tr)
    last = turns[-1].replies if turns else []
    replies = {t.name: r.text for t, r in zip(targets, last, strict=False) if not isinstance(r, str)}
    if len(replies) >= 2 and st.toggle(tr("playground.highlight"), key="pg_diff"):
        first, *others = replies
        other = st.selectbox(tr("playground.compare_with"), others, key="pg_diff_with")
        diff = word_diff(replies[first] or "", replies[other] or "")
        if diff.identical:
            st.info(tr("playground.diff_same", a=first, b=other))
        elif not diff.helps:  # a word diff of unrelated answers is a wall of strikethrough
            st.info(tr("playground.diff_unrelated", a=first, b=other, shared=f"{diff.shared:.0%}"))
        else:
            st.caption(tr("playground.diff_shared", a=first, b=other, shared=f"{diff.shared:.0%}"))
            st.markdown(diff_markdown(diff))


def _stream_turn(
    targets: list[compare.Target],
    columns: list[Any],
    turns: list[ChatTurn],
    text: str,
    params: compare.Params,
    api_key: str | None,
    tools: list[dict[str, Any]],
    tr: Translator,
) -> None:
    """Send ``text`` to every target at once and draw each stream in its column as its chunks arrive."""
    conversations = [conversation(turns, i, text) for i in range(len(targets))]
    stats = [compare.StreamStats(t.name, t.model) for t in targets]
    boxes = []
    for column in columns:
        with column:
            with st.chat_message("user"):
                show(text)
            boxes.append(st.chat_message("assistant").empty())
    shown = [""] * len(targets)
    replies: list[compare.StreamStats | str] = list(stats)
    options = {"tools": tools} if tools else None
    for event in compare.stream_side_by_side(targets, conversations, params, stats, api_key=api_key, options=options):
        box = boxes[event.target]
        if event.kind == "text":
            shown[event.target] += event.text
            box.markdown(answer_markdown(shown[event.target]))
        elif event.kind == "error":
            replies[event.target] = event.text
            box.error(event.text)
        else:
            with box.container():
                _show_reply(stats[event.target], tr)
    turns.append(ChatTurn(text, replies))


def set_tab(
    workspace: Workspace,
    targets: list[compare.Target],
    params: compare.Params,
    api_key: str | None,
    sample: Path,
    *,
    disabled: bool,
    tr: Translator,
) -> None:
    """Every target over every prompt of a test set (a workspace version, saved test splits first; the sample; an
    upload), saved row by row, then scores, charts and downloads."""
    saved = compare.workspace_test_sets(workspace)
    source = st.radio(
        tr("playground.source"),
        (["workspace"] if saved else []) + (["sample"] if sample.exists() else []) + ["upload"],
        key=kept_choice("pg_source"),
        horizontal=True,
        format_func=lambda s: tr(f"playground.source_{s}"),
    )
    version = (
        saved[
            st.selectbox(
                tr("playground.version"),
                range(len(saved)),
                key="pg_version",
                format_func=lambda i: saved[i].label,
                help=tr("playground.version_help"),
            )
        ]
        if source == "workspace"
        else None
    )
    upload = (
        st.file_uploader(tr("playground.upload"), type=["jsonl", "json", "csv", "parquet", "xlsx"], key="pg_upload")
        if source == "upload"
        else None
    )
    concurrency = int(st.number_input(tr("playground.concurrency"), 1, 64, 8, key="pg_concurrency"))
    if st.button(
        tr("playground.run_set"),
        key="pg_run_set",
        type="primary",
        disabled=disabled or (source == "upload" and upload is None),
    ):
        with show_errors():
            if version is not None:
                name, cases = version.label, compare.version_cases(workspace, version.version.id)
            else:
                name, data = (upload.name, upload.getvalue()) if upload else (sample.name, sample.read_bytes())
                cases = compare.load_cases(name, data=data)
            run = compare.open_run(workspace, targets, params, cases, source=name)
            bar = st.progress(0.0)
            compare.run_compare(
                workspace,
                run,
                targets,
                cases,
                params,
                concurrency=concurrency,
                api_keys={t.name: api_key for t in targets if api_key},
                on_progress=lambda p: bar.progress(
                    p.done / max(p.total, 1),
                    text=tr("playground.progress", done=p.done, total=p.total, errors=p.errors, skipped=p.skipped),
                ),
            )
            st.session_state["pg_run_pick"] = run.id  # show the run just made
    runs = {r.id: r for r in compare.list_runs(workspace)}
    if not runs:
        st.info(tr("playground.no_runs"))
        return
    chosen = runs[
        st.selectbox(
            tr("playground.saved_runs"),
            list(runs),
            key=kept_choice("pg_run_pick"),
            format_func=lambda i: tr(
                "playground.run_label",
                id=i,
                name=runs[i].name,
                rows=runs[i].rows,
                targets=" / ".join(runs[i].target_names),
            ),
        )
    ]
    st.session_state[_RUN_ID] = chosen.id
    left, right = st.columns(2)
    substring = left.text_input(tr("playground.contains"), key="pg_contains") or None
    pattern = right.text_input(tr("playground.regex"), key="pg_regex") or None
    results = compare.load_results(workspace, chosen.id, chosen.target_names)
    try:
        scored = score_rows(results, pattern=pattern, substring=substring)
    except StudioError as exc:  # a bad pattern: scored without it
        st.error(str(exc))
        scored = score_rows(results, substring=substring)
    summary = aggregate(scored, chosen.target_names)
    st.subheader(tr("playground.aggregates"))
    partial = summary[summary["errors"] > 0]
    if len(partial):
        st.warning(
            tr("playground.partial", scored=", ".join(f"{t}: {n}" for t, n in partial[["target", "scored"]].values))
        )
    st.dataframe(tr.columns(summary), hide_index=True, column_config=number_columns(summary.columns, tr))
    metric = st.selectbox(
        tr("playground.chart_metric"),
        CHART_METRICS,
        key=kept_choice("pg_chart"),
        format_func=lambda m: tr.label("columns", m),
    )
    axis_format, axis_title = metric_axis(metric, tr)
    st.altair_chart(
        alt.Chart(summary)
        .mark_bar()
        .encode(
            x=alt.X("target:N", sort=None, title=tr.label("columns", "target")),
            y=alt.Y(f"{metric}:Q", title=axis_title, axis=alt.Axis(format=axis_format)),
            color=alt.Color("target:N", title=tr.label("columns", "target")),
            tooltip=["target", alt.Tooltip(f"{metric}:Q", format=axis_format)],
        )
    )
    table = side_by_side(scored, chosen.target_names)
    shown = (
        table[table["row_index"].isin(disagreements(scored))]
        if st.checkbox(tr("playground.disagree_only"), key="pg_disagree")
        else table
    )
    st.caption(tr("playground.rows_shown", n=len(shown), total=len(table)))
    st.dataframe(tr.columns(shown), hide_index=True, column_config=number_columns(shown.columns, tr))
    for column, (fmt, mime) in zip(st.columns(2), _DOWNLOADS, strict=True):
        column.download_button(
            tr(f"playground.download_{fmt}"),
            compare.export_results(scored, fmt),
            f"{Path(chosen.source).stem}-compare.{fmt}",
            mime,
            key=f"pg_dl_{fmt}",
        )
    with st.expander(tr("playground.use_model")):
        pick = st.selectbox(
            tr("playground.use_target"),
            chosen.targets,
            index=len(chosen.targets) - 1,
            key="pg_use",
            format_func=lambda t: f"{t['name']} · {t['model']}",
        )
        usage_code(compare.target_from_public(pick), tr)


def _cast_vote(
    workspace: Workspace, run_id: int, row: int, left: str, right: str, vote: compare.Vote, tr: Translator
) -> None:
    compare.record_vote(workspace, run_id, row, left, right, vote)  # a callback: stored before the panel redraws
    st.session_state["pg_revealed"] = (vote, left, right)  # worded when shown: in the language of that moment


@st.fragment
def vote_panel(workspace: Workspace, tr: Translator) -> None:
    """Blind A/B on the run picked in the test-set tab: hidden names, seeded sides, votes in the workspace."""
    run_id = st.session_state.get(_RUN_ID)
    run = {r.id: r for r in compare.list_runs(workspace)}.get(run_id) if run_id is not None else None
    if run is None:
        st.info(tr("playground.no_runs"))
        return
    pair = tuple(
        st.multiselect(
            tr("playground.pick_pair"), run.target_names, run.target_names[:2], max_selections=2, key="pg_ab_pair"
        )
    )
    if len(pair) != 2:
        st.warning(tr("playground.same_pair"))
        return
    if st.session_state.get("pg_revealed"):
        vote, left, right = st.session_state["pg_revealed"]
        st.success(
            tr(
                "playground.revealed",
                vote=tr(f"playground.vote_{vote.lower()}"),
                left=escape_markdown(left),
                right=escape_markdown(right),
            )
        )
    results = compare.load_results(workspace, run.id, run.target_names)
    votes = compare.load_votes(workspace, run.id, pair)
    ballot = compare.next_ballot(results, votes, run.id, pair)
    if ballot is None:
        st.success(tr("playground.all_voted"))
    else:
        st.caption(tr("playground.row_of", row=ballot.row_index + 1))
        with st.container(key="data-ballot-prompt"):  # "data-" keys: dataset text and model output, not UI
            show(ballot.prompt)
        sides = (("left", ballot.left_answer), ("right", ballot.right_answer))
        for column, (label, answer) in zip(st.columns(2), sides, strict=True):
            with column.container(border=True):
                st.markdown(f"**{tr('playground.' + label)}**")
                with st.container(key=f"data-ballot-{label}"):
                    show(answer)
        for column, vote in zip(st.columns(4), compare.VOTES, strict=True):
            column.button(
                tr(f"playground.vote_{vote.lower()}"),
                key=f"pg_vote_{vote}",
                width="stretch",
                on_click=_cast_vote,
                args=(workspace, run.id, ballot.row_index, ballot.left, ballot.right, vote, tr),
            )
    if not len(votes):
        st.caption(tr("playground.no_votes"))
        return
    rate = win_rate(votes["winner"].tolist(), pair[1], pair[0])
    st.markdown(
        escape_markdown(
            tr(
                "playground.win_rate",
                target=pair[1],
                other=pair[0],
                n=rate.votes,
                ties=rate.ties,
                bad=rate.both_bad,
                rate="–" if rate.rate is None else f"{rate.rate:.0%}",
                low=f"{rate.low:.0%}",
                high=f"{rate.high:.0%}",
            )
        )
    )
