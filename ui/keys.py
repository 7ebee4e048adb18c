"""Session-state keys that more than one page reads or writes: one name per shared value.

A widget's key is dropped when the user leaves its page, so what another page needs sits under one of these
non-widget keys (except :data:`LANG`, the language radio that app.py draws on every page).
"""

LANG = "lang"
"""``"en"`` or ``"es"``: the sidebar's language radio (see :data:`studio.i18n.LANGUAGES`)."""

DATASET = "dataset"
"""The Dataset page's :class:`~studio.editing.session.DatasetSession`; the Cost page prices its open dataset."""

TRAIN_SETTINGS = "train_settings"
"""The hyperparameters chosen on the Cost page, a dict (see :mod:`studio.providers.train_settings`); Train
launches with them."""

TRAIN_JOB = "train_job"
"""Workspace id of the job launched last on the Train page (its detail is shown first)."""

PLAYGROUND_TARGETS = "playground_targets"
"""Targets the Train page hands to the Playground ("compare checkpoints"): a list of
``{"name", "kind", "model"}`` dicts, read once."""
