"""A process that writes the way the studio writes, over and over, until it is killed (or its disk fills up).

``python -m tests.hostile.writer OP FOLDER`` prints ``ready`` once set up, then one acknowledgement line per
completed write (``saved 3``), flushed, so the test knows what was acknowledged before its SIGKILL. Its file
writes go through a slow disk (:func:`slow_disk`), so a random kill often lands in the middle of one. OP is one of
:data:`OPS`; FOLDER holds what :func:`prepare` made. With ``--once`` it writes once and prints the error a user
would see (``error: ...``) instead of a traceback: the full-disk tests run it under RLIMIT_FSIZE.
"""

from __future__ import annotations

import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

OPS = ("save", "import", "export", "upload", "upload-small", "checkpoint")
ROWS = 3000
CHECKPOINT_FILES = {"adapter_config.json": 1, "adapter_model.safetensors": 400_000, "README.md": 2}


def chat_lines(rows: int = ROWS, tag: str = "") -> bytes:
    """A chat JSONL file of ``rows`` two-turn conversations (~0.5 KB each)."""
    return b"".join(
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"Question {i}{tag}: " + "why is the sky blue? " * 10},
                    {"role": "assistant", "content": f"Answer {i}{tag}: " + "Rayleigh scattering. " * 12},
                ]
            }
        ).encode()
        + b"\n"
        for i in range(rows)
    )


def prepare(folder: Path) -> None:
    """The workspace (one dataset), the file to import, the engine home: what every OP starts from."""
    from studio.storage.workspace import Workspace, import_file

    (folder / "data.jsonl").write_bytes(chat_lines())
    import_file(Workspace(folder / "studio.db"), folder / "data.jsonl")


def checkpoint_bytes(n: int) -> dict[str, bytes]:
    return {name: (f"{n}:".encode() * size)[: max(size, 8)] for name, size in CHECKPOINT_FILES.items()}


class _SlowFile:
    """A file whose writes go to disk 64 KB at a time with a pause between, like a slow or busy disk: the writes
    of a file last long enough that a kill at a random instant often lands in the middle of one."""

    def __init__(self, file: Any) -> None:
        self._file = file

    def write(self, data: Any) -> int:
        if not isinstance(data, bytes | bytearray | memoryview):
            return self._file.write(data)
        view = memoryview(data).cast("B")
        for start in range(0, len(view), 1 << 16):
            self._file.write(view[start : start + (1 << 16)])
            self._file.flush()
            time.sleep(0.004)
        return len(view)

    def __enter__(self) -> _SlowFile:
        self._file.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._file.__exit__(*exc)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


def slow_disk() -> None:
    """Every file this process opens for binary writing through Python is a :class:`_SlowFile`."""
    real_open = io.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = real_open(file, mode, *args, **kwargs)
        return _SlowFile(handle) if "b" in mode and ("w" in mode or "a" in mode) else handle

    io.open = open_  # pathlib and os.fdopen look it up at each call


def main(op: str, folder: Path, once: bool) -> None:
    from studio.errors import StudioError

    if not once:
        slow_disk()

    step = _step(op, folder)
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        try:
            acknowledged = step(n)
        except StudioError as exc:
            print(f"error: {exc}", flush=True)
            return
        print(acknowledged, flush=True)
        if once:
            return


def _step(op: str, folder: Path) -> Callable[[int], str]:
    from studio.errors import StudioError

    if op in ("save", "import", "export"):
        from studio.storage.workspace import Workspace

        workspace = Workspace(folder / "studio.db")
        dataset_id = workspace.datasets()[0].id
    if op == "save":
        from studio.editing.editor import DatasetEditor
        from studio.editing.ops import EditCell

        editor = DatasetEditor(workspace, dataset_id)

        def save(n: int) -> str:
            editor.apply(EditCell(id=n % ROWS, field="assistant", value=f"edit {n}"))
            editor.save_version(f"v{n}")
            return f"saved {n}"

        return save
    if op == "import":
        from studio.storage.workspace import import_file

        def import_(n: int) -> str:
            info, _ = import_file(workspace, folder / "data.jsonl", name=f"import {n}")
            return f"imported {info.id}"

        return import_
    if op == "export":
        from studio.data.writers import export_dataset
        from studio.editing.ops import EditCell

        frame = workspace.load_version(workspace.datasets()[0].head_version_id)
        frames = [frame, EditCell(id=0, field="assistant", value="the other export").apply(frame)]

        def export(n: int) -> str:
            export_dataset(frames[n % 2], folder / "out.jsonl")
            return f"exported {n % 2}"

        return export
    if op in ("upload", "upload-small"):
        from fastapi.testclient import TestClient

        from studio.engine.app import create_app

        client = TestClient(create_app(folder / "engine", run_jobs=False)).__enter__()
        data = (folder / "data.jsonl").read_bytes()
        if op == "upload-small":  # under 1 MB: Starlette keeps it in memory, the engine's own write meets the disk
            data = b"".join(data.splitlines(keepends=True)[:1000])

        def upload(n: int) -> str:
            answer = client.post("/v1/files", files={"file": (f"train-{n}.jsonl", data)}, data={"purpose": "fine-tune"})
            if answer.status_code != 200:
                raise StudioError(answer.json()["error"]["message"])
            return f"uploaded {answer.json()['id']}"

        return upload
    if op == "checkpoint":
        from studio.core.files import atomic_folder

        def checkpoint(n: int) -> str:
            with atomic_folder(folder / "job" / "checkpoints" / "step-1") as partial:
                for name, data in checkpoint_bytes(n).items():  # as model.save_pretrained writes an adapter
                    (partial / name).write_bytes(data)
            return f"checkpoint {n}"

        return checkpoint
    raise SystemExit(f"unknown op {op!r}; ops are {', '.join(OPS)}")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if a != "--once"]
    if args[0] == "prepare":
        prepare(Path(args[1]))
    else:
        main(args[0], Path(args[1]), "--once" in sys.argv)
