"""``studio train``: launch a fine-tuning job headless on the local engine, OpenAI or Azure OpenAI."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from studio.cli.common import add_load_args, finding_lines, load, say
from studio.core.training import DEFAULT_BASE_MODEL

# A literal copy of studio.providers.profiles.PROVIDER_KINDS (a test keeps them equal): registering `train`
# imports neither httpx nor openai.
PROVIDER_KINDS = ("local", "openai", "azure", "compatible")


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="launch (and optionally wait for) a fine-tuning job")
    train.add_argument("path", help="training data (any format studio can load)")
    train.add_argument("--provider", choices=PROVIDER_KINDS, default="local")
    train.add_argument(
        "--model", help=f"base model (default for --provider local: the engine's {DEFAULT_BASE_MODEL}; else required)"
    )
    train.add_argument("--epochs", help="a number or auto (default: auto, or the preset's)")
    train.add_argument("--batch-size", help="a number or auto (default: auto, or the preset's)")
    train.add_argument("--learning-rate-multiplier", help="a number or auto (default: auto, or the preset's)")
    train.add_argument("--seed", type=int)
    train.add_argument("--suffix")
    train.add_argument("--validation", help="validation data")
    train.add_argument("--base-url", help="endpoint (Azure: https://NAME.openai.azure.com; compatible servers)")
    train.add_argument("--api-version", help="Azure api-version")
    add_load_args(train)
    engine = train.add_argument_group("studio engine options (local or compatible provider; default: the engine's)")
    engine.add_argument("--lora-rank", type=int)
    engine.add_argument("--lora-alpha", type=float)
    engine.add_argument("--lora-dropout", type=float)
    engine.add_argument("--max-length", type=int, help="tokens per example (longer ones are cut)")
    engine.add_argument("--warmup-ratio", type=float, help="share of the steps that warm the learning rate up")
    engine.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        help="pack the training set into rows of --max-length tokens; --batch-size then counts rows (auto: 1);"
        " --no-packing turns a preset's packing off",
    )
    train.add_argument("--preset", help="start from this saved preset (the flags given override it)")
    train.add_argument("--save-preset", metavar="NAME", help="save these settings as a preset")
    train.add_argument("--preview", action="store_true", help="print the job request's JSON and send nothing")
    train.add_argument("--wait", action="store_true", help="poll until the job finishes")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=_train)


_FLAGS = {
    "n_epochs": "--epochs",
    "batch_size": "--batch-size",
    "learning_rate_multiplier": "--learning-rate-multiplier",
}
"""The job's hyperparameters (OpenAI's names) that have a flag of another name; the engine options' flags are
their names with dashes."""


def _number(flag: str, value: str) -> str | float | int:
    """``value`` of ``flag`` as "auto" or a number (ranges are checked later, with the others)."""
    from studio.errors import StudioError

    if value == "auto":
        return value
    try:
        number = float(value)
    except ValueError:
        raise StudioError(f"{flag} must be a number or auto, got {value!r}") from None
    return int(number) if number.is_integer() else number


def _jsonl(args: argparse.Namespace, path: str) -> bytes:
    """``path`` through the one loader (with the command's --format/--columns/--encoding) as OpenAI chat JSONL."""
    from studio.data.writers import export_bytes

    return export_bytes(load(args, path, quiet=args.json).frame, to="openai-chat")


def _settings(args: argparse.Namespace, workspace: Any) -> dict[str, Any]:
    """The job's settings: the preset's (if named), then the flags given, every hyperparameter checked by the
    engine's own check (:func:`studio.engine.hyperparameters.validate_hyperparameters`; OpenAI's ranges are of
    the same kind) before anything is uploaded or recorded; saved as a preset if asked."""
    from studio.providers.train_settings import ENGINE_OPTIONS, TrainSettings, apply_preset

    settings = TrainSettings()
    if args.preset:
        settings = apply_preset(workspace, args.preset, settings)
    values = settings.to_dict()
    given = {
        "epochs": ("--epochs", args.epochs),
        "batch_size": ("--batch-size", args.batch_size),
        "learning_rate_multiplier": ("--learning-rate-multiplier", args.learning_rate_multiplier),
    }
    values |= {key: _number(flag, value) for key, (flag, value) in given.items() if value is not None}
    values |= {key: getattr(args, key) for key in ENGINE_OPTIONS if getattr(args, key) is not None}
    if args.seed is not None:
        values["seed"] = args.seed
    if args.packing is not None:
        values["packing"] = args.packing
    _check_hyperparameters(values)
    if args.save_preset:
        _save_preset(args, workspace, values)
    return values


def _check_hyperparameters(values: dict[str, Any]) -> None:
    """Refuse, naming the flag, a hyperparameter the engine would refuse (NaN, 0 epochs, 1.5 epochs...), and an
    engine option that :class:`~studio.providers.train_settings.TrainSettings` would drop rather than send."""
    from studio.engine.errors import HyperparameterError
    from studio.engine.hyperparameters import validate_hyperparameters
    from studio.errors import StudioError
    from studio.providers.train_settings import ENGINE_OPTIONS, TrainSettings

    request = {"n_epochs": values["epochs"], "batch_size": values["batch_size"]}
    request |= {key: values[key] for key in ("learning_rate_multiplier", *ENGINE_OPTIONS, "packing")}
    try:
        validate_hyperparameters(request)
    except HyperparameterError as exc:
        key = (exc.param or "").rpartition(".")[2]
        flag = _FLAGS.get(key, f"--{key.replace('_', '-')}")
        raise StudioError(exc.message.replace(exc.param or flag, flag, 1)) from None
    checked = TrainSettings.from_dict(values)
    for key in ENGINE_OPTIONS:
        if values.get(key) is not None and getattr(checked, key) is None:
            low, high = ENGINE_OPTIONS[key][1:]
            raise StudioError(f"--{key.replace('_', '-')} must be between {low:g} and {high:g}, got {values[key]}")


def _save_preset(args: argparse.Namespace, workspace: Any, values: dict[str, Any]) -> None:
    """Save ``values`` as preset ``--save-preset`` and say so on stderr, with what a replaced preset held (saving
    is local: --preview saves too, and says that it sent nothing)."""
    from studio.providers.train_settings import TrainSettings, save_preset

    name = args.save_preset.strip()
    previous = save_preset(workspace, name, TrainSettings.from_dict(values))
    if previous is None:
        line = say("preset_saved", name=name)
    else:
        held = [f"{key}={value}" for key, value in previous.items() if value not in (None, "auto", False)]
        line = say("preset_replaced", name=name, previous=", ".join(held) or say("preset_defaults"))
    if args.preview:
        line += say("preset_preview")
    print(line, file=sys.stderr)


def _checked(args: argparse.Namespace, path: str, what: str) -> bytes:
    """``path`` as OpenAI chat JSONL (:func:`_jsonl`), refused with :class:`~studio.errors.JobError` naming the
    file and its error counts when it is not valid ``what`` (training or validation) data for ``args.model``."""
    from studio.cost.validation import validate_bytes
    from studio.errors import JobError

    data = _jsonl(args, path)
    report = validate_bytes(data, model=args.model)
    if not report.ok:
        errors = "; ".join(text for severity, text in finding_lines(report) if severity == "error")
        raise JobError(f"{Path(path).name} is not valid {what} data: {errors}")
    return data


def _train(args: argparse.Namespace) -> int:
    from studio.errors import JobError
    from studio.providers.jobs import job_metadata, job_request, launch_job, refresh_job
    from studio.providers.profiles import Profile, api_key_for, ensure_engine, make_client
    from studio.providers.train_settings import ENGINE_KINDS, ENGINE_OPTIONS
    from studio.storage.workspace import Workspace

    if args.model is None:
        if args.provider != "local":
            raise JobError(f"--model is required for --provider {args.provider}")
        args.model = DEFAULT_BASE_MODEL
    profile = Profile(kind=args.provider, base_url=args.base_url, api_version=args.api_version)
    workspace = Workspace(args.workspace)
    settings = _settings(args, workspace)
    training = _checked(args, args.path, "training")
    validation = _checked(args, args.validation, "validation") if args.validation else None
    if profile.kind == "local" and not args.preview:
        ensure_engine(profile.url, log_dir=str(Path(args.workspace).parent) if args.workspace else None)
    ignored = [key for key in (*ENGINE_OPTIONS, "packing") if settings.get(key) not in (None, False)]
    if ignored and profile.kind not in ENGINE_KINDS:
        print(say("not_sent", provider=profile.kind, options=", ".join(ignored)), file=sys.stderr)
    if args.preview:
        body = job_request(
            profile,
            model=args.model,
            training_file="<training file id>",
            validation_file="<validation file id>" if args.validation else None,
            settings=settings,
            suffix=args.suffix,
            metadata=job_metadata(workspace, None, {"dataset": Path(args.path).name}),
        )
        print(json.dumps(body, indent=2))
        return 0
    key = api_key_for(profile)
    client = make_client(profile, api_key=key, max_retries=0)  # studio.providers.jobs retries
    try:
        record = launch_job(
            workspace,
            client,
            profile,
            model=args.model,
            training=training,
            validation=validation,
            settings=settings,
            suffix=args.suffix,
            metadata={"dataset": Path(args.path).name},
        )
    except JobError as exc:
        if key is None and getattr(exc.__cause__, "status_code", None) == 401:
            raise JobError(f"{exc} Set OPENAI_API_KEY to the server's key.") from exc
        raise
    if not args.json:
        print(f"job {record.job_id} on {profile.kind} ({args.model}): {record.status}")
    while args.wait and not record.finished:
        time.sleep(2)
        previous, record = record.status, refresh_job(workspace, client, record)
        if record.status != previous and not args.json:
            print(f"  {record.status}")
    summary = {
        "record": record.id,
        "provider": record.provider,
        "job_id": record.job_id,
        "model": args.model,
        "status": record.status,
        "fine_tuned_model": record.fine_tuned_model,
        "trained_tokens": record.trained_tokens,
        "error": record.error,
    }
    if args.json:
        print(json.dumps(summary))
    elif record.fine_tuned_model:
        print(f"fine-tuned model: {record.fine_tuned_model}")
    if record.status == "failed":
        print(f"error: job failed: {record.error}", file=sys.stderr)
        return 1
    return 0
