"""Child process of the harness: ``python -m bench.worker module:function OUT.json [args...]``.

The function does its own setup, times the measured part (:func:`bench.harness.timed`), and returns a dict:
``wall_s`` (and ``cpu_s``) of that part plus any figures of its own; the harness adds the kernel's figures.
"""

from __future__ import annotations

import importlib
import json
import os
import sys


def main() -> None:
    target, out, *args = sys.argv[1:]
    module_name, _, function_name = target.partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(*args)
    with open(out, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main()
    # Measured and written: leave without the interpreter's teardown, which can catch an engine task's daemon
    # thread (a decode loop ending its last step) inside torch and abort the process ("terminate called without an
    # active exception", exit -6, seen once in a concurrent-streams run), losing a finished measurement.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
