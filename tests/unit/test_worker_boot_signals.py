"""Worker processes boot with SIGINT and SIGTERM blocked, the first one included.

A Ctrl-C reaches the whole process group; a worker still importing when it comes would
end with a KeyboardInterrupt traceback on the user's terminal. The mask is inherited across
spawn's exec, so what matters is the parent's mask at the moment each worker is spawned.
The first spawn of a process also starts multiprocessing's resource tracker, which unblocks
both signals when it is up: checked in a fresh interpreter, where no tracker runs yet."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import signal
import multiprocessing.util as util

from ddbmigrate.engines.local import ProcessEngine

seen = []
spawn = util.spawnv_passfds

def recording(path, args, passfds):
    if any("spawn_main" in str(arg) for arg in args):  # a worker, not the tracker
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, [])
        seen.append({signal.SIGINT, signal.SIGTERM} <= blocked)
    return spawn(path, args, passfds)

util.spawnv_passfds = recording
with ProcessEngine(2, 1) as engine:
    engine._start()
print(seen)
"""


def test_every_worker_is_spawned_with_the_stop_signals_blocked() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[True,", "True]"]
