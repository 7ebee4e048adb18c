"""``studio engine``: serve the local fine-tuning engine; ``studio engine pull``: cache its default model."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "engine",
        help="serve OpenAI's fine-tuning API locally (LoRA training of open models)",
        description="Serve OpenAI's fine-tuning and chat API on this machine. "
        "Point the openai SDK at http://HOST:PORT/v1.",
    )
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8765)")
    parser.add_argument(
        "--home",
        help="engine folder: store, files, checkpoints (default $STUDIO_ENGINE_HOME or ./workspace/engine)",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("STUDIO_ENGINE_API_KEY"),
        help="require this bearer key (default $STUDIO_ENGINE_API_KEY; none: any key is accepted)",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="add a base model: a local Hugging Face folder or a hub id (repeatable)",
    )
    parser.add_argument(
        "--preload",
        action="append",
        default=[],
        metavar="MODEL",
        help="load this model in the background at start, so the first answer does not wait (repeatable)",
    )
    parser.add_argument("--max-upload-mb", type=float, default=100.0, help="upload size limit (default 100)")
    parser.set_defaults(func=_serve)
    actions = parser.add_subparsers(dest="engine_command")
    pull = actions.add_parser("pull", help="download and convert the default model (smollm2-135m-instruct) once")
    pull.add_argument("--models-dir", help="model cache (default $STUDIO_MODELS or ~/.cache/fine-tuning-studio/models)")
    pull.set_defaults(func=_pull)
    stop = actions.add_parser("stop", help="stop the engine answering on this machine (shows which one it was)")
    stop.add_argument("--url", help="engine URL (default $STUDIO_ENGINE_URL or http://127.0.0.1:8765/v1)")
    stop.set_defaults(func=_stop)
    export = actions.add_parser(
        "export",
        help="write a model (base, fine-tuned or checkpoint) as a Hugging Face folder, a PEFT adapter or GGUF",
        description="Export a model of the engine for transformers/vLLM (hf), peft/vLLM --enable-lora (adapter) "
        "or llama.cpp/Ollama (gguf, with a Modelfile).",
    )
    export.add_argument("model_id", metavar="MODEL", help="a model id, e.g. ft:smollm2-135m-instruct:pirate:ftjob-...")
    export.add_argument("--format", dest="export_format", choices=["hf", "gguf", "adapter"], default="hf")
    export.add_argument(
        "--home", dest="export_home", help="engine folder (default $STUDIO_ENGINE_HOME or ./workspace/engine)"
    )
    export.add_argument("-o", "--output", required=True, help="folder to create (must not exist or be empty)")
    export.add_argument(
        "--base-model",
        dest="export_models",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a base model the engine was started with (--model NAME=PATH); repeatable",
    )
    export.set_defaults(func=_export)


def validate_upload(path: Path, filename: str) -> list[str]:
    """Problems of an uploaded fine-tuning file, as the Cost page sees them (:func:`studio.cost.validation.
    validate_file`): its errors, one line each (``"line 3: ..."``); warnings and advice do not block an upload.

    The engine reaches the library only through studio.core, so ``studio engine`` injects this into
    ``create_app(validate_upload=...)``. Raises ``StudioError`` for a file that cannot be read.
    """
    from studio.cost.validation import validate_file

    report = validate_file(path)
    if report.ok:
        return []
    errors = report.findings[report.findings["severity"] == "error"]
    return [
        f"line {row.row}: {row.message}" if str(row.row) not in {"<NA>", "nan", "None"} else str(row.message)
        for row in errors.itertuples()
    ]


def _serve(args: argparse.Namespace) -> int:
    from studio.engine import models
    from studio.engine.app import DEFAULT_HOST, DEFAULT_PORT, create_app, engine_home, serve

    extra = dict(models.parse_model_option(option) for option in args.model)
    home = Path(args.home) if args.home else engine_home()
    app = create_app(
        home,
        api_key=args.api_key,
        models=extra,
        models_dir=models.models_dir(),
        max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
        preload=args.preload,
        validate_upload=validate_upload,
    )
    host = args.host or DEFAULT_HOST
    port = args.port or DEFAULT_PORT
    if host not in {"127.0.0.1", "localhost", "::1"} and not args.api_key:
        print(
            f"warning: serving on {host} without --api-key: anyone who reaches this port can use the engine",
            file=sys.stderr,
        )
    print(f"engine home {home.resolve()}; OpenAI base_url http://{host}:{port}/v1")
    serve(app, host=host, port=port)
    return 0


def _pull(args: argparse.Namespace) -> int:
    from studio.engine import models

    cache = Path(args.models_dir) if args.models_dir else models.models_dir()
    if not models.is_pulled(cache):
        models.require_torch()
    path = models.pull_smollm2(cache, log=print)
    print(path)
    return 0


def _export(args: argparse.Namespace) -> int:
    from studio.engine import models
    from studio.engine.app import engine_home
    from studio.engine.export import export_model
    from studio.engine.service import Engine
    from studio.errors import StudioError

    models.require_torch()
    extra = dict(models.parse_model_option(option) for option in args.export_models)
    registry = models.ModelRegistry(extra)
    if args.model_id in registry.names():  # a base model needs no engine folder
        source, adapter = registry.source(args.model_id), None
    else:
        home = Path(args.export_home or args.home or engine_home())
        if not (home / "store.db").is_file():
            raise StudioError(f"{home} is not an engine folder (no store.db): name it with --home")
        engine = Engine(home, models=extra, models_dir=models.models_dir(), max_upload_bytes=0, run_jobs=False)
        source, adapter = engine.resolve(args.model_id)
    base = models.materialize(source, models.models_dir(), log=print)
    result = export_model(base, adapter, Path(args.output), args.export_format, name=args.model_id, log=print)
    print(result.path)
    return 0


def _stop(args: argparse.Namespace) -> int:
    from studio.providers.profiles import engine_url, stop_engine

    url = args.url or engine_url()
    stopped = stop_engine(url)
    if stopped is None:
        print(f"no engine answers at {url}")
    else:
        print(f"stopped the engine at {url}: pid {stopped.pid}, studio {stopped.version}, folder {stopped.home}")
    return 0
