"""How well ArCHer's critic ranks utterances: its advantage estimators against the MDP's ground truth.

    python bench/critic_quality.py                       # TwentyQuestionsSubset-v0, the default critic after its warm-up
    python bench/critic_quality.py --states 60 --rollouts 4
    python bench/critic_quality.py --critic runs/x/checkpoint/critic.safetensors   # a trained run's critic
    python bench/critic_quality.py --json out.json       # the figures as JSON too
    python bench/critic_quality.py --model-arg critic=actor --model-arg critic_joint_action=true   # another critic
    python bench/critic_quality.py --model-arg critic=minilm --model-arg critic_turns=true --model-arg "critic_turn_join=^A:" \
        --start-episodes 4000 --algo-arg critic_warmup_steps=3000       # the hierarchical critic (agents.critic.TurnCritic)

The probe: states the SFT actor visits on the train split, and at each state a few of its own sampled
utterances plus the scripted expert's. The agent does not see the hidden target, so the MDP's state is the
dialogue, and the true Q(s, a) averages over every target **consistent with the dialogue** (the targets for
which replaying the history gives the same replies; the prior over targets is uniform and the policy sees only
the dialogue, so the posterior is uniform over them). Each pair's ground truth is the mean discounted return of
``--rollouts`` continuations by the SFT actor after taking ``a`` in ``s``, their targets drawn in turn from the
consistent ones (two halves, each stratified over the targets). Earlier versions of this bench kept the
episode's own hidden target, which rewards an estimator that reads the env's reply (the TD form) and caps a
perfect Q(s, a) at about 0.56 (issue 20).

Estimators (agents.algos.archer):

- ``q``:  min Q(s, a) - min V(s)                              (the paper's eq. 4; ArCHer's actor uses it)
- ``td``: r + gamma (1 - done) min V(s') - min V(s)           (s' the reply of the episode's own target)

Figures: the within-state correlation of each with the true advantage (estimate and truth both centred per
state), the share of within-state pairs whose true Q differs by more than 0.5 that it orders right, and two
ceilings, what a perfect critic would score against this Monte-Carlo truth:

- perfect Q - V: the true advantage itself; below 1 only through the truth's Monte-Carlo noise: the square
  root of the truth's reliability (its two halves' correlation, Spearman-Brown corrected).
- perfect TD: r + gamma V*(s') - V*(s) with the true V, on the episode's own reply; below the first because one
  reply is one sample of what Q averages. V*(s') comes from its own ``--rollouts`` continuations over the targets
  consistent with s', and the figure is corrected for their noise the same way.

For Twenty Questions, guesses are also split into consistent with the dialogue (the word could still be the
target) and inconsistent (a word the replies already ruled out): their mean critic min Q, the truth, and in how
many states with both kinds the critic puts the consistent guesses above the inconsistent ones. Every utterance
then has a kind (a question, a question the env did not understand, a consistent or an inconsistent guess): the
mean advantage of each kind by the truth and by each estimator, and what a critic that knew only the kind would
score (each pair estimated by its kind's mean true Q). On the default probe that is about 0.5: the 0.5 the issue
asks of the critic needs it to know which guesses the dialogue ruled out, nearly without fault.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

import archer_gym  # noqa: E402,F401
from tasks.twenty_questions.questions import DONT_UNDERSTAND as NOT_UNDERSTOOD  # noqa: E402
from archer_gym import Transition  # noqa: E402


# --------------------------------------------------------------------------------------------- the MDP truth
class Replayer:
    """Replays train-split episodes of one env id to a given (target, history); reuses its env objects."""

    def __init__(self, env_id: str):
        self.env_id = env_id
        self.pool: list = []

    def env(self, slot: int):
        while len(self.pool) <= slot:
            self.pool.append(gym.make(self.env_id, split="train").unwrapped)
        return self.pool[slot]

    def replay(self, slot: int, target: str, history: list[str]) -> tuple[object, str, bool]:
        """(env at the state after ``history``, its observation, whether the episode ended on the way)."""
        env = self.env(slot)
        obs, _ = env.reset(seed=0, options={"target": target})
        for action in history:
            obs, _, term, trunc, _ = env.step(action)
            if term or trunc:
                return env, obs, True
        return env, obs, False

    def consistent_targets(self, history: list[str], observation: str) -> list[str]:
        """The targets for which ``history`` gives the same dialogue (the MDP state) as ``observation``."""
        env = self.env(0)
        out = []
        for target in env.targets:
            _, obs, ended = self.replay(0, target, history)
            if obs == observation and not ended:
                out.append(target)
        return out


@dataclass
class Probe:
    """(state, utterance) pairs and their Monte-Carlo truth; arrays are ``[pairs]``."""

    pairs: list[tuple[str, list[str], str, str]]   # (episode's target, history, observation, action)
    truth: np.ndarray                               # Q*(s, a) from every rollout
    truth_halves: tuple[np.ndarray, np.ndarray]     # the same from each stratified half
    td_star: np.ndarray                             # r + gamma V*(s'), s' the episode's own reply
    td_star_halves: tuple[np.ndarray, np.ndarray]
    first: list[Transition]                         # each pair's step for the episode's own target
    guess: list[str] = field(default_factory=list)  # the word a guess names ("" if not a guess)
    guess_consistent: list[bool] = field(default_factory=list)
    seconds: float = 0.0

    def groups(self) -> list[list[int]]:
        by_state: dict[str, list[int]] = {}
        for i, (_, _, obs, _) in enumerate(self.pairs):
            by_state.setdefault(obs, []).append(i)
        return list(by_state.values())


def _rollouts(actor, replayer: Replayer, starts, gamma: float, gen, first_only: bool = False):
    """For each (target, history, action): the discounted return with the actor acting after ``action`` (batched
    256 at a time), and the first step as (reward, next observation, episode ended). The episode ends at
    termination or at the turn cap (the return is the true return: nothing follows the cap)."""
    envs, obs, ret, disc, done, first = [], [], [], [], [], []
    for slot, (target, history, action) in enumerate(starts):
        env, _, _ = replayer.replay(slot, target, history)
        o, r, term, trunc, _ = env.step(action)
        first.append((float(r), o, bool(term or trunc)))
        envs.append(env), obs.append(o), ret.append(float(r)), disc.append(gamma), done.append(term or trunc)
    if first_only:
        return ret, first
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


def _stratified(targets: list[str], n: int, rng: np.random.Generator) -> list[str]:
    """``n`` targets taken in turn from a random order of ``targets`` (every target equally often, up to one)."""
    order = rng.permutation(len(targets))
    return [targets[order[j % len(order)]] for j in range(n)]


def build_probe(actor, env_id: str, states: int, per_state: int, rollouts: int, gamma: float, seed: int) -> Probe:
    """States of whole SFT-actor episodes (a random ``states`` of them), ``per_state`` actor samples and the expert's
    utterance at each, and per pair two sets of ``rollouts`` continuations (``rollouts`` even, two stratified
    halves each): over the targets consistent with s (the truth Q*(s, a)), and over those consistent with s', the
    dialogue after the episode's own reply (r + gamma V*(s'), the perfect TD estimate)."""
    if rollouts < 2 or rollouts % 2:
        raise ValueError(f"--rollouts {rollouts}: need an even number >= 2 (two stratified halves)")
    t0 = time.time()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    replayer = Replayer(env_id)
    env = gym.make(env_id, split="train").unwrapped
    expert = env.scripted_policies()["expert"](env, np.random.default_rng(seed))
    visited, k = [], 0
    while len(visited) < 3 * states:
        target = env.targets[k % len(env.targets)]
        obs, _ = env.reset(seed=seed + k, options={"target": target})
        history, done = [], False
        while not done:
            visited.append((target, list(history), obs))
            action = actor.sample([obs], generator=gen).texts[0]
            obs, _, term, trunc, _ = env.step(action)
            history.append(action)
            done = term or trunc
        k += 1
    chosen = [visited[i] for i in rng.permutation(len(visited))[:states]]
    pairs, consistent = [], []
    for target, history, obs in chosen:
        cands = replayer.consistent_targets(history, obs)
        candidates = actor.sample([obs] * per_state, generator=gen).texts + [expert(obs)]
        for action in dict.fromkeys(candidates):
            pairs.append((target, history, obs, action))
            consistent.append(cands)
    n, half = len(pairs), rollouts // 2
    # The episode's own step: the TD form's transition, and the s' whose consistent targets the TD rollouts use.
    _, own_first = _rollouts(actor, replayer, [(t, h, a) for t, h, _, a in pairs], gamma, gen, first_only=True)
    starts, which = [], []  # which: (set 0 truth / 1 TD, half, pair)
    for i, (_, history, _, action) in enumerate(pairs):
        r0, next_obs, ended = own_first[i]
        after = [] if ended else replayer.consistent_targets(history + [action], next_obs)
        for kind, targets in ((0, consistent[i]), (1, after)):
            for h in (0, 1):
                for t in (_stratified(targets, half, rng) if targets else []):
                    starts.append((t, history, action))
                    which.append((kind, h, i))
    returns, _ = _rollouts(actor, replayer, starts, gamma, gen)
    sums, counts = np.zeros((2, 2, n)), np.zeros((2, 2, n))
    for (kind, h, i), g in zip(which, returns):
        sums[kind, h, i] += g
        counts[kind, h, i] += 1
    means = sums / np.maximum(counts, 1)
    for i, (r0, _, ended) in enumerate(own_first):
        if ended:  # a terminal reply needs no V(s'): the perfect TD estimate is r itself
            means[1, :, i] = r0
    first = [Transition(p[2], p[3], r, o, bool(ended), False) for p, (r, o, ended) in zip(pairs, own_first)]
    probe = Probe(pairs, means[0].mean(0), (means[0, 0], means[0, 1]), means[1].mean(0), (means[1, 0], means[1, 1]),
                  first, seconds=time.time() - t0)
    kb = getattr(env, "kb", None)
    if kb is not None and hasattr(kb, "parse_guess"):  # Twenty Questions: which guesses are still possible
        for (_, _, _, action), cands in zip(pairs, consistent):
            word = kb.parse_guess(action) or ""
            probe.guess.append(word)
            probe.guess_consistent.append(word in cands)
    return probe


# --------------------------------------------------------------------------------------------- scoring
def centred(values: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """``values`` minus their state's mean, NaN for a state with one pair (no within-state contrast)."""
    out = np.full(len(values), np.nan)
    for g in groups:
        if len(g) > 1:
            out[g] = values[g] - values[g].mean()
    return out


def within_state_corr(estimate: np.ndarray, truth: np.ndarray, groups: list[list[int]]) -> float:
    """Correlation of ``estimate`` and ``truth``, both centred within each state (states with one pair skipped)."""
    a, b = centred(estimate, groups), centred(truth, groups)
    keep = ~np.isnan(b)
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def ordered_right(estimate: np.ndarray, truth: np.ndarray, groups: list[list[int]], margin: float = 0.5) -> float:
    """Share of within-state pairs whose true Q differs by more than ``margin`` that ``estimate`` orders right."""
    right = total = 0
    for g in groups:
        for x in range(len(g)):
            for y in range(x + 1, len(g)):
                d = truth[g[x]] - truth[g[y]]
                if abs(d) > margin:
                    total += 1
                    right += (estimate[g[x]] - estimate[g[y]]) * d > 0
    return right / max(total, 1)


def ceilings(probe: Probe) -> dict[str, float]:
    """What a perfect critic scores against this truth (see the module docstring)."""
    groups = probe.groups()

    def reliability(halves) -> float:  # of the mean of both halves (Spearman-Brown on their correlation)
        r = max(within_state_corr(*halves, groups), 1e-6)
        return 2 * r / (1 + r)

    rel_truth, rel_td = reliability(probe.truth_halves), reliability(probe.td_star_halves)
    # corr(X*, truth) of a noiseless X*: 1 * sqrt(rel_truth) for the true advantage; for the perfect TD estimate,
    # its Monte-Carlo estimate's correlation with the truth, corrected for that estimate's own noise.
    td = within_state_corr(probe.td_star, probe.truth, groups) / np.sqrt(rel_td)
    return {"truth_reliability": rel_truth, "td_reliability": rel_td, "q": float(np.sqrt(rel_truth)),
            "td": float(min(td, np.sqrt(rel_truth)))}


def critic_estimates(critic, probe: Probe, cfg) -> dict[str, np.ndarray]:
    """Each estimator of ``cfg``'s kind on the probe's pairs (``utterance_advantages`` as the actor reads it)."""
    from dataclasses import replace

    from agents.algos.archer import utterance_advantages

    out = {}
    for kind in ("q", "td"):
        kind_cfg = replace(cfg, advantage=kind, actor_data="rollout")  # scored on the probe's own transitions
        out[kind] = utterance_advantages(critic, probe.first, kind_cfg).cpu().numpy()
    with torch.no_grad():
        obs, acts = [p[2] for p in probe.pairs], [p[3] for p in probe.pairs]
        out["min_q"] = np.concatenate([torch.minimum(*critic.q(obs[i : i + 256], acts[i : i + 256])).cpu().numpy()
                                       for i in range(0, len(obs), 256)])
    return out


def guess_report(probe: Probe, min_q: np.ndarray) -> dict:
    """Mean critic min Q and true Q of consistent vs inconsistent guesses, and per-state ordering."""
    if not probe.guess:
        return {}
    g = np.array([bool(w) for w in probe.guess])
    c = np.array(probe.guess_consistent)
    out = {}
    for name, sel in (("consistent", g & c), ("inconsistent", g & ~c)):
        out[name] = {"n": int(sel.sum()), "critic_q": float(min_q[sel].mean()) if sel.any() else float("nan"),
                     "true_q": float(probe.truth[sel].mean()) if sel.any() else float("nan")}
    states = right = 0
    for grp in probe.groups():
        cons = [i for i in grp if g[i] and c[i]]
        inc = [i for i in grp if g[i] and not c[i]]
        if cons and inc:
            states += 1
            right += int(min_q[cons].mean() > min_q[inc].mean())
    out["states_with_both"] = states
    out["states_ordered_right"] = right
    return out


KINDS = ("question", "question not understood", "consistent guess", "inconsistent guess")


def utterance_kinds(probe: Probe) -> list[str]:
    """Each pair's kind (KINDS) from its guess labels and the env's reply to it (Twenty Questions; [] otherwise)."""
    if not probe.guess:
        return []
    kinds = []
    for word, consistent, step in zip(probe.guess, probe.guess_consistent, probe.first):
        if word:
            kinds.append("consistent guess" if consistent else "inconsistent guess")
        else:
            reply = step.next_observation.rstrip("\n").rsplit("\n", 1)[-1]
            kinds.append("question not understood" if reply.endswith(NOT_UNDERSTOOD) else "question")  # its turn wasted
    return kinds


def kind_report(probe: Probe, est: dict[str, np.ndarray]) -> dict:
    """Per kind of utterance, the mean advantage (centred within its state, states with one pair left out) of the
    truth and of each estimator; and ``kind_oracle``: the within-state correlation of a critic that knew only each
    pair's kind (its estimate: the kind's mean true Q over the probe), the score that knowing which guesses the
    dialogue ruled out, and nothing about which question is the better one, would reach."""
    kinds = utterance_kinds(probe)
    if not kinds:
        return {}
    groups = probe.groups()
    kinds = np.array(kinds)
    truth, cen = centred(probe.truth, groups), {k: centred(est[k], groups) for k in ("q", "td")}
    out = {}
    for kind in KINDS:
        sel = (kinds == kind) & ~np.isnan(truth)
        if sel.any():
            out[kind] = {"n": int(sel.sum()), "truth": float(truth[sel].mean()),
                         **{k: float(v[sel].mean()) for k, v in cen.items()}}
    kind_mean = {k: probe.truth[kinds == k].mean() for k in set(kinds)}
    out["kind_oracle"] = within_state_corr(np.array([kind_mean[k] for k in kinds]), probe.truth, groups)
    return out


def report(probe: Probe, critic, cfg) -> dict:
    groups = probe.groups()
    est = critic_estimates(critic, probe, cfg)
    true_adv = probe.truth  # centring within a state turns Q* into the true advantage
    res = {"states": len(groups), "pairs": len(probe.pairs), "probe_seconds": round(probe.seconds, 1),
           "ceiling": ceilings(probe)}
    for kind in ("q", "td"):
        res[kind] = {"within_state_corr": within_state_corr(est[kind], true_adv, groups),
                     "ordered_right": ordered_right(est[kind], true_adv, groups)}
    res["guesses"] = guess_report(probe, est["min_q"])
    res["kinds"] = kind_report(probe, est)
    return res


def print_report(res: dict, rollouts: int) -> None:
    c = res["ceiling"]
    print(f"probe: {res['states']} states, {res['pairs']} (state, utterance) pairs, {rollouts} rollouts each over the "
          f"targets consistent with the dialogue ({res['probe_seconds']:.0f} s); Monte-Carlo reliability "
          f"of the truth {c['truth_reliability']:.2f}, of the perfect TD estimate {c['td_reliability']:.2f}")
    print(f"{'estimator':<34}{'within-state corr':>18}{'pairs ordered right':>21}")
    print(f"{'perfect critic, Q - V (ceiling)':<34}{c['q']:>18.2f}{'':>21}")
    print(f"{'perfect critic, TD (ceiling)':<34}{c['td']:>18.2f}{'':>21}")
    for kind, name in (("q", "critic, min Q - min V"), ("td", "critic, TD r + g V(s') - V(s)")):
        print(f"{name:<34}{res[kind]['within_state_corr']:>18.2f}{res[kind]['ordered_right']:>21.2f}")
    g = res["guesses"]
    if g:
        for name in ("consistent", "inconsistent"):
            print(f"{name} guesses: n {g[name]['n']}, critic min Q {g[name]['critic_q']:.2f}, "
                  f"true Q {g[name]['true_q']:.2f}")
        print(f"states with both kinds: {g['states_with_both']}; the critic ranks the consistent guesses higher in "
              f"{g['states_ordered_right']}")
    k = res.get("kinds")
    if k:
        print("by kind of utterance, mean advantage centred within its state (truth / critic Q - V / TD):")
        for name in KINDS:
            if name in k:
                print(f"  {name:<25} n {k[name]['n']:>4}  {k[name]['truth']:+.2f} / {k[name]['q']:+.2f} / "
                      f"{k[name]['td']:+.2f}")
        print(f"a critic that knew only each utterance's kind would score {k['kind_oracle']:.2f}")


def default_critic(env_id: str, progress: bool = True, model_args: dict | None = None, algo_args: dict | None = None,
                   start_episodes: int | None = None):
    """(actor, critic, ArcherConfig) of an ArCHer run on ``env_id`` after its (cached) critic warm-up: the defaults, or
    with ``model_args`` (ModelConfig fields, e.g. ``{"critic": "actor"}``) and ``algo_args`` (ArcherConfig fields,
    e.g. ``{"critic_warmup_steps": "250"}``) overridden, as ``agents.train``'s ``--algo-arg`` does, and
    ``start_episodes`` SFT-actor episodes to warm up on (``agents.train --start-episodes``; default 1,000)."""
    from agents.algos.critic_learner import CriticLearner
    from agents.models import ModelConfig
    from agents.sft import load_sft_actor, run_sft
    from agents.config import TrainConfig, apply_overrides
    from agents.start import warm_start_critic

    model = apply_overrides(ModelConfig(), model_args or {}, "--model-arg")
    extra = {} if start_episodes is None else {"start_episodes": start_episodes}
    cfg = TrainConfig(algo="archer", env_id=env_id, model=model, algo_config=dict(algo_args or {}), **extra)
    acfg = cfg.algorithm_config()
    sft_dir = run_sft(cfg.sft, progress=progress)
    actor = load_sft_actor(sft_dir, cfg.model)
    learner = CriticLearner(acfg.critic_config(), cfg.model, actor, np.random.default_rng(0))
    warm_start_critic(cfg, learner, actor, sft_dir, progress)
    return actor, learner.critic, acfg


def main(argv=None) -> dict:
    from archer_gym.cli import positive_int

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--env", default="archer/TwentyQuestionsSubset-v0")
    ap.add_argument("--states", type=int, default=150)
    ap.add_argument("--per-state", type=int, default=4, help="actor samples per state (plus the expert's)")
    ap.add_argument("--rollouts", type=int, default=6, help="Monte-Carlo continuations per pair (even)")
    ap.add_argument("--critic", default=None, help="a critic.safetensors (e.g. a run's checkpoint) instead of the warm-up")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--model-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="a ModelConfig field of the critic to score, e.g. critic=actor, critic_joint_action=true")
    ap.add_argument("--algo-arg", action="append", default=[], metavar="KEY=VALUE",
                    help="an ArcherConfig field of its warm-up, e.g. critic_warmup_steps=250, critic_lr=3e-4")
    ap.add_argument("--start-episodes", type=positive_int, default=None,
                    help="SFT-actor episodes the critic warms up on (default: the trainer's, 1000)")
    a = ap.parse_args(argv)

    from archer_gym.cli import parse_key_values

    try:  # the same KEY=VALUE reading as python -m agents.train's --algo-arg
        model_args, algo_args = parse_key_values(a.model_arg, "--model-arg"), parse_key_values(a.algo_arg, "--algo-arg")
    except ValueError as err:
        ap.error(str(err))
    # One thread: the tiny models cannot keep two busy, and 2 shared cores oversubscribed run 10-100x slower.
    torch.set_num_threads(1)
    try:
        actor, critic, acfg = default_critic(a.env, model_args=model_args, algo_args=algo_args,
                                             start_episodes=a.start_episodes)
    except ValueError as err:  # an unknown field or a bad value, named by apply_overrides / __post_init__
        ap.error(str(err))
    if a.critic:
        from safetensors.torch import load_model

        load_model(critic, a.critic)
    critic.eval()
    probe = build_probe(actor, a.env, a.states, a.per_state, a.rollouts, acfg.gamma, a.seed)
    res = report(probe, critic, acfg)
    print_report(res, a.rollouts)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2, default=float))
    return res


if __name__ == "__main__":
    main()
