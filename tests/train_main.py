"""``python -m tests.train_main ...`` = ``python -m agents.train ...`` with the test-only toy task registered
(archer/ToyColour-v0); the multi-process test launches it with ``accelerate launch -m tests.train_main``."""

import sys

from agents.train import main
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)

if __name__ == "__main__":
    sys.exit(main())
