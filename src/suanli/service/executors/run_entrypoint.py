"""Run a Python job's entrypoint: ``python -m suanli.service.executors.run_entrypoint MOD:FN JSON``.

Imports ``MOD``, calls ``FN(**json.loads(JSON))`` and prints the return value as JSON (``str()``
for what JSON cannot hold), nothing for ``None``; the same on every executor. An exception
exits 1 with its traceback on stderr, so the executor reports the job as failed with the
reason in its logs.
"""

from __future__ import annotations

import importlib
import json
import sys


def main(argv: list[str]) -> int:
    """Entry point; returns the process exit status."""
    if len(argv) != 2 or ":" not in argv[0]:
        print("usage: run_entrypoint package.module:function '{\"arg\": 1}'", file=sys.stderr)
        return 2
    module_name, _, func_name = argv[0].partition(":")
    func = getattr(importlib.import_module(module_name), func_name)
    result = func(**json.loads(argv[1]))
    if result is not None:
        print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
