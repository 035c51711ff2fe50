"""Finished work directories leave at once and are deleted in the background.

Deleting a checkout costs a system call or two per file and directory. When a wave of
promotions ends together (one Freight auto-promoted into a hundred Stages), each one waiting
for its own deletion before its end is recorded keeps all of them waiting on the disk. So a
finished work directory is renamed into its work root's trash (one rename on the same file
system: the directory is gone from where it was at once), and a `Collector` deletes the trash's
contents a moment after the last arrival, in a worker thread, with none of the promotions
waiting on it. Whatever a process leaves in the trash when it stops is deleted by the next
collection, and by the controller's sweep at start-up.

Neighbours: `kargo.promotion.workdir` (where work directories are), `kargo.promotion.engine`
(removes them when a promotion ends).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import shutil
from pathlib import Path

log = logging.getLogger(__name__)

TRASH_DIR = ".trash"  # a dot-name: never a namespace's directory (`workdir.promotion_dir`)
DELAY_SECONDS = 1.0  # a collection waits this long after a removal, so that a wave ends first
MAX_WAIT_SECONDS = 30.0  # ...but never longer than this under a steady stream of removals


def move_to_trash(work_root: Path, path: Path) -> bool:
    """Take `path` (a directory under `work_root`) out of the way at once; nothing when it
    does not exist. Where it cannot be renamed into the trash, it is deleted in place. True
    when it went into the trash (a collection is then due)."""
    trash = Path(work_root) / TRASH_DIR
    target = trash / f"{path.parent.name}.{path.name}.{secrets.token_hex(4)}"
    for attempt in range(2):
        try:
            os.rename(path, target)
            return True
        except FileNotFoundError:
            if attempt or trash.is_dir():
                return False  # the directory itself is gone
            trash.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError:
            break  # another file system, or a name the trash cannot take: delete in place
    shutil.rmtree(path, ignore_errors=True)
    return False


def empty_trash(work_root: Path) -> int:
    """Delete everything in the work root's trash (the trash stays); returns how many."""
    trash = Path(work_root) / TRASH_DIR
    try:
        entries = list(os.scandir(trash))
    except FileNotFoundError:
        return 0
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(entry.path)
    return len(entries)


class Collector:
    """Empties one work root's trash in the background, `delay` seconds after the last
    `poke` (one collection at a time; pokes during one start another after it)."""

    def __init__(self, work_root: Path, delay: float = DELAY_SECONDS) -> None:
        self.work_root = Path(work_root)
        self.delay = delay
        self._task: asyncio.Task[None] | None = None
        self._poked = False

    def poke(self) -> None:
        """Something was moved into the trash: collect it soon."""
        self._poked = True
        loop = asyncio.get_running_loop()
        # a task of another (ended) event loop never finishes: this loop collects now
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = loop.create_task(self._collect())

    async def _collect(self) -> None:
        loop = asyncio.get_running_loop()
        while self._poked:
            since = loop.time()
            self._poked = False
            await asyncio.sleep(self.delay)
            while self._poked and loop.time() - since < MAX_WAIT_SECONDS:
                self._poked = False  # still arriving: wait for the wave to end
                await asyncio.sleep(self.delay)
            try:
                removed = await asyncio.to_thread(empty_trash, self.work_root)
            except OSError as err:  # never fatal: the next collection or sweep tries again
                log.warning("could not empty %s: %s", self.work_root / TRASH_DIR, err)
                return
            log.debug("deleted %d finished work directories", removed)

    async def drain(self) -> None:
        """Collect now and wait for it (for a caller that wants the disk space back now)."""
        running = asyncio.get_running_loop()
        if self._task is not None and not self._task.done() and self._task.get_loop() is running:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._poked = False
        await asyncio.to_thread(empty_trash, self.work_root)
