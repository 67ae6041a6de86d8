"""Send what a run could not log while its tracking server was unreachable.

    python -m trainer.sync outputs/train/2024-05-01/12-00-00
    python -m trainer.sync <run folder> --tracking-uri http://mlflow.internal:5000   # the server moved

A training job whose server went away keeps the calls it missed in ``<run folder>/tracking_spool/``
(:mod:`trainer.tracking.spool`) and sends them itself if the server comes back in time. This sends the
rest, in order and at most once each, including the end of the run (its status becomes FINISHED or
FAILED as the job ended). Exit status 0 when nothing is left, 1 when the server still does not answer.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trainer.tracking.spool import SyncResult, sync_run_folder


def run_sync(run_dir: Path, tracking_uri: str | None = None) -> SyncResult:
    """Replay ``run_dir``'s tracking spool into its server (or ``tracking_uri``)."""
    return sync_run_folder(run_dir, tracking_uri)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.sync", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a training run folder holding tracking_spool/")
    parser.add_argument("--tracking-uri", help="send to this server instead of the one the spool names")
    args = parser.parse_args(argv)
    result = run_sync(args.run_dir, args.tracking_uri)
    print(result.summary(), flush=True)
    return 0 if result.done else 1


if __name__ == "__main__":
    sys.exit(main())
