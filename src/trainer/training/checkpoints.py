"""Reading and writing Lightning checkpoints: no code runs on load, no half-written file on save.

A checkpoint is a pickle, and unpickling runs whatever ``__reduce__`` the file names; checkpoints
travel between people (``last.ckpt`` handed over for a resume, ``best.ckpt`` in a run folder), so
every load here is ``torch.load(weights_only=True)``: tensors, containers and plain values, plus
the few classes in :data:`SAFE_GLOBALS`. Saving writes a temporary file beside the target (same
filesystem), fsyncs it and ``os.replace``-s it over the old one: a kill or a full disk at any
point leaves the previous checkpoint whole, and no orphan in ``$TMPDIR``.

Use :class:`AtomicCheckpointIO` as the trainer's plugin (``pl.Trainer(plugins=[AtomicCheckpointIO()])``)
so Lightning's own saves and its resume load go through the same two functions.
"""

from __future__ import annotations

import contextlib
import os
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

# Classes a checkpoint written by this trainer may hold beyond what weights_only allows anyway.
# Found by saving a real checkpoint (AdamW, linear warmup LambdaLR, ModelCheckpoint, EarlyStopping,
# the run-id callback): none is needed. tests/test_checkpoint_safety.py fails when that changes, so
# an entry is added here deliberately, one class at a time, never a module.
SAFE_GLOBALS: tuple[Any, ...] = ()


class CheckpointError(OSError):
    """A checkpoint cannot be read or written; the message names the file."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint holds objects that a weights-only load refuses (it could run code)."""


def load_checkpoint(
    path: str | Path, map_location: str | Callable[..., Any] | torch.device | None = "cpu", mmap: bool = False
) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` allowing :data:`SAFE_GLOBALS`, with errors naming ``path``.

    Raises:
        FileNotFoundError: no such file.
        UnsafeCheckpointError: the file names a class or function outside the allow-list.
        CheckpointError: the file is not a readable checkpoint (empty, truncated, not a torch file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path}: no such file")
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            loaded = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UnsafeCheckpointError(
            f"checkpoint {path} holds objects a weights-only load refuses, so it was not loaded "
            f"(it could run code): {first}"
        ) from None
    except (EOFError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"checkpoint {path} is not a readable checkpoint (empty or truncated?): {err}") from None
    if not isinstance(loaded, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(loaded).__name__}, not a Lightning checkpoint dict")
    return loaded


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable; not every OS or filesystem can open a folder for that."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_save(obj: Any, path: str | Path) -> None:
    """``torch.save(obj)`` into ``path`` all at once: a temp file beside it, fsync, ``os.replace``.

    Raises:
        CheckpointError: the write failed (full disk, permissions, ...); ``path`` is as it was before.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as fh:
            torch.save(obj, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch's writer reports a failed write as RuntimeError
        tmp.unlink(missing_ok=True)
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        kept = "the previous file is unchanged" if path.exists() else "no file was written"
        message = f"cannot write checkpoint {path}: {reason}; {kept}"
        code = err.errno if isinstance(err, OSError) else None
        raise (CheckpointError(code, message) if code else CheckpointError(message)) from err
    except BaseException:  # KeyboardInterrupt, preemption signals turned into exceptions
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoint IO through :func:`atomic_save` and :func:`load_checkpoint` (local paths).

    Every load is weights-only, whatever ``weights_only`` Lightning passes: a checkpoint that needs
    more is refused with :class:`UnsafeCheckpointError`.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options (checkpoint {path})")
        atomic_save(checkpoint, path)

    def load_checkpoint(
        self, path: Any, map_location: Any | None = lambda storage, loc: storage, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return load_checkpoint(path, map_location=map_location)
