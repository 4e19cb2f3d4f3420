"""Session-wide test settings.

torch runs on ONE intra-op thread in every test process. The models here are tiny (a 2-layer, 64-wide GPT-2 and
BERT), too small to keep two threads busy, and on a shared 2-core machine more threads than free cores make them
10-100x slower (issue 15: the fast suite took 10 min on a loaded 2-core machine and under 2 min pinned to one
thread). The learning tests and compare.py already train with ``threads=1``, so their figures are unchanged.
"""

import torch

torch.set_num_threads(1)
