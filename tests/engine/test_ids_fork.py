"""Public ids are drawn from a per-thread buffer of random bytes: a forked child must not
draw the same ids as its parent (the buffer is dropped in the child at fork)."""

from __future__ import annotations

import os

from nylas_engine.ids import new_public_id


def test_a_forked_child_makes_other_ids_than_its_parent() -> None:
    new_public_id()  # the buffer holds unused bytes when the process forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ten ids, then gone without running pytest's exit
        os.write(write, " ".join(new_public_id() for _ in range(10)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        child = set(pipe.read().decode().split())
    parent = {new_public_id() for _ in range(10)}
    assert len(child) == 10 and not child & parent
