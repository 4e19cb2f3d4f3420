"""Can a critic architecture learn which guesses the dialogue has ruled out, when it is told? A supervised check of
capacity, beside bench/critic_quality.py's check of what the RL warm-up actually learns.

    python bench/critic_capacity.py                                    # the default critic, 1,000 steps
    python bench/critic_capacity.py --model-arg critic_pooling=max --model-arg critic_interaction=true
    python bench/critic_capacity.py --target win                       # the outcome label the RL signal carries

Twenty Questions only (it needs the knowledge base to tell which words a dialogue leaves). Every guess in the start
data (the SFT actor's own 1,000 episodes, the data the critic is warmed up on) is labelled by replaying its dialogue
against every target: ``--target consistent`` (the default), whether the guessed word could still be the target;
``--target win``, whether the guess won its episode (what a Q target can see: a consistent guess wins with
probability 1 / the number of words left, an inconsistent one never). A critic built from ``--model-arg``
(ModelConfig fields, as agents.train takes them) gets a binary head on the input of its Q heads (the features
``[s, a]``, or with the pair features) and trains on 80% of the labelled guesses with cross-entropy; printed every
250 steps: the ROC AUC of "consistent" on the held-out 20% and on the guesses of bench/critic_quality.py's probe
(its states, same seed), and in how many of the probe's states with both kinds the consistent guesses score higher.

Read with critic_quality.py: if an architecture separates the probe's guesses here but its warmed-up Q does not,
the limit is the learning signal, not the architecture. One torch thread (see critic_quality.py). Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import critic_quality as cq  # noqa: E402


def labelled_guesses(episodes, env_id: str, target: str) -> list[tuple[str, str, float]]:
    """(observation, guess, label) of every guess in ``episodes``: consistent with the dialogue, or won."""
    replayer = cq.Replayer(env_id)
    kb = gym.make(env_id, split="train").unwrapped.kb
    out = []
    for ep in episodes:
        history = []
        for t in ep.transitions:
            word = kb.parse_guess(t.action)
            if word:
                # Twenty Questions terminates only on the right guess (the turn cap truncates)
                label = (word in replayer.consistent_targets(history, t.observation) if target == "consistent"
                         else t.terminated)
                out.append((t.observation, t.action, float(label)))
            history.append(t.action)
    return out


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """P(a random positive scores above a random negative), ties half."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    ap.add_argument("--target", choices=("consistent", "win"), default="consistent")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--states", type=int, default=150, help="probe states, as critic_quality.py")
    ap.add_argument("--seed", type=int, default=1, help="probe seed, as critic_quality.py")
    ap.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)

    from agents.algos.common import adam, clip_step
    from agents.config import TrainConfig, apply_overrides
    from agents.critic import mlp
    from agents.models import ModelConfig, make_critic
    from agents.sft import load_sft_actor, run_sft
    from agents.start import start_data
    from archer_gym.cli import parse_key_values

    try:
        model = apply_overrides(ModelConfig(), parse_key_values(a.model_arg, "--model-arg"), "--model-arg")
    except ValueError as err:
        ap.error(str(err))
    torch.set_num_threads(1)
    cfg = TrainConfig(algo="archer", env_id=a.env, model=model)
    if not hasattr(gym.make(a.env).unwrapped, "kb"):
        ap.error(f"{a.env} has no knowledge base to label guesses with (Twenty Questions only)")
    sft_dir = run_sft(cfg.sft, progress=True)
    actor = load_sft_actor(sft_dir, cfg.model)
    t0 = time.time()
    data = labelled_guesses(start_data(cfg, actor, sft_dir, progress=True), a.env, a.target)
    labels = np.array([d[2] for d in data])
    probe = cq.build_probe(actor, a.env, a.states, 4, 2, cfg.algorithm_config().gamma, a.seed)
    is_guess = np.array([bool(w) for w in probe.guess])
    probe_rows = np.where(is_guess)[0]
    probe_labels = np.array(probe.guess_consistent, dtype=float)[probe_rows]
    print(f"{len(data)} guesses in the start data, {labels.mean():.2f} labelled {a.target}; probe: "
          f"{len(probe_rows)} guesses ({time.time() - t0:.0f} s)")

    rng = np.random.default_rng(0)
    order = rng.permutation(len(data))
    train, held = order[: int(0.8 * len(data))], order[int(0.8 * len(data)):]
    torch.manual_seed(0)
    critic = make_critic(cfg.model, actor)
    critic.probe_head = mlp(critic.q1[0].in_features, cfg.model.critic_head_hidden)
    opt = adam(critic, a.lr)

    def logits(observations, actions):
        return critic.probe_head(critic._features(list(observations), list(actions))[1]).squeeze(-1)

    def scores(observations, actions) -> np.ndarray:
        critic.eval()
        with torch.no_grad():
            out = torch.cat([logits(observations[i : i + 128], actions[i : i + 128])
                             for i in range(0, len(observations), 128)]).numpy()
        critic.train()
        return out

    held_obs, held_act = [data[i][0] for i in held], [data[i][1] for i in held]
    probe_obs = [probe.pairs[i][2] for i in probe_rows]
    probe_act = [probe.pairs[i][3] for i in probe_rows]
    res = {"target": a.target, "guesses": len(data), "steps": []}
    print(f"{'step':>6}{'held-out AUC':>14}{'probe AUC':>11}{'probe states ordered':>22}")
    t0 = time.time()
    for step in range(a.steps + 1):
        if step % 250 == 0 or step == a.steps:
            full = np.zeros(len(probe.pairs))
            full[probe_rows] = s = scores(probe_obs, probe_act)
            g = cq.guess_report(probe, full)
            row = {"step": step, "held_out_auc": auc(scores(held_obs, held_act), labels[held]),
                   "probe_auc": auc(s, probe_labels), "ordered": g["states_ordered_right"], "of": g["states_with_both"]}
            res["steps"].append(row)
            print(f"{step:>6}{row['held_out_auc']:>14.3f}{row['probe_auc']:>11.3f}{row['ordered']:>15}/{row['of']}"
                  f"  ({time.time() - t0:.0f} s)", flush=True)
        if step == a.steps:
            break
        idx = rng.choice(train, a.batch_size)
        loss = F.binary_cross_entropy_with_logits(logits([data[i][0] for i in idx], [data[i][1] for i in idx]),
                                                  torch.tensor(labels[idx], dtype=torch.float32))
        clip_step(opt, loss, critic.parameters(), 1.0)
    return res


if __name__ == "__main__":
    main()
