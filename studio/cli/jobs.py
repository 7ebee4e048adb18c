"""``studio jobs list|show|cancel|pause|resume|events|checkpoints``: the fine-tuning jobs of the workspace, through
the openai SDK against whichever provider ran each one (:mod:`studio.providers.jobs`).

A job is named by its workspace record number (``studio jobs list`` shows them) or its provider id (``ftjob-…``).
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from studio.cli.common import count, lang, say

if TYPE_CHECKING:
    import openai

    from studio.providers.jobs import JobRecord
    from studio.storage.workspace import Workspace

ACTIONS = ("cancel", "pause", "resume")


def register(subparsers: argparse._SubParsersAction) -> None:
    jobs = subparsers.add_parser("jobs", help="list, inspect and control fine-tuning jobs")
    commands = jobs.add_subparsers(dest="jobs_command", required=True)
    listing = commands.add_parser("list", help="the workspace's jobs, newest first")
    listing.add_argument("--refresh", action="store_true", help="ask each provider for the current status first")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=_list)
    for name, helptext, func in (
        ("show", "one job, refreshed from its provider", _show),
        ("cancel", "cancel a job", _control),
        ("pause", "pause a running job", _control),
        ("resume", "resume a paused job", _control),
        ("events", "the job's events, oldest first", _events),
        ("checkpoints", "the job's checkpoints (one per epoch on the local engine)", _checkpoints),
    ):
        command = commands.add_parser(name, help=helptext)
        command.add_argument("job", help="workspace record number or provider job id (ftjob-…)")
        if name == "events":
            command.add_argument("--limit", type=int, default=1000, help="at most this many events (default 1000)")
        command.add_argument("--json", action="store_true", help="print one JSON object")
        command.set_defaults(func=func)


def _record_json(record: JobRecord) -> dict[str, Any]:
    return {
        "record": record.id,
        "provider": record.provider,
        "job_id": record.job_id,
        "model": record.model,
        "status": record.status,
        "fine_tuned_model": record.fine_tuned_model,
        "trained_tokens": record.trained_tokens,
        "error": record.error,
        "created_at": record.created_at,
    }


def _line(record: JobRecord) -> str:
    tuned = f" → {record.fine_tuned_model}" if record.fine_tuned_model else ""
    error = f" ({record.error})" if record.error else ""
    job = record.job_id or "-"
    return f"{record.id:>4}  {job:<28} {record.provider:<10} {record.model}  {record.status}{tuned}{error}"


def _resolve(args: argparse.Namespace) -> tuple[Workspace, JobRecord]:
    from studio.errors import JobError
    from studio.providers.jobs import get_job, list_jobs
    from studio.storage.workspace import Workspace

    workspace = Workspace(args.workspace)
    if args.job.isdigit():
        return workspace, get_job(workspace, int(args.job))
    for record in list_jobs(workspace):
        if record.job_id == args.job:
            return workspace, record
    raise JobError(f"no job {args.job!r} in {workspace.path}; `studio jobs list` shows the jobs")


def _client(record: JobRecord) -> openai.OpenAI:
    from studio.providers.profiles import Profile, api_key_for, make_client

    profile = Profile(**record.profile)
    return make_client(profile, api_key=api_key_for(profile), max_retries=0)  # studio.providers.jobs retries


def _list(args: argparse.Namespace) -> int:
    from studio.providers.jobs import list_jobs, refresh_job
    from studio.storage.workspace import Workspace

    workspace = Workspace(args.workspace)
    records = list_jobs(workspace)
    if args.refresh:
        records = [r if r.finished else refresh_job(workspace, _client(r), r) for r in records]
    if args.json:
        print(json.dumps({"jobs": [_record_json(r) for r in records]}, ensure_ascii=False))
        return 0
    if not records:
        print(say("no_jobs"))
        return 0
    print(count("jobs", len(records)))
    for record in records:
        print(_line(record))
    return 0


def _show(args: argparse.Namespace) -> int:
    from studio.providers.jobs import refresh_job

    workspace, record = _resolve(args)
    record = refresh_job(workspace, _client(record), record)
    if args.json:
        print(json.dumps({**_record_json(record), "settings": record.settings}, ensure_ascii=False))
        return 0
    print(_line(record))
    for key, value in record.settings.items():
        print(f"  {key}: {value}")
    return 0


def _control(args: argparse.Namespace) -> int:
    from studio.providers.jobs import control_job

    workspace, record = _resolve(args)
    record = control_job(workspace, _client(record), record, args.jobs_command)
    if args.json:
        print(json.dumps(_record_json(record), ensure_ascii=False))
    else:
        print(_line(record))
    return 0


def _events(args: argparse.Namespace) -> int:
    from studio.errors import JobError
    from studio.providers.job_events import event_text
    from studio.providers.jobs import events

    _, record = _resolve(args)
    if not record.job_id:
        raise JobError("this job never started, so it has no events")
    found = events(_client(record), record.job_id, limit=args.limit)
    if args.json:
        print(json.dumps({"job_id": record.job_id, "events": [e.model_dump(mode="json") for e in found]}))
        return 0
    print(f"{record.job_id}: {count('events', len(found))}")
    for event in found:
        print(f"  {event.created_at}  {event.level:<5} {event_text(event.message, lang())}")  # JSON: as sent
    return 0


def _checkpoints(args: argparse.Namespace) -> int:
    from studio.errors import JobError
    from studio.providers.jobs import checkpoints

    _, record = _resolve(args)
    if not record.job_id:
        raise JobError("this job never started, so it has no checkpoints")
    found = checkpoints(_client(record), record.job_id)
    if args.json:
        print(json.dumps({"job_id": record.job_id, "checkpoints": [c.model_dump(mode="json") for c in found]}))
        return 0
    print(f"{record.job_id}: {count('checkpoints', len(found))}")
    for checkpoint in found:
        print(f"  step {checkpoint.step_number}: {checkpoint.fine_tuned_model_checkpoint}")
    return 0
