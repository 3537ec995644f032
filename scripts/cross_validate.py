"""``rasa test nlu --cross-validation`` with the same folds on every run.

Rasa 3.6 splits the data with ``StratifiedKFold(shuffle=True)`` and no seed
(``rasa.nlu.test.generate_folds``), so every run, and each of the two pipelines ``make evaluate``
compares, is scored on a different random split. With 2,000 examples and intents of 30, two runs
of the same pipeline on different splits gave intents whose examples had not changed F1 scores
up to 0.12 apart (README, "Model quality"). Here the split is seeded (:data:`FOLD_SEED`), so
both pipelines are trained and tested on exactly the same folds and a difference between them
is the pipelines' own.

Usage (the arguments are those of ``rasa test nlu``)::

    python -m scripts.cross_validate --folds 5 --nlu data/nlu --config config.yml --out DIR
"""

from __future__ import annotations

import logging
import sys

from sklearn import model_selection

logger = logging.getLogger(__name__)

FOLD_SEED = 20261130


class SeededStratifiedKFold(model_selection.StratifiedKFold):
    """``StratifiedKFold`` that shuffles with :data:`FOLD_SEED` when no seed is given."""

    def __init__(self, n_splits: int = 5, *, shuffle: bool = False,
                 random_state: int | None = None) -> None:
        if shuffle and random_state is None:
            random_state = FOLD_SEED
        super().__init__(n_splits=n_splits, shuffle=shuffle, random_state=random_state)


def use_seeded_folds() -> None:
    """Make Rasa's fold generator (which imports ``StratifiedKFold`` when it runs) seeded. For
    this process only: it is started for the cross-validation alone."""
    model_selection.StratifiedKFold = SeededStratifiedKFold


def main(argv: list[str] | None = None) -> int:
    use_seeded_folds()
    from rasa.__main__ import main as rasa_main  # noqa: PLC0415 - after the swap, and slow

    sys.argv = ["rasa", "test", "nlu", "--cross-validation",
                *(sys.argv[1:] if argv is None else argv)]
    logger.info("cross-validation with folds seeded %d", FOLD_SEED)
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
