"""Playground: 2-4 targets side by side on one prompt, a test set, or blind A/B votes."""

from pathlib import Path

import altair as alt
import streamlit as st

from studio.playground import compare
from studio.errors import StudioError
from studio.i18n import LANGUAGE_NAMES, LANGUAGES, translator
from studio.playground.metrics import aggregate, disagreements, score_rows, side_by_side, win_rate
from studio.providers.profiles import PROVIDER_KINDS, Profile, engine_url
from studio.storage.workspace import SAMPLE_DIR, Workspace

st.set_page_config(page_title="Playground · Fine-Tuning Studio", page_icon="🛠️", layout="wide")
lang = st.sidebar.radio("Language · Idioma", LANGUAGES, format_func=LANGUAGE_NAMES.get,
                        index=LANGUAGES.index(st.session_state.get("lang", "en")), horizontal=True)
st.session_state["lang"] = lang
tr = translator(lang)
SAMPLE = SAMPLE_DIR / "style_demo_test.jsonl"
CHART_METRICS = ("similarity", "exact_match", "contains", "regex", "latency_p50", "latency_p95", "cost", "errors")


@st.cache_data(ttl=30, show_spinner=False)
def models_for(kind: str, url: str | None, _key: str | None) -> list[str]:
    try:
        return compare.list_models(Profile(kind, base_url=url), api_key=_key) if kind != "azure" else []
    except StudioError:
        return []


def show(text: str | None) -> None:
    st.markdown(compare.escape_markdown(text or ""))  # model output is data: escaped, never HTML


st.title(tr("playground.title"))
st.caption(tr("playground.intro"))
workspace = Workspace()

# -- targets and parameters (sidebar) --------------------------------------------------------------------
side = st.sidebar
api_key = side.text_input(tr("playground.api_key"), type="password", key="pg_api_key") or None
st.session_state.update(compare.preset_widgets(st.session_state.pop("playground_targets", None) or []))
rows = []
count = side.number_input(tr("playground.target_count"), compare.MIN_TARGETS, compare.MAX_TARGETS, key="pg_count")
for i in range(int(count)):
    box = side.expander(tr("playground.target", n=i + 1), expanded=i < 2)
    kind = box.selectbox(tr("playground.provider"), PROVIDER_KINDS, key=f"pg_kind_{i}")
    url = box.text_input(tr("playground.endpoint"), key=f"pg_url_{i}") if kind in ("compatible", "azure") else None
    listed = models_for(kind, url or (engine_url() if kind == "local" else None), api_key)
    model = (box.selectbox(tr("playground.model"), listed, index=min(i, len(listed) - 1), key=f"pg_model_{i}",
                           accept_new_options=True) if listed
             else box.text_input(tr("playground.model"), key=f"pg_model_text_{i}"))
    name = box.text_input(tr("playground.name"), ("base", "fine-tuned", "target 3", "target 4")[i], key=f"pg_name_{i}")
    rows.append((name, kind, model or "", url))
try:
    targets, target_error = compare.targets_from_form(rows), None
except StudioError as exc:
    targets, target_error = [], str(exc)
    st.error(target_error)
side.subheader(tr("playground.params"))
params = compare.Params(system_prompt=side.text_area(tr("playground.system_prompt"), key="pg_system"),
                temperature=side.slider(tr("playground.temperature"), 0.0, 2.0, 0.0, 0.1, key="pg_temperature"),
                top_p=side.slider(tr("playground.top_p"), 0.05, 1.0, 1.0, 0.05, key="pg_top_p"),
                max_tokens=int(side.number_input(tr("playground.max_tokens"), 1, 32768, 256, key="pg_max_tokens")),
                seed=side.number_input(tr("playground.seed"), value=None, step=1, key="pg_seed"))

single, test_set, blind = st.tabs([tr("playground.tab_single"), tr("playground.tab_set"), tr("playground.tab_ab")])

# -- single prompt: answers stream side by side -----------------------------------------------------------
with single:
    prompt = st.text_area(tr("playground.prompt"), key="pg_prompt")
    run_now = st.button(tr("playground.run"), key="pg_run_single", type="primary",
                        disabled=bool(target_error) or not prompt.strip())
    st.session_state["pg_single"] = [] if run_now else st.session_state.get("pg_single", [])
    shown = targets if run_now else st.session_state["pg_single"]
    for column, item in zip(st.columns(max(len(shown), 1)), shown):
        with column:
            st.markdown(f"**{compare.escape_markdown(item.name)}** · `{item.model}`")
            if run_now:
                stats = compare.StreamStats(item.name, item.model)
                try:
                    st.write_stream(compare.escape_markdown(chunk) for chunk in compare.stream_answer(
                        item, [{"role": "user", "content": prompt}], params, stats, api_key=api_key))
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
        st.markdown(compare.diff_markdown(answers[first], answers[other]))

# -- test set: every target over every prompt, saved row by row -------------------------------------------
with test_set:
    source = st.radio(tr("playground.source"), (["sample"] if SAMPLE.exists() else []) + ["upload"], key="pg_source",
                      horizontal=True, format_func=lambda s: tr(f"playground.source_{s}"))
    upload = st.file_uploader(tr("playground.upload"), type=["jsonl", "json", "csv", "parquet", "xlsx"],
                              key="pg_upload") if source == "upload" else None
    concurrency = int(st.number_input(tr("playground.concurrency"), 1, 64, 8, key="pg_concurrency"))
    if st.button(tr("playground.run_set"), key="pg_run_set", type="primary",
                 disabled=bool(target_error) or (source == "upload" and upload is None)):
        try:
            name, data = (upload.name, upload.getvalue()) if upload else (SAMPLE.name, SAMPLE.read_bytes())
            cases = compare.load_cases(name, data=data)
            run = compare.open_run(workspace, targets, params, cases, source=name)
            bar = st.progress(0.0)
            compare.run_compare(workspace, run, targets, cases, params, concurrency=concurrency,
                        api_keys={t.name: api_key for t in targets if api_key},
                        on_progress=lambda p: bar.progress(p.done / max(p.total, 1), text=tr(
                            "playground.progress", done=p.done, total=p.total, errors=p.errors, skipped=p.skipped)))
            st.session_state["pg_run_pick"] = run.id  # show the run just made
        except StudioError as exc:
            st.error(str(exc))
    runs = {r.id: r for r in compare.list_runs(workspace)}
    if runs:
        chosen = runs[st.selectbox(tr("playground.saved_runs"), list(runs), key="pg_run_pick", format_func=lambda i: tr(
            "playground.run_label", id=i, name=runs[i].name, rows=runs[i].rows,
            targets=" / ".join(runs[i].target_names)))]
        st.session_state["pg_run_id"] = chosen.id  # kept for the A/B tab (widget keys vanish off the page)
        left, right = st.columns(2)
        substring = left.text_input(tr("playground.contains"), key="pg_contains") or None
        pattern = right.text_input(tr("playground.regex"), key="pg_regex") or None
        results = compare.load_results(workspace, chosen.id, chosen.target_names)
        try:
            scored = score_rows(results, pattern=pattern, substring=substring)
        except StudioError as exc:
            st.error(str(exc))
            scored = score_rows(results, substring=substring)
        summary = aggregate(scored, chosen.target_names)
        st.subheader(tr("playground.aggregates"))
        st.dataframe(summary, hide_index=True)
        metric = st.selectbox(tr("playground.chart_metric"), CHART_METRICS, key="pg_chart")
        st.altair_chart(alt.Chart(summary).mark_bar().encode(x=alt.X("target:N", sort=None), y=f"{metric}:Q",
                                                             color="target:N", tooltip=["target", metric]))
        table = side_by_side(scored, chosen.target_names)
        shown = table[table["row_index"].isin(disagreements(scored))] if st.checkbox(
            tr("playground.disagree_only"), key="pg_disagree") else table
        st.caption(tr("playground.rows_shown", n=len(shown), total=len(table)))
        st.dataframe(shown, hide_index=True)
        for column, fmt, mime in zip(st.columns(2), ("csv", "jsonl"), ("text/csv", "application/jsonl")):
            column.download_button(tr(f"playground.download_{fmt}"), compare.export_results(scored, fmt),
                                   f"{Path(chosen.source).stem}-compare.{fmt}", mime, key=f"pg_dl_{fmt}")
        with st.expander(tr("playground.use_model")):
            pick = st.selectbox(tr("playground.use_target"), chosen.targets, index=len(chosen.targets) - 1,
                                key="pg_use", format_func=lambda t: f"{t['name']} · {t['model']}")
            for kind, code in compare.usage_snippets(compare.target_from_public(pick)).items():
                st.code(code, language="bash" if kind == "curl" else "python")
    else:
        st.info(tr("playground.no_runs"))


# -- blind A/B: hidden names, seeded sides, votes in the workspace ----------------------------------------
def cast_vote(run_id: int, row: int, left: str, right: str, vote: str) -> None:
    compare.record_vote(workspace, run_id, row, left, right, vote)  # a callback: stored before the panel redraws
    st.session_state["pg_revealed"] = tr("playground.revealed", vote=tr(f"playground.vote_{vote.lower()}"),
                                         left=compare.escape_markdown(left), right=compare.escape_markdown(right))


@st.fragment
def vote_panel() -> None:
    run = {r.id: r for r in compare.list_runs(workspace)}.get(st.session_state.get("pg_run_id"))
    if run is None:
        return st.info(tr("playground.no_runs"))
    pair = tuple(st.multiselect(tr("playground.pick_pair"), run.target_names, run.target_names[:2],
                                max_selections=2, key="pg_ab_pair"))
    if len(pair) != 2:
        return st.warning(tr("playground.same_pair"))
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
        for column, label, answer in zip(st.columns(2), ("left", "right"), (ballot.left_answer, ballot.right_answer)):
            with column.container(border=True):
                st.markdown(f"**{tr('playground.' + label)}**")
                show(answer)
        for column, vote in zip(st.columns(4), ("A", "B", "tie", "both_bad")):
            column.button(tr(f"playground.vote_{vote.lower()}"), key=f"pg_vote_{vote}", width="stretch",
                          on_click=cast_vote, args=(run.id, ballot.row_index, ballot.left, ballot.right, vote))
    if not len(votes):
        return st.caption(tr("playground.no_votes"))
    rate = win_rate(votes["winner"].tolist(), pair[1], pair[0])
    show(tr("playground.win_rate", target=pair[1], other=pair[0], n=rate.votes, ties=rate.ties, bad=rate.both_bad,
            rate="–" if rate.rate is None else f"{rate.rate:.0%}", low=f"{rate.low:.0%}", high=f"{rate.high:.0%}"))


with blind:
    vote_panel()
