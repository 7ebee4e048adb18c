"""The Playground page's three tabs: one prompt streamed side by side, a test set over every target, blind A/B
votes. (The target preset widgets live in ``ui/playground.py``.)"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import altair as alt
import streamlit as st

from studio.errors import StudioError
from studio.i18n import Translator
from studio.playground import compare
from studio.playground.metrics import aggregate, disagreements, score_rows, side_by_side, win_rate
from studio.storage.workspace import Workspace
from ui.frame import show_errors
from ui.playground import diff_markdown, escape_markdown

# The results table as files: (format, MIME type).
_DOWNLOADS: tuple[tuple[Literal["csv", "jsonl"], str], ...] = (("csv", "text/csv"), ("jsonl", "application/jsonl"))

CHART_METRICS = ("similarity", "exact_match", "contains", "regex", "latency_p50", "latency_p95", "cost", "errors")
_RUN_ID = "pg_run_id"  # the run the A/B tab votes on (widget keys vanish off the page)


def show(text: str | None) -> None:
    """Model output as Markdown text: escaped, never HTML."""
    st.markdown(escape_markdown(text or ""))


def single_tab(
    targets: list[compare.Target], params: compare.Params, api_key: str | None, *, disabled: bool, tr: Translator
) -> None:
    """One prompt: answers stream side by side, with tokens, latency and cost, and a word diff of two answers."""
    prompt = st.text_area(tr("playground.prompt"), key="pg_prompt")
    run_now = st.button(
        tr("playground.run"), key="pg_run_single", type="primary", disabled=disabled or not prompt.strip()
    )
    st.session_state["pg_single"] = [] if run_now else st.session_state.get("pg_single", [])
    shown = targets if run_now else st.session_state["pg_single"]
    # One column even when nothing is shown yet (st.columns needs one): the spare column stays empty.
    for column, item in zip(st.columns(max(len(shown), 1)), shown, strict=False):
        with column:
            st.markdown(f"**{escape_markdown(item.name)}** · `{item.model}`")
            if run_now:
                stats = compare.StreamStats(item.name, item.model)
                try:
                    st.write_stream(
                        escape_markdown(chunk)
                        for chunk in compare.stream_answer(
                            item, [{"role": "user", "content": prompt}], params, stats, api_key=api_key
                        )
                    )
                except StudioError as exc:
                    st.error(str(exc))
                    continue
                st.session_state["pg_single"].append(item := stats)
            else:
                show(item.text)
            cost = {None: tr("playground.unknown_cost"), 0: tr("playground.free")}.get(item.cost, f"${item.cost:.6f}")
            st.caption(tr("playground.stats", tokens=item.tokens_out, latency=f"{item.latency_s:.2f}", cost=cost))
    answers = {a.name: a.text for a in st.session_state.get("pg_single", [])}
    if len(answers) >= 2 and st.toggle(tr("playground.highlight"), key="pg_diff"):
        first, *others = answers
        other = st.selectbox(tr("playground.compare_with"), others, key="pg_diff_with")
        st.caption(tr("playground.diff_between", a=first, b=other))
        st.markdown(diff_markdown(answers[first], answers[other]))


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
    """Every target over every prompt of a test set (saved row by row), then scores, charts and downloads."""
    source = st.radio(
        tr("playground.source"),
        (["sample"] if sample.exists() else []) + ["upload"],
        key="pg_source",
        horizontal=True,
        format_func=lambda s: tr(f"playground.source_{s}"),
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
            key="pg_run_pick",
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
    st.dataframe(summary, hide_index=True)
    metric = st.selectbox(tr("playground.chart_metric"), CHART_METRICS, key="pg_chart")
    st.altair_chart(
        alt.Chart(summary)
        .mark_bar()
        .encode(x=alt.X("target:N", sort=None), y=f"{metric}:Q", color="target:N", tooltip=["target", metric])
    )
    table = side_by_side(scored, chosen.target_names)
    shown = (
        table[table["row_index"].isin(disagreements(scored))]
        if st.checkbox(tr("playground.disagree_only"), key="pg_disagree")
        else table
    )
    st.caption(tr("playground.rows_shown", n=len(shown), total=len(table)))
    st.dataframe(shown, hide_index=True)
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
        for kind, code in compare.usage_snippets(compare.target_from_public(pick)).items():
            st.code(code, language="bash" if kind == "curl" else "python")


def _cast_vote(
    workspace: Workspace, run_id: int, row: int, left: str, right: str, vote: compare.Vote, tr: Translator
) -> None:
    compare.record_vote(workspace, run_id, row, left, right, vote)  # a callback: stored before the panel redraws
    st.session_state["pg_revealed"] = tr(
        "playground.revealed",
        vote=tr(f"playground.vote_{vote.lower()}"),
        left=escape_markdown(left),
        right=escape_markdown(right),
    )


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
        st.success(st.session_state["pg_revealed"])
    results = compare.load_results(workspace, run.id, run.target_names)
    votes = compare.load_votes(workspace, run.id, pair)
    ballot = compare.next_ballot(results, votes, run.id, pair)
    if ballot is None:
        st.success(tr("playground.all_voted"))
    else:
        st.caption(tr("playground.row_of", row=ballot.row_index + 1))
        show(ballot.prompt)
        sides = (("left", ballot.left_answer), ("right", ballot.right_answer))
        for column, (label, answer) in zip(st.columns(2), sides, strict=True):
            with column.container(border=True):
                st.markdown(f"**{tr('playground.' + label)}**")
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
    show(
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
