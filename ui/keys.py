"""Session-state keys that more than one page reads or writes: one name per shared value.

A widget's key is dropped when the user leaves its page, so what another page needs sits under one of these
non-widget keys (except :data:`LANG`, the language radio that app.py draws on every page).
"""

# "en" or "es": the sidebar's language radio (see studio.i18n.LANGUAGES).
LANG = "lang"

# The Dataset page's studio.editing.session.DatasetSession; the Cost page prices its open dataset.
DATASET = "dataset"

# The hyperparameters chosen on the Cost page, a dict (studio.providers.train_settings.TrainSettings.to_dict());
# the Train page launches with them.
TRAIN_SETTINGS = "train_settings"

# Workspace id of the job launched last on the Train page (its detail is shown first).
TRAIN_JOB = "train_job"

# Targets the Train page hands to the Playground ("compare checkpoints"): [{"name", "kind", "model"}], read once.
PLAYGROUND_TARGETS = "playground_targets"
