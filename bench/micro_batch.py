"""Length-sorted micro-batches (agents.batching) against one padded batch: seconds per call of the three passes
that dominate a training iteration, on the SFT actor's own replay observations, and the ratio, in one run.

    python bench/micro_batch.py [--env archer/TwentyQuestionsSubset-v0] [--rows 64] [--repeats 8] [--sizes 0 8 16 32]

- critic: the default tiny BERT critic's Q and V on (observation, action) pairs, forward + backward
- sample: the SFT actor samples one utterance per observation (KV-cached, temperature 1)
- score: the SFT actor re-scores sampled utterances, forward + backward (the policy-gradient pass)

Uses the embedded SFT actor and its start data (built and cached on first use), one torch thread (the runs of a
comparison each get one core; more threads than free cores slow small models down 10-100x). Asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from agents.models import ModelConfig, make_critic  # noqa: E402
from agents.sft import load_sft_actor, run_sft  # noqa: E402
from agents.config import TrainConfig  # noqa: E402
from agents.start import start_data  # noqa: E402


def timed(fn, batches) -> float:
    t = time.perf_counter()
    for b in batches:
        fn(b)
    return (time.perf_counter() - t) / len(batches)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    p.add_argument("--rows", type=int, default=64, help="rows per call (the default critic and actor batch)")
    p.add_argument("--repeats", type=int, default=8)
    p.add_argument("--sizes", type=int, nargs="+", default=[0, 8, 16, 32], help="micro-batch sizes (0: one batch)")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TrainConfig(env_id=a.env)
    cfg.sft.env_id = a.env
    sft_dir = run_sft(cfg.sft, progress=False)
    actor = load_sft_actor(sft_dir, cfg.model)
    pairs = [(t.observation, t.action) for ep in start_data(cfg, actor, sft_dir) for t in ep.transitions]
    critic = make_critic(ModelConfig(), actor)
    rng = random.Random(0)
    batches = [[pairs[rng.randrange(len(pairs))] for _ in range(a.rows)] for _ in range(a.repeats)]
    lengths = [len(actor.build_prompt_ids([o])[0]) for o, _ in pairs[:2000]]
    print(f"{a.env}: {a.rows} replay observations per call, {a.repeats} calls; observation tokens mean "
          f"{sum(lengths) / len(lengths):.0f}, max {max(lengths)}")
    gen = torch.Generator().manual_seed(0)
    fresh = [actor.sample([o for o, _ in b], generator=gen) for b in batches]

    def critic_step(b):
        critic.zero_grad()
        q1, q2, v1, v2 = critic([o for o, _ in b], [x for _, x in b])
        (q1 + q2 + v1 + v2).sum().backward()

    def sample(b):
        actor.sample([o for o, _ in b], generator=gen)

    def score(i):
        actor.model.zero_grad()
        actor.score(fresh[i].prompt_ids, fresh[i].action_ids).logp.sum().backward()

    rows, base = [], {}
    for size in a.sizes:
        critic.state_encoder.micro_batch = critic.action_encoder.micro_batch = actor.micro_batch = size
        t = {"critic": timed(critic_step, batches), "sample": timed(sample, batches),
             "score": timed(score, range(len(batches)))}
        base = base or t
        rows.append((size, t))
    print(f"{'micro-batch':>11}  {'critic s':>9}  {'sample s':>9}  {'score s':>8}  speed-up vs {a.sizes[0]} (critic / sample / score)")
    for size, t in rows:
        print(f"{size or 'whole':>11}  {t['critic']:9.3f}  {t['sample']:9.3f}  {t['score']:8.3f}  "
              f"{base['critic'] / t['critic']:.1f}x / {base['sample'] / t['sample']:.1f}x / {base['score'] / t['score']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
