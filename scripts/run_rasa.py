"""The project's ``rasa`` command: Rasa's own CLI, with the project's changes to Rasa installed
first (``components/rasa_changes.py``: why each exists, and the tests against Rasa's code).

    python -m scripts.run_rasa train ...   # apply_training(), then ``rasa train ...``
    python -m scripts.run_rasa run ...     # apply_server(), then ``rasa run ...``

``make train``, ``make run`` (``scripts/serve.py``) and the end-to-end tests start Rasa this
way; any other ``rasa`` sub-command runs unchanged.
"""

from __future__ import annotations

import logging
import sys

logger = logging.getLogger(__name__)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    from components import rasa_changes  # noqa: PLC0415 - imports Rasa: slow, only when run

    command = args[0] if args else ""
    if command == "train":
        rasa_changes.apply_training()
    elif command == "run":
        rasa_changes.apply_server()
    from rasa.__main__ import main as rasa_main  # noqa: PLC0415

    sys.argv = ["rasa", *args]
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
