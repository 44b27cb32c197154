"""A pre-imported launcher for the suite's CLI runs: `python -m <module> <args>` without paying for the imports.

Every CLI test used to start a fresh interpreter and import torch, transformers and sentence-transformers (6-8 s on
2 cores) before the entrypoint ran. This process imports them once, then for each request forks a child that runs
the module exactly as `python -m` does (``runpy.run_module(..., run_name="__main__", alter_sys=True)``, with the
request's argv, cwd, environment, stdout and stderr), so argument parsing, Hydra, the entrypoint and the exit code
are the real ones. What it skips is only interpreter start-up and imports; a request whose environment changes what
is read at import time (HF_*, OMP_*, ...) is refused, and conftest.run_cli starts a real process instead.

Protocol (one JSON object per line): request {module, args, cwd, env, umask, stdout, stderr, timeout} -> reply {rc}.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import signal
import sys
import threading
import time
import traceback

PRELOAD = ("embtune.train", "embtune.tune", "embtune.eval", "embtune.prepare", "embtune.advise")


def _child(request: dict) -> None:
    """In the forked child: become `python -m module args` and exit with its status."""
    os.setpgid(0, 0)  # its own process group: a timeout kills it and whatever it started
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 - fd 0 lives as long as the child
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    os.umask(int(request.get("umask", 0o022)))
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path[0] = os.getcwd()  # as `python -m` sets it
    module = request["module"]
    sys.modules.pop(module, None)  # executed afresh as __main__, as `python -m` does
    sys.argv = [module, *request["args"]]
    code = 0
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        if e.code is None:
            code = 0
        elif isinstance(e.code, int):
            code = e.code
        else:
            print(e.code, file=sys.stderr)
            code = 1
    except BaseException:  # noqa: BLE001 - what the interpreter prints for an uncaught exception
        traceback.print_exc()
        code = 1
    try:  # what interpreter shutdown does: join threads, run exit handlers (logging flush, W&B)
        threading._shutdown()  # type: ignore[attr-defined]
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)
            return -signal.SIGKILL
        time.sleep(0.02)


def main() -> None:
    reply = os.fdopen(os.dup(1), "w")  # replies on a copy of stdout; whatever imports print goes to stderr
    os.dup2(2, 1)
    for name in PRELOAD:
        __import__(name)
    print(json.dumps({"ready": True, "threads": threading.active_count()}), file=reply, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request)
        rc = _wait(pid, float(request.get("timeout", 600)))
        print(json.dumps({"rc": rc}), file=reply, flush=True)


if __name__ == "__main__":
    main()
