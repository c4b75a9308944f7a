"""Whether a process id on this host is still a running process (``/proc`` on Linux)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True while ``pid`` runs, or cannot be ruled out; False once it is gone or a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:  # a killed process whose parent died too may linger as a zombie (Linux)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
