"""Child process of the harness: ``python -m bench.worker module:function OUT.json [args...]``.

The function does its own setup, times the measured part (:func:`bench.harness.timed`), and returns a dict:
``wall_s`` (and ``cpu_s``) of that part plus any figures of its own; the harness adds the kernel's figures.
"""

from __future__ import annotations

import importlib
import json
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
