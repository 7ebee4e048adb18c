"""``studio train``: launch a fine-tuning job headless on the local engine, OpenAI or Azure OpenAI."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from studio.cli.common import add_load_args, load, say
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
        action="store_true",
        help="pack the training set into rows of --max-length tokens; --batch-size then counts rows (auto: 1)",
    )
    train.add_argument("--preset", help="start from this saved preset (the flags given override it)")
    train.add_argument("--save-preset", metavar="NAME", help="save these settings as a preset")
    train.add_argument("--preview", action="store_true", help="print the job request's JSON and send nothing")
    train.add_argument("--wait", action="store_true", help="poll until the job finishes")
    train.add_argument("--json", action="store_true", help="print one JSON object")
    train.set_defaults(func=_train)


def _number(value: str) -> str | float | int:
    if value == "auto":
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def _jsonl(args: argparse.Namespace, path: str) -> bytes:
    """``path`` through the one loader (with the command's --format/--columns/--encoding) as OpenAI chat JSONL."""
    from studio.data.writers import export_bytes

    return export_bytes(load(args, path, quiet=args.json).frame, to="openai-chat")


def _settings(args: argparse.Namespace, workspace: Any) -> dict[str, Any]:
    """The job's settings: the preset's (if named), then the flags given; saved as a preset if asked."""
    from studio.errors import StudioError
    from studio.providers.train_settings import ENGINE_OPTIONS, TrainSettings, apply_preset, save_preset

    settings = TrainSettings()
    if args.preset:
        settings = apply_preset(workspace, args.preset, settings)
    values = settings.to_dict()
    given = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate_multiplier": args.learning_rate_multiplier,
    }
    values |= {key: _number(value) for key, value in given.items() if value is not None}
    values |= {key: getattr(args, key) for key in ENGINE_OPTIONS if getattr(args, key) is not None}
    if args.seed is not None:
        values["seed"] = args.seed
    if args.packing:
        values["packing"] = True
    checked = TrainSettings.from_dict(values)
    for key in ENGINE_OPTIONS:
        if values.get(key) is not None and getattr(checked, key) is None:
            low, high = ENGINE_OPTIONS[key][1:]
            raise StudioError(f"--{key.replace('_', '-')} must be between {low:g} and {high:g}, got {values[key]}")
    if args.save_preset:
        save_preset(workspace, args.save_preset, checked)
    return values


def _checked(args: argparse.Namespace, path: str, what: str) -> bytes:
    """``path`` as OpenAI chat JSONL (:func:`_jsonl`), refused with :class:`~studio.errors.JobError` naming the
    file and its error counts when it is not valid ``what`` (training or validation) data for ``args.model``."""
    from studio.cost.validation import validate_bytes
    from studio.errors import JobError

    data = _jsonl(args, path)
    report = validate_bytes(data, model=args.model)
    if not report.ok:
        raise JobError(
            f"{Path(path).name} is not valid {what} data: " + ", ".join(f"{k} ×{n}" for k, n in report.errors.items())
        )
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
    training = _checked(args, args.path, "training")
    validation = _checked(args, args.validation, "validation") if args.validation else None
    if profile.kind == "local" and not args.preview:
        ensure_engine(profile.url, log_dir=str(Path(args.workspace).parent) if args.workspace else None)
    workspace = Workspace(args.workspace)
    settings = _settings(args, workspace)
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
    client = make_client(profile, api_key=api_key_for(profile), max_retries=0)  # studio.providers.jobs retries
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
