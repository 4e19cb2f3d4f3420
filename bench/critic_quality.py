"""How well ArCHer's critic ranks utterances: its advantage against Monte-Carlo ground truth.

    python bench/critic_quality.py                      # TwentyQuestionsSubset-v0, the cached warm-up critic
    python bench/critic_quality.py --states 60 --rollouts 4

Builds a probe set from the SFT actor: states it visits on the train split, and at each state a few of its own
sampled utterances plus the scripted expert's. The ground truth Q(s, a) of each pair is the mean discounted
return of ``--rollouts`` continuations by the SFT actor after taking ``a`` in ``s`` (replayed from the same
target and history). Then it scores the critic's two advantage estimators (agents.algos.archer):

- ``q``:  min Q(s, a) - min V(s)                       (the paper's eq. 4)
- ``td``: r + gamma (1 - terminated) min V(s') - min V(s)   (s' the reply the env gave; ArCHer's default here)

Figures: the within-state correlation of each with the true advantage (both centred per state), and the share
of within-state pairs whose true Q differs by more than 0.5 that each orders correctly. Note that the ground
truth is conditioned on the episode's hidden target, as the TD form's reply is; Q(s, a) can only predict it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import archer_gym  # noqa: E402,F401
from agents.algos.archer import CriticLearner, utterance_advantages  # noqa: E402
from agents.sft import load_sft_actor, run_sft  # noqa: E402
from agents.trainer import TrainConfig, warm_start_critic  # noqa: E402
from archer_gym import Transition  # noqa: E402


def replay(env_id: str, target: str, history: list[str]):
    """A fresh train-split env replayed to the state after ``history`` for ``target``; (env, observation)."""
    env = gym.make(env_id, split="train").unwrapped
    obs, _ = env.reset(seed=0, options={"target": target})
    for action in history:
        obs, *_ = env.step(action)
    return env, obs


def continuation_returns(actor, env_id: str, starts, gamma: float, gen) -> tuple[list[float], list[Transition]]:
    """Discounted return from each (target, history, action) onwards, the actor acting after ``action``, and
    each start's first step as a transition (the env is deterministic given target and history)."""
    envs, obs, ret, disc, done, first = [], [], [], [], [], []
    for target, history, action in starts:
        env, o0 = replay(env_id, target, history)
        o, r, term, trunc, _ = env.step(action)
        first.append(Transition(o0, action, float(r), o, bool(term), bool(trunc)))
        envs.append(env), obs.append(o), ret.append(r), disc.append(gamma), done.append(term or trunc)
    while not all(done):
        live = [i for i, d in enumerate(done) if not d]
        for c in range(0, len(live), 256):
            chunk = live[c : c + 256]
            for i, a in zip(chunk, actor.sample([obs[i] for i in chunk], generator=gen).texts):
                obs[i], r, term, trunc, _ = envs[i].step(a)
                ret[i] += disc[i] * r
                disc[i] *= gamma
                done[i] = term or trunc
    return ret, first


def build_probe(actor, env_id: str, states: int, per_state: int, rollouts: int, gamma: float, seed: int):
    gen = torch.Generator().manual_seed(seed)
    env = gym.make(env_id, split="train").unwrapped
    expert = env.scripted_policies()["expert"](env, np.random.default_rng(seed))
    visited, k = [], 0
    while len(visited) < 3 * states:  # states of whole SFT episodes, then a random subset
        target = env.all_targets[k % len(env.all_targets)]
        obs, _ = env.reset(seed=seed + k, options={"target": target})
        history, done = [], False
        while not done:
            visited.append((target, list(history), obs))
            action = actor.sample([obs], generator=gen).texts[0]
            obs, _, term, trunc, _ = env.step(action)
            history.append(action)
            done = term or trunc
        k += 1
    rng = np.random.default_rng(seed)
    chosen = [visited[i] for i in rng.permutation(len(visited))[:states]]
    pairs = []
    for target, history, obs in chosen:
        candidates = actor.sample([obs] * per_state, generator=gen).texts + [expert(obs)]
        for action in dict.fromkeys(candidates):
            pairs.append((target, history, obs, action))
    returns, first = continuation_returns(actor, env_id, [(t, h, a) for t, h, _, a in pairs for _ in range(rollouts)],
                                          gamma, gen)
    truth = np.array(returns).reshape(len(pairs), rollouts).mean(1)
    return pairs, truth, first[::rollouts]  # one transition per pair


def score(estimate: np.ndarray, truth: np.ndarray, groups: list[list[int]]) -> tuple[float, float]:
    """(within-state correlation, pair ordering accuracy)."""
    a, b, right, total = [], [], 0, 0
    for g in groups:
        if len(g) < 2:
            continue
        a += list(estimate[g] - estimate[g].mean())
        b += list(truth[g] - truth[g].mean())
        for x in range(len(g)):
            for y in range(x + 1, len(g)):
                if abs(truth[g[x]] - truth[g[y]]) > 0.5:
                    total += 1
                    right += (estimate[g[x]] - estimate[g[y]]) * (truth[g[x]] - truth[g[y]]) > 0
    return float(np.corrcoef(a, b)[0, 1]), right / max(total, 1)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    ap.add_argument("--states", type=int, default=150)
    ap.add_argument("--per-state", type=int, default=4, help="actor samples per state (plus the expert's)")
    ap.add_argument("--rollouts", type=int, default=6, help="Monte-Carlo continuations per pair")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = TrainConfig(algo="archer", env_id=a.env)
    acfg = cfg.algorithm_config()
    sft_dir = run_sft(cfg.sft, progress=True)
    actor = load_sft_actor(sft_dir, cfg.model)
    learner = CriticLearner(acfg, cfg.model, actor, np.random.default_rng(0))
    warm_start_critic(cfg, learner, actor, sft_dir, progress=True)
    t0 = time.time()
    pairs, truth, trans = build_probe(actor, a.env, a.states, a.per_state, a.rollouts, acfg.gamma, a.seed)
    probe_s = time.time() - t0
    groups: dict[str, list[int]] = {}
    for i, (_, _, obs, _) in enumerate(pairs):
        groups.setdefault(obs, []).append(i)
    print(f"probe: {len(groups)} states, {len(pairs)} (state, utterance) pairs, {a.rollouts} rollouts each "
          f"({probe_s:.0f} s)")
    for kind in ("q", "td"):
        acfg.advantage = kind
        est = utterance_advantages(learner.critic, trans, acfg).numpy()
        corr, acc = score(est, truth, list(groups.values()))
        print(f"advantage '{kind}': within-state correlation with the true advantage {corr:.2f}, "
              f"pairs ordered right {acc:.2f}")


if __name__ == "__main__":
    main()
