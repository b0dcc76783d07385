"""Starts `botyard serve` processes by fork from one process that imported Botyard once.

Each exec'd `botyard serve` spends ~2.5 s of CPU importing before it reaches the migration,
so on a 2-core CI machine five rounds of three exec'd servers cost over a minute and a half.
Forked from this launcher, the children skip the imports and run exactly the CLI's ``serve``
(settings, migration under its lock, uvicorn) at the same moment.

Protocol, one JSON object per line on stdin, one answer per line on stdout:
``{"start": [{"cwd", "env", "port", "log"}, ...]}`` -> ``{"pids": [...]}``;
``{"poll": pid}`` -> ``{"exit": code or null}``; ``{"stop": [pid, ...]}`` -> ``{"exits": [...]}``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import botyard.cli
import botyard.main

_exits: dict[int, int] = {}


def _child(cwd: str, env: dict[str, str], port: int, log: str) -> None:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    code = 0
    try:
        botyard.cli.app(["serve", "--host", "127.0.0.1", "--port", str(port)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _status(pid: int, block: bool) -> int | None:
    if pid in _exits:
        return _exits[pid]
    done, status = os.waitpid(pid, 0 if block else os.WNOHANG)
    if done == 0:
        return None
    _exits[pid] = os.waitstatus_to_exitcode(status)
    return _exits[pid]


def main() -> None:
    for line in sys.stdin:
        command = json.loads(line)
        if "start" in command:
            pids = []
            for spec in command["start"]:
                pid = os.fork()
                if pid == 0:
                    _child(spec["cwd"], spec["env"], spec["port"], spec["log"])
                pids.append(pid)
            answer: dict[str, object] = {"pids": pids}
        elif "poll" in command:
            answer = {"exit": _status(command["poll"], block=False)}
        else:
            exits = []
            for pid in command["stop"]:
                if _status(pid, block=False) is None:
                    os.kill(pid, signal.SIGTERM)
                    deadline = time.monotonic() + 15
                    while _status(pid, block=False) is None and time.monotonic() < deadline:
                        time.sleep(0.05)
                    if _status(pid, block=False) is None:
                        os.kill(pid, signal.SIGKILL)
                exits.append(_status(pid, block=True))
            answer = {"exits": exits}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
