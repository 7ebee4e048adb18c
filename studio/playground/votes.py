"""Blind A/B votes on a run: which answer of a pair is better, with the sides hidden and seeded per row.

Table: ``compare_votes`` (:mod:`studio.storage.migrations`); a later vote on the same row and pair replaces it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Literal

import pandas as pd

from studio.playground.metrics import answer_with_calls
from studio.playground.targets import CompareError
from studio.storage.workspace import Workspace

Vote = Literal["A", "B", "tie", "both_bad"]
VOTES: tuple[Vote, ...] = ("A", "B", "tie", "both_bad")


def ab_sides(run_id: int, row_index: int, pair: tuple[str, str], *, seed: int = 0) -> tuple[str, str]:
    """(left, right) target names for a row: a seeded coin flip, the same every time it is asked."""
    first, second = sorted(pair)
    flip = random.Random(f"{seed}:{run_id}:{row_index}:{first}:{second}").random() < 0.5
    return (second, first) if flip else (first, second)


def record_vote(workspace: Workspace, run_id: int, row_index: int, left: str, right: str, vote: Vote) -> str:
    """Store a vote (a later vote on the same row and pair replaces it); returns the winner's name or the outcome."""
    if vote not in VOTES:
        raise CompareError(f"unknown vote {vote!r}; use one of {', '.join(VOTES)}")
    with workspace.transaction() as db:
        db.execute(
            "DELETE FROM compare_votes WHERE run_id=? AND row_index=? AND"
            " ((left_target=? AND right_target=?) OR (left_target=? AND right_target=?))",
            (run_id, row_index, left, right, right, left),
        )
        db.execute(
            "INSERT INTO compare_votes(run_id, row_index, left_target, right_target, vote, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (run_id, row_index, left, right, vote, time.time()),
        )
    return _winner(left, right, vote)


def _winner(left: str, right: str, vote: str) -> str:
    return {"A": left, "B": right}.get(vote, vote)


def load_votes(workspace: Workspace, run_id: int, pair: tuple[str, str] | None = None) -> pd.DataFrame:
    """Votes of a run (of one pair when given): row, left, right, vote, winner."""
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_votes WHERE run_id=? ORDER BY created_at", (run_id,)).fetchall()
    frame = pd.DataFrame(
        [
            {
                "row_index": r["row_index"],
                "left": r["left_target"],
                "right": r["right_target"],
                "vote": r["vote"],
                "winner": _winner(r["left_target"], r["right_target"], r["vote"]),
            }
            for r in rows
        ],
        columns=["row_index", "left", "right", "vote", "winner"],
    )
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


def next_ballot(
    results: pd.DataFrame, votes: pd.DataFrame, run_id: int, pair: tuple[str, str], *, seed: int = 0
) -> Ballot | None:
    """The first unvoted row of ``pair``, its sides chosen by :func:`ab_sides`; None when every row has a vote."""
    row = next_unvoted(results, votes, pair)
    if row is None:
        return None
    left, right = ab_sides(run_id, row, pair, seed=seed)
    answers = results[results["row_index"] == row].set_index("target")

    def shown(target: str) -> str:  # the answer's text, then its tool calls as one line
        calls = answers.loc[target, "tool_calls"] if "tool_calls" in answers.columns else None
        return answer_with_calls(answers.loc[target, "answer"], calls) or ""

    return Ballot(row, answers["prompt"].iloc[0], left, right, shown(left), shown(right))


def next_unvoted(results: pd.DataFrame, votes: pd.DataFrame, pair: tuple[str, str]) -> int | None:
    """The first row where both targets answered and no vote on this pair exists yet."""
    answered = results[results["target"].isin(pair) & results["error"].isna()]
    both = answered.groupby("row_index")["target"].nunique()
    voted = set(votes["row_index"]) if len(votes) else set()
    for row_index in both[both == 2].index:
        if int(row_index) not in voted:
            return int(row_index)
    return None
