"""The Dataset page's state between reruns and every step it takes that is not a widget.

The page draws widgets and calls a :class:`DatasetSession` kept in its session state: open or import a dataset,
the rule flags and their counts, the rows the filters let through, a grid edit, the export splits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from studio.data.turns import cached_view, carry_view, turn_view
from studio.editing.editor import DatasetEditor
from studio.editing.grid import Checks, GridEvent, ViewSpec, filter_rows, handle_grid_event
from studio.editing.ops import Op, RegexReplace
from studio.editing.recipes import Recipe, rows_changed
from studio.errors import OperationError, StudioError
from studio.quality.rules import RULES
from studio.quality.splits import export_splits, split_version_name
from studio.storage.turn_views import KEPT_VIEW_ROWS, version_turn_view
from studio.storage.workspace import VersionInfo, Workspace, import_loaded

if TYPE_CHECKING:
    from studio.quality.near_duplicates import NearDuplicates


@dataclass(frozen=True)
class StaleLink:
    """A link (a URL, a bookmark, a tab left open and refreshed) that named ``named``, a version of the dataset
    that is no longer its head ``head``: someone moved the dataset on since the link was made."""

    named: VersionInfo
    head: VersionInfo


WARM_SEARCH_ROWS = KEPT_VIEW_ROWS
"""Up to this many examples the turn view is made ready ahead of the first search (:meth:`DatasetSession.warm_search`:
the version's stored view, see :data:`~studio.storage.turn_views.KEPT_VIEW_ROWS`); beyond, the first search builds it,
so that memory goes to a view only when someone searches."""

WARM_SEARCH_DELAY_S = 1.5
"""Seconds the turn view's warm-up waits once the page is drawn, unless a search needs the view sooner: the server's
part of the first draw is done then, and the browser is in its last second of drawing the grid (~2 s of one core at
100k multi-turn examples, bench/RESULTS.md "gridmulti"), so the warm-up's ~0.2–0.5 s of CPU runs beside it rather
than taking from it; and it is done before a user's first edits, which then carry the view over (a longer wait
left it to the first keystroke: 1.5–2.4 s instead of 0.6 s, measured with 3 s)."""


class Warmup(threading.Thread):
    """:func:`warm_view` on its own thread, after ``delay_s`` seconds or as soon as :meth:`now` is called; not at
    all once :meth:`drop` is called before it starts."""

    def __init__(self, args: tuple[Any, ...], delay_s: float) -> None:
        super().__init__(name="turn-view", daemon=True)
        self._args, self._delay_s, self._go, self._dropped = args, delay_s, threading.Event(), False

    def run(self) -> None:
        self._go.wait(self._delay_s)
        if not self._dropped:
            warm_view(*self._args)

    def now(self) -> None:
        """Start the warm-up now (a search is waiting for it)."""
        self._go.set()

    def drop(self) -> None:
        """Skip the warm-up if it has not started (a newer revision's replaces it: its view would be stale)."""
        self._dropped = True
        self._go.set()


class DatasetSession:
    """One browser session's open dataset (``editor``, None until one is opened), its flags and export splits."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.editor: DatasetEditor | None = None
        self.checks = Checks()
        self.opening: int | None = None  # picked, its frame not decoded yet: see pick()
        self._prefetching: threading.Thread | Literal[False] | None = None  # None: not tried yet
        self._warming: tuple[Any, Warmup | None] = (None, None)
        self._splits: tuple[Any, tuple[dict[str, pd.DataFrame], pd.DataFrame] | None] = (None, None)

    def prefetch_newest(self, then: Callable[[], object] | None = None) -> None:
        """While nothing is open, decode the newest dataset in the background, once: the one a user most likely
        opens next is then ready when they pick it. ``then`` (the page's other warm-up: the token encoding) runs
        after that decode on the same thread, so the two do not take turns holding the interpreter; right away
        when there is nothing to decode."""
        if self.editor is None and self._prefetching is None:
            datasets = self.workspace.datasets()
            newest = max(datasets, key=lambda d: d.id).head_version_id if datasets else None
            self._prefetching = self.workspace.prefetch_version(newest, then=then) if newest else False
            if self._prefetching:
                return
        if then is not None and not (self._prefetching and self._prefetching.is_alive()):  # else that thread runs it
            then()

    def open(self, dataset_id: int) -> DatasetEditor:
        """The editor of ``dataset_id``, opened unless it already is (nothing is :attr:`opening` after it)."""
        self.opening = None
        if self.editor is None or self.editor.dataset_id != dataset_id:
            self.editor = DatasetEditor(self.workspace, dataset_id)
        return self.editor

    def pick(self, dataset_id: int) -> None:
        """A dataset picked in a menu: opened now when its head version is decoded already (or it is the open one);
        else it becomes :attr:`opening`, so that a page can draw its places before it waits for the decode
        (:meth:`finish_opening`)."""
        info = self.workspace.dataset(dataset_id)
        if self.editor is not None and self.editor.dataset_id == dataset_id:
            self.opening = None
        elif self.workspace.is_decoded(info.head_version_id):
            self.opening = None
            self.open(dataset_id)
        else:
            self.opening = dataset_id

    def finish_opening(self) -> DatasetEditor | None:
        """Open the dataset :meth:`pick` left :attr:`opening` (waiting for its decode, a prefetch's included) and
        return its editor; None when nothing is opening."""
        return self.open(self.opening) if self.opening is not None else None

    def open_link(self, dataset_id: int, version_id: int | None = None) -> StaleLink | None:
        """Open what a link names (``?dataset=3&version=7``) without changing the dataset for anyone: the dataset
        opens at its current head, as stored now. When the link names another version of it (older, or one that
        was the head when the link was made), that version is not checked out: the returned :class:`StaleLink`
        says which it was, for the user to open it explicitly (:meth:`checkout_link`). None when the link names
        the head, or no version, or a version of another dataset. Raises
        :class:`~studio.errors.WorkspaceError` for an unknown dataset."""
        editor = self.open(dataset_id)
        if editor.info.revision != editor.head_revision:
            editor = self.editor = DatasetEditor(self.workspace, dataset_id)  # show what is stored now
        named = next((v for v in self.workspace.versions(dataset_id) if v.id == version_id), None)
        if named is None or named.id == editor.head.id:
            return None
        return StaleLink(named=named, head=editor.head)

    def checkout_link(self, link: StaleLink) -> DatasetEditor:
        """Make the version ``link`` named the head, for every session: the user asked for it. Raises
        :class:`~studio.errors.ConflictError` (nothing changed; the editor shows what is stored) when the
        dataset moved again since the page showed ``link``."""
        editor = self.open(link.named.dataset_id)
        editor.checkout(link.named.id)
        return editor

    def import_loaded(self, result: Any, *, source_name: str, data: bytes) -> DatasetEditor:
        """Store an uploaded file's :class:`~studio.data.loader.LoadResult` as a new dataset and open it."""
        return self.open(import_loaded(self.workspace, result, source_name=source_name, data=data).id)

    def _editor(self) -> DatasetEditor:
        if self.editor is None:
            raise StudioError("no dataset is open")
        return self.editor

    def flags(self, *, recheck: bool = False) -> pd.DataFrame:
        """The open dataset's rule flags (see :meth:`Checks.update`); ``recheck`` runs every rule again."""
        return self.checks.update(self._editor(), force=recheck)

    def rule_counts(self) -> dict[str, int]:
        """Flagged rows per rule, in the rules' display order."""
        return self.checks.counts([rule.key for rule in RULES if rule.key in self.checks.flags.columns])

    def warm_search(self, delay_s: float = WARM_SEARCH_DELAY_S) -> Warmup | None:
        """Make the open data's turn view ready in the background (once per data revision, up to
        :data:`WARM_SEARCH_ROWS` examples), so the live filter's first search does not pay for it: see
        :func:`warm_view` (the stored view is read back: ~0.2 s CPU at 100k multi-turn conversations, where a build
        takes ~1.3 s). It starts after ``delay_s`` (:data:`WARM_SEARCH_DELAY_S`: the browser draws the page
        first) or as soon as :meth:`rows` searches, which then waits for it rather than starting another build.
        Call it once the page is drawn. Returns the thread started, or None."""
        editor = self._editor()
        key = (editor.dataset_id, editor.revision)
        if self._warming[0] == key or len(editor.frame) > WARM_SEARCH_ROWS:
            return None
        if (older := self._warming[1]) is not None:
            older.drop()  # a warm-up for an earlier revision, still waiting: superseded by this one
        args = (self.workspace, editor.head.id, editor.base, editor.frame, editor.history.active)
        thread = Warmup(args, delay_s)
        self._warming = (key, thread)
        thread.start()
        return thread

    def rows(self, spec: ViewSpec, threshold: float) -> tuple[np.ndarray, str | None]:
        """Positions of the rows the filters let through, and None; with an invalid pattern, every row and why."""
        editor = self._editor()
        if spec.regex:
            # the view of the data as it is now: read back and carried over the edits since, never built whole (a
            # warm-up scheduled before edits made in the grid's fragment covers an older revision)
            self.warm_search(delay_s=0)
            if (building := self._warming[1]) is not None:
                building.now()
                building.join()  # the search reads the view that thread makes ready
        try:
            groups = self.checks.groups(editor, spec.duplicates, threshold)
            return filter_rows(editor.frame, self.checks.flags, spec, groups=groups), None
        except StudioError as exc:
            return filter_rows(editor.frame, self.checks.flags, ViewSpec()), str(exc)

    def near_capped(self) -> NearDuplicates | None:
        """The open data's near-duplicate run when it hit the LSH bucket cap, else None (see
        :meth:`~studio.editing.grid.Checks.near_capped`)."""
        return self.checks.near_capped(self._editor())

    def grid_event(self, raw: Any, last_token: str | None) -> GridEvent | None:
        """Act on the grid's returned delta (see :func:`~studio.editing.grid.handle_grid_event`)."""
        return handle_grid_event(self._editor(), self.checks, raw, last_token)

    def replay(self, recipe_json: bytes, lang: str = "en") -> tuple[Recipe, list[tuple[int, str, str]]]:
        """Replay an uploaded recipe file on the open dataset, each step persisted and undoable. Returns the recipe
        and, for each one-turn replace that leaves matches in other turns, ``(step number, the step in lang, the
        note in lang)``: ``(1, "Replace … in user", "no change in the last user turn; 12 matches in turns other
        than the last user turn — …")`` (see :meth:`~studio.editing.ops.RegexReplace.outside_note`)."""
        try:
            recipe = Recipe.from_json(recipe_json.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise OperationError(f"the recipe is not UTF-8 text: {exc}") from None
        editor = self._editor()
        notes: list[tuple[int, str, str]] = []
        before = editor.frame

        def heard(number: int, op: Op) -> None:
            nonlocal before
            if isinstance(op, RegexReplace) and (outside := op.outside_scope(editor.frame)):
                changed = rows_changed(before, editor.frame) > 0
                notes.append((number, op.describe_in(lang), op.outside_note(outside, lang, changed=changed)))
            before = editor.frame

        editor.replay(recipe, on_step=heard)
        return recipe, notes

    def splits(self, ratios: Mapping[str, float], seed: int) -> tuple[dict[str, pd.DataFrame], pd.DataFrame] | None:
        """The export splits and their leakage report (see :func:`~studio.quality.splits.export_splits`), computed again
        only when the data, the ratios or the seed change."""
        editor = self._editor()
        key = (editor.dataset_id, editor.revision, tuple(ratios.items()), seed)
        if self._splits[0] != key:
            flags = self.flags()
            clusters = flags["cluster_id"] if "cluster_id" in flags.columns else None
            self._splits = (key, export_splits(editor.frame, ratios=ratios, seed=seed, clusters=clusters))
        return self._splits[1]

    def save_splits(self, parts: Mapping[str, pd.DataFrame], seed: int) -> None:
        """Keep each split as a named version beside the head (the head does not change)."""
        editor = self._editor()
        for split, part in parts.items():
            self.workspace.save_version(editor.dataset_id, part, name=split_version_name(split, seed), make_head=False)


def warm_view(
    workspace: Workspace, version_id: int, base: pd.DataFrame, frame: pd.DataFrame, ops: Sequence[Op]
) -> None:
    """Cache the turn view of ``frame`` (``base``, version ``version_id``'s frame, with ``ops`` applied): the
    version's view (stored, else built once and stored, see
    :func:`~studio.storage.turn_views.version_turn_view`), carried over one-example edits
    (:func:`~studio.data.turns.carry_view`: only the edited examples are built); after any other operation, built."""
    if frame is not base and (cached_view(frame) is not None or not all(op.one_example for op in ops)):
        turn_view(frame)  # carried over the edit just made, or built after an operation on many rows
        return
    version_turn_view(workspace, version_id, base)
    if frame is base:
        return
    edited = np.isin(frame["id"].to_numpy(), [op.to_dict()["id"] for op in ops])
    same_rows = np.array_equal(base["id"].to_numpy(), frame["id"].to_numpy())
    if not (same_rows and carry_view(base, frame, np.flatnonzero(edited))):
        turn_view(frame)
