"""The episode viewer: one self-contained HTML page of a run's eval episodes (issue 16, item 4).

    python -m agents.view runs/x                          # runs/x/viewer.html, 5 episodes
    python -m agents.view results/quick/runs/twenty_questions/archer/seed0 --episodes 8 --out tq.html

The page holds the run's learning curve (``metrics.csv``, an inline SVG), then, for ``--episodes`` eval episodes of the
run's final checkpoint, the dialogue turn by turn with each turn's reward, then a collapsible section per evaluation
during training (labelled by the trajectories seen, in that order; the last one open) with the episodes the trainer
kept at that evaluation: the first ``view_episodes`` (default 3) greedy and sampled eval episodes of the checkpoint of
that moment, scored by the critic of that moment, read from ``episodes/eval_<trajectories>.jsonl`` (written by
agents/trainer.py, one :class:`EpisodeView` a line, :func:`write_evaluation`; a run made before the trainer wrote
them shows the final checkpoint's episodes alone, as before). Where the run has an utterance-level
critic (ArCHer, CHAI), each utterance also shows the critic's ``Q(s, a) = min(Q1, Q2)``, ``V(s) = min(V1, V2)`` and
the advantage ``A = Q - V`` that ArCHer's actor is trained on, coloured green (A > 0) or red (A < 0), stronger with
|A| (on the scale of the final checkpoint's episodes, and each evaluation's on its own: the critic moves during
training). The page shows each utterance as the env read it (the chat messages' text: characters outside the charset
mapped, cut to the action space's length); the critic scores it as the actor sampled it, as in training. The page has
no external assets (inline CSS, no script), so it can be mailed or attached to an issue.

The episodes are played as the trainer evaluates: the run's algorithm is rebuilt and its modules loaded from the
checkpoint (as ``--resume`` does, so CHAI acts with its best-of-k pick), acting through ``eval_act`` on the eval
split's fixed starts (:func:`agents.evaluate.eval_specs`, seed ``EVAL_SEED``), the eval noise reset to the same seed.
Acting is greedy by default: greedy episodes do not depend on their batch-mates, so the K episodes are the first K of
the final curve point's greedy eval episodes (``eval_return`` in ``metrics.csv``), whatever K. ``--sampled`` samples at
temperature 1 with the eval noise seeded as the trainer seeds it; sampled episodes then depend on K (the noise is
drawn over the batch), so episode 1 of ``--episodes 4`` and of ``--episodes 8`` may differ. So do CHAI's, which
samples its k candidates in either mode.
The chat messages (:mod:`archer_gym.chat`) come from replaying each episode's actions (:func:`archer_gym.dataset.
replay_row`), which also checks the env plays them the same way again.
"""

from __future__ import annotations

import csv
import html
import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import gymnasium as gym
import torch

from archer_gym import Episode, make_vec
from archer_gym.chat import split_dialogue
from archer_gym.dataset import replay_row
from agents.evaluate import load_run_algorithm

#: Chunk of (s, a) pairs per critic call: the critic scores a text the same alone and in any batch.
CRITIC_CHUNK = 64


@dataclass
class TurnView:
    """One turn as the page shows it: the utterance as the env read it, the user message after it (the reply, and
    for tasks with a state beside the dialogue, that state), the reward, and the critic's values (None without)."""

    utterance: str
    reply: str
    reward: float
    q: float | None = None
    v: float | None = None

    @property
    def advantage(self) -> float | None:
        return None if self.q is None or self.v is None else self.q - self.v


@dataclass
class EpisodeView:
    index: int
    seed: int | None
    target: str
    success: bool
    instruction: str
    opening: str | None
    turns: list[TurnView] = field(default_factory=list)

    @property
    def ret(self) -> float:
        return float(sum(t.reward for t in self.turns))


# ---------------------------------------------------------------------------------------------------- evaluations
#: Where the trainer writes, at each evaluation, the first ``view_episodes`` eval episodes per acting mode as the page
#: shows them: ``episodes/eval_<trajectories>.jsonl``, one :class:`EpisodeView` per line (:func:`write_evaluation`).
EPISODES_DIR = "episodes"
ACTING = {"greedy": "greedy", "sampled": "sampled (temperature 1)"}


@dataclass
class EvaluationViews:
    """The episodes the trainer kept at one evaluation: the checkpoint of that moment, by acting mode."""

    trajectories: int
    iteration: int
    acting: dict[str, list[EpisodeView]] = field(default_factory=dict)


def evaluation_path(run_dir, trajectories: int) -> Path:
    return Path(run_dir) / EPISODES_DIR / f"eval_{trajectories}.jsonl"


def write_evaluation(run_dir, trajectories: int, iteration: int, acting: dict[str, list[EpisodeView]]) -> Path:
    """One evaluation's episodes as JSON lines (``trajectories``, ``iteration``, ``acting`` and the episode's view),
    written atomically (temp file + rename), so a reader never sees half an evaluation."""
    path = evaluation_path(run_dir, trajectories)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"trajectories": trajectories, "iteration": iteration, "acting": mode, **asdict(v)},
                        ensure_ascii=False) for mode, views in acting.items() for v in views]
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_evaluation(path) -> EvaluationViews:
    """What :func:`write_evaluation` wrote; ``ValueError`` naming the file and line for anything else."""
    path = Path(path)
    out = None
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        try:
            d = json.loads(line)
            trajectories, iteration, mode = d.pop("trajectories"), d.pop("iteration"), d.pop("acting")
            turns = [TurnView(**t) for t in d.pop("turns")]
            v = EpisodeView(**d, turns=turns)
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise ValueError(f"{path}:{lineno}: not an evaluation episode ({type(e).__name__}: {e})") from None
        out = out or EvaluationViews(trajectories, iteration)
        out.acting.setdefault(mode, []).append(v)
    if out is None:
        raise ValueError(f"{path} holds no episodes")
    return out


def evaluation_files(run_dir) -> dict[int, Path]:
    """The run's evaluation episode files by trajectories (none for a run made before the trainer wrote them)."""
    files = {}
    for p in (Path(run_dir) / EPISODES_DIR).glob("eval_*.jsonl"):
        n = p.stem.removeprefix("eval_")
        if n.isdigit():
            files[int(n)] = p
    return dict(sorted(files.items()))


def read_evaluations(run_dir) -> list[EvaluationViews]:
    """Every evaluation's kept episodes, in the order of training (trajectories seen)."""
    return [read_evaluation(p) for p in evaluation_files(run_dir).values()]


def drop_evaluations(run_dir, keep) -> list[int]:
    """Remove the evaluation files whose trajectories are not in ``keep`` (and any temp file left by a crash); returns
    the trajectories dropped. A resumed run calls it with its checkpoint's curve points (see agents/trainer.py)."""
    dropped = []
    for n, p in evaluation_files(run_dir).items():
        if n not in keep:
            p.unlink()
            dropped.append(n)
    for tmp in (Path(run_dir) / EPISODES_DIR).glob("eval_*.jsonl.tmp"):
        tmp.unlink()
    return dropped


# ---------------------------------------------------------------------------------------------------- playing
def play_eval_episodes(algo, cfg, episodes: int, *, greedy: bool) -> list[Episode]:
    """``episodes`` eval episodes of the algorithm's policy from the eval split's fixed starts, in start order."""
    from agents.evaluate import eval_specs
    from agents.models import autocast
    from agents.rollout import collect
    from archer_gym.evaluation import EVAL_SEED

    algo.reset_eval(EVAL_SEED)
    venv = make_vec(cfg.env_id, max(1, min(cfg.num_envs, episodes)), split="eval")
    with autocast(cfg.model), torch.no_grad():
        res = collect(venv, lambda obs: algo.eval_act(obs, greedy), eval_specs(cfg.env_id, episodes, EVAL_SEED),
                      env_id=cfg.env_id, policy_name=cfg.algo)
    venv.close()
    return res.episodes


def critic_values(critic, episodes: list[Episode]) -> list[list[tuple[float, float]]]:
    """``(min(Q1, Q2)(s, a), min(V1, V2)(s))`` of every turn of every episode, as the actor's advantage reads them."""
    pairs = [(t.observation, t.action) for e in episodes for t in e.transitions]
    q, v = [], []
    training = critic.training  # the trainer calls this mid-run (TensorBoard text): leave the critic's mode as found
    critic.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), CRITIC_CHUNK):
            obs, acts = map(list, zip(*pairs[i : i + CRITIC_CHUNK]))
            q1, q2, v1, v2 = critic(obs, acts)
            q += torch.minimum(q1, q2).float().tolist()
            v += torch.minimum(v1, v2).float().tolist()
    critic.train(training)
    out, k = [], 0
    for e in episodes:
        out.append(list(zip(q[k : k + e.length], v[k : k + e.length])))
        k += e.length
    return out


def episode_views(env_id: str, episodes: list[Episode], values: list[list[tuple[float, float]]] | None = None
                  ) -> list[EpisodeView]:
    """The page's view of each episode: its chat messages (recovered by replaying its actions on the eval split)
    split into turns, with each turn's reward and, given ``values``, the critic's (Q, V)."""
    env = gym.make(env_id, split="eval")
    views = []
    for i, ep in enumerate(episodes):
        row = replay_row(env, ep, split="eval")
        instruction, opening, turns = split_dialogue(row["messages"])
        if len(turns) != ep.length:
            raise ValueError(f"episode {i}: {len(turns)} turns in its chat messages, {ep.length} played")
        view = EpisodeView(i, ep.seed, ep.target, ep.success, instruction, opening)
        for t, ((utterance, reply), tr) in enumerate(zip(turns, ep.transitions)):
            q, v = values[i][t] if values is not None else (None, None)
            view.turns.append(TurnView(utterance, reply, tr.reward, q, v))
        views.append(view)
    env.close()
    return views


def algorithm_views(algo, env_id: str, episodes: list[Episode]) -> list[EpisodeView]:
    """:func:`episode_views` with the algorithm's critic values where it has an utterance-level critic (ArCHer, CHAI):
    what the page shows, and what the trainer logs to TensorBoard at each evaluation (:func:`turn_table`)."""
    learner = algo.critic_learner
    values = critic_values(learner.critic, episodes) if learner is not None else None
    return episode_views(env_id, episodes, values)


def turn_table(view: EpisodeView) -> tuple[list[str], list[list]]:
    """``(columns, rows)`` of one episode, a row per turn: turn (from 1), utterance, reply, reward and, with a
    critic, Q, V and A = Q - V, as on the page."""
    columns = ["turn", "utterance", "reply", "reward"]
    has_critic = any(t.advantage is not None for t in view.turns)
    if has_critic:
        columns += ["Q", "V", "A"]
    rows = []
    for i, t in enumerate(view.turns):
        row = [i + 1, t.utterance, t.reply, t.reward]
        if has_critic:
            row += [t.q, t.v, t.advantage]
        rows.append(row)
    return columns, rows


def _md_cell(column: str, x) -> str:
    if column in ("Q", "V", "A"):
        return f"{x:+.3f}"
    if column == "reward":
        return f"{x:g}"
    return str(x).replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def turn_table_markdown(view: EpisodeView) -> str:
    """One episode as Markdown (TensorBoard's text tab renders it): a line on the episode, then :func:`turn_table`."""
    columns, rows = turn_table(view)
    head = (f"target {_md_cell('target', view.target)} · seed {view.seed} · return {view.ret:g} · "
            f"{len(view.turns)} turns · {'solved' if view.success else 'not solved'}")
    lines = [head, "", "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_md_cell(c, x) for c, x in zip(columns, row)) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------- the curve
def read_metrics(path) -> list[dict]:
    """The rows of a run's ``metrics.csv`` (empty if it is missing)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _num(row: dict, key: str) -> float | None:
    try:
        x = float(row.get(key, ""))
    except ValueError:
        return None
    return x if math.isfinite(x) else None


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step) * step
    return [round(first + i * step, 10) for i in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:g}"


CURVES = (("eval_return", "eval_return_ci95", "greedy", "#1f5fbf", ""),
          ("eval_sampled_return", "eval_sampled_ci95", "sampled (temperature 1)", "#c0392b", "5 4"))


def curve_svg(rows: list[dict], width: int = 640, height: int = 260) -> str:
    """The learning curve as an inline SVG: eval return against trajectories, greedy and sampled, each with its
    95% CI band. Empty string when there is nothing to draw."""
    series = []
    for key, ci_key, label, colour, dash in CURVES:
        pts = [(x, y, _num(r, ci_key) or 0.0) for r in rows
               if (x := _num(r, "trajectories")) is not None and (y := _num(r, key)) is not None]
        if pts:
            series.append((pts, label, colour, dash))
    if not series:
        return ""
    xs = [p[0] for s in series for p in s[0]]
    ys = [y for s in series for _, m, c in s[0] for y in (m - c, m + c)]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys)
    pad = 0.05 * (y1 - y0) if y1 > y0 else 0.5
    y0, y1 = y0 - pad, y1 + pad
    left, right, top, bottom = 56, 16, 12, 40
    pw, ph = width - left - right, height - top - bottom

    def sx(x):
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y):
        return top + (y1 - y) / (y1 - y0) * ph

    out = [f'<svg class="curve" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="learning curve">',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>']
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#eee"/>'
                   f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 16}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">trajectories</text>'
               f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" text-anchor="middle">eval return</text>')
    for pts, label, colour, dash in series:
        band = [(sx(x), sy(m + c)) for x, m, c in pts] + [(sx(x), sy(m - c)) for x, m, c in reversed(pts)]
        out.append(f'<polygon points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in band)}" fill="{colour}" '
                   'fill-opacity="0.12" stroke="none"/>')
        line = " ".join(f"{sx(x):.1f},{sy(m):.1f}" for x, m, _ in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + "/>")
        out += [f'<circle cx="{sx(x):.1f}" cy="{sy(m):.1f}" r="2.5" fill="{colour}"/>' for x, m, _ in pts]
    for i, (_, label, colour, dash) in enumerate(series):
        y = top + 14 + 16 * i
        out.append(f'<line x1="{left + 10}" x2="{left + 34}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
                   f'stroke-width="2"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                   f'<text x="{left + 40}" y="{y}">{html.escape(label)} (95% CI shaded)</text>')
    out.append("</svg>")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- the page
CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1100px;
       color: #222; padding: 0 16px; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta, .note { color: #555; } .curve text { font-size: 11px; fill: #444; }
.legend { display: flex; align-items: center; gap: 10px; margin: 8px 0 16px; flex-wrap: wrap; }
.legend .bar { width: 220px; height: 14px; border: 1px solid #999;
               background: linear-gradient(to right, rgb(214,39,40), #fff, rgb(44,160,44)); }
.top { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.overview { border-collapse: collapse; margin: 4px 0 12px; font-size: 13px; }
.overview th, .overview td { border-bottom: 1px solid #ddd; padding: 2px 10px; text-align: right; }
.overview th:nth-child(2), .overview td:nth-child(2) { text-align: left; }
.episode { border: 1px solid #ccc; border-radius: 6px; margin: 14px 0; padding: 10px 14px; }
.episode h3 { font-size: 15px; margin: 0 0 6px; }
.ok { color: #1a7f37; } .fail { color: #b42318; }
.instruction, .opening { white-space: pre-wrap; background: #f6f6f6; padding: 6px 8px; border-radius: 4px;
                         font-size: 13px; margin: 4px 0; }
.turn { display: grid; grid-template-columns: 36px 1fr 330px; gap: 4px 10px; padding: 6px 0;
        border-top: 1px solid #eee; align-items: start; }
.turn .n { color: #888; font-variant-numeric: tabular-nums; }
.utterance { white-space: pre-wrap; padding: 3px 6px; border-radius: 4px; border: 1px solid #ddd; }
.reply { white-space: pre-wrap; color: #333; grid-column: 2; padding: 0 6px; }
.reply::before { content: "\\21b3  "; color: #999; }
.values { font: 12px/1.5 ui-monospace, Menlo, Consolas, monospace; grid-row: span 2; }
.values span { display: inline-block; min-width: 80px; }
details.evaluation { border-top: 2px solid #ccc; margin: 8px 0; padding: 6px 0; }
details.evaluation > summary { cursor: pointer; font-weight: 600; }
h4 { font-size: 14px; margin: 12px 0 4px; }
"""


def advantage_colour(adv: float, scale: float) -> str:
    """Background of an utterance: green for A > 0, red for A < 0, opacity |A| / scale (capped at 1)."""
    alpha = min(abs(adv) / scale, 1.0) if scale > 0 else 0.0
    rgb = "44,160,44" if adv > 0 else "214,39,40"
    return f"rgba({rgb},{alpha * 0.75:.3f})"


def _value(cls: str, label: str, x: float | None) -> str:
    return f'<span class="{cls}">{label} {x:+.3f}</span>' if x is not None else ""


def overview_table(views: list[EpisodeView], has_critic: bool) -> str:
    """One row per episode (linked to it): target, turns, return, solved and, with a critic, the mean advantage."""
    head = "<th>#</th><th>target</th><th>turns</th><th>return</th><th>solved</th>" + (
        "<th>mean A</th>" if has_critic else "")
    rows = []
    for v in views:
        cells = (f'<td><a href="#episode-{v.index}">{v.index + 1}</a></td><td>{html.escape(v.target)}</td>'
                 f"<td>{len(v.turns)}</td><td>{v.ret:g}</td><td>{'yes' if v.success else 'no'}</td>")
        if has_critic:
            advs = [t.advantage for t in v.turns if t.advantage is not None]
            cells += f"<td>{sum(advs) / len(advs):+.3f}</td>" if advs else "<td></td>"
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="overview"><tr>{head}</tr>{"".join(rows)}</table>'


def critic_legend(scale: float) -> str:
    """The colour bar of the advantage, from -scale (red) to +scale (green)."""
    return f'<span>{-scale:+.2f}</span><span class="bar"></span><span>{scale:+.2f}</span>'


def advantage_scale(views: list[EpisodeView]) -> float:
    """The largest |A| among the episodes' turns (1 without a critic): the colour scale's end."""
    return max((abs(t.advantage) for v in views for t in v.turns if t.advantage is not None), default=0.0) or 1.0


def episode_html(v: EpisodeView, scale: float, *, anchor: str, attrs: str = "") -> str:
    """One episode as ``<section class="episode">``: its header, instruction, opening and a ``<div class="turn">`` per
    turn (utterance coloured by the advantage on ``scale``, reply, reward and, with a critic, Q, V and A)."""
    esc = html.escape
    outcome = '<span class="ok">solved</span>' if v.success else '<span class="fail">not solved</span>'
    parts = [f'<section class="episode" id="{anchor}" data-episode="{v.index}" data-turns="{len(v.turns)}" '
             f'data-return="{v.ret:g}" data-seed="{v.seed}" data-target="{esc(v.target)}"{attrs}>',
             f"<h3>Episode {v.index + 1}: target {esc(v.target)} · seed {v.seed} · return {v.ret:g} · "
             f"{len(v.turns)} turns · {outcome}</h3>",
             f'<details><summary>instruction</summary><div class="instruction">{esc(v.instruction)}</div></details>']
    if v.opening is not None:
        parts.append(f'<div class="opening">{esc(v.opening)}</div>')
    for t, turn in enumerate(v.turns):
        turn_attrs = f'data-turn="{t}" data-reward="{turn.reward:g}"'
        style = ""
        if turn.advantage is not None:
            turn_attrs += f' data-q="{turn.q:.6g}" data-v="{turn.v:.6g}" data-advantage="{turn.advantage:.6g}"'
            style = f' style="background:{advantage_colour(turn.advantage, scale)}"'
        values = (f'<span class="reward">r {turn.reward:+g}</span>' + _value("q", "Q", turn.q)
                  + _value("v", "V", turn.v) + _value("advantage", "A", turn.advantage))
        parts.append(f'<div class="turn" {turn_attrs}><div class="n">{t + 1}</div>'
                     f'<div class="utterance"{style}>{esc(turn.utterance)}</div>'
                     f'<div class="values">{values}</div>'
                     f'<div class="reply">{esc(turn.reply)}</div></div>')
    parts.append("</section>")
    return "\n".join(parts)


def evaluations_html(evaluations: list[EvaluationViews], rows: list[dict]) -> str:
    """A collapsible ``<details class="evaluation" data-trajectories=T>`` per evaluation the trainer kept episodes of,
    in training order (the last one open): that checkpoint's episodes by acting mode, coloured on the evaluation's own
    advantage scale (the critic moves during training), with the curve point of ``metrics.csv`` it belongs to."""
    esc = html.escape
    by_traj = {int(x): r for r in rows if (x := _num(r, "trajectories")) is not None}
    parts = [f'<h2 id="evaluations">Episodes at each evaluation ({len(evaluations)})</h2>',
             '<p class="note">At each evaluation the trainer kept the first eval episodes of each acting mode, played by '
             "the checkpoint of that moment and, where the run has a critic, scored by the critic of that moment (the "
             "colour scale is each evaluation's own). They are the first of the eval episodes behind the curve point "
             "(eval_return for greedy, eval_sampled_return for sampled), whose mean is given in brackets.</p>"]
    for k, ev in enumerate(evaluations):
        views = [v for vs in ev.acting.values() for v in vs]
        scale = advantage_scale(views)
        has_critic = any(t.advantage is not None for v in views for t in v.turns)
        row = by_traj.get(ev.trajectories, {})
        head = [f"after {ev.trajectories:,} trajectories (iteration {ev.iteration})"]
        for mode, vs in ev.acting.items():
            mean = sum(v.ret for v in vs) / max(len(vs), 1)
            curve = _num(row, "eval_return" if mode == "greedy" else "eval_sampled_return")
            head.append(f"{mode}: {len(vs)} episodes, mean return {mean:.2f}"
                        + (f" (curve point {curve:.2f})" if curve is not None else ""))
        parts.append(f'<details class="evaluation" id="eval-{ev.trajectories}" data-trajectories="{ev.trajectories}" '
                     f'data-iteration="{ev.iteration}"' + (" open" if k == len(evaluations) - 1 else "") + ">")
        parts.append(f"<summary>{esc(' · '.join(head))}</summary>")
        if has_critic:
            parts.append(f'<div class="legend"><span>advantage A at this evaluation:</span>{critic_legend(scale)}</div>')
        for mode, vs in ev.acting.items():
            parts.append(f"<h4>{esc(ACTING.get(mode, mode))}</h4>")
            parts += [episode_html(v, scale, anchor=f"eval-{ev.trajectories}-{mode}-{v.index}",
                                   attrs=f' data-trajectories="{ev.trajectories}" data-acting="{esc(mode)}"')
                      for v in vs]
        parts.append("</details>")
    return "\n".join(parts)


def render_html(views: list[EpisodeView], *, title: str, summary: dict, curve: str, has_critic: bool,
                algo: str, evaluations: list[EvaluationViews] = (), rows: list[dict] = ()) -> str:
    """The whole page (see the module docstring). Each episode is ``<section class="episode" data-turns=N>``, each
    turn ``<div class="turn" data-reward=.. [data-q=.. data-v=.. data-advantage=..]>`` holding ``.utterance`` and
    ``.reply``: the DOM a test (or a script) reads the episodes back from. The final checkpoint's episodes come first;
    then, given ``evaluations``, a ``<details class="evaluation" data-trajectories=T>`` per evaluation whose episode
    sections also carry ``data-trajectories`` and ``data-acting``."""
    esc = html.escape
    scale = advantage_scale(views)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>",
             '<p class="meta">' + " · ".join(f"{esc(k)}: {esc(str(v))}" for k, v in summary.items()) + "</p>"]
    parts.append('<div class="top"><div><h2>Learning curve</h2>')
    parts.append(curve or '<p class="note">No evaluation rows in metrics.csv to draw.</p>')
    parts.append(f"</div><div><h2>Episodes ({len(views)})</h2>")
    parts.append(overview_table(views, has_critic))
    if evaluations:
        parts.append(f'<p class="note">and <a href="#evaluations">{len(evaluations)} evaluations</a> during training, '
                     "with the episodes of each checkpoint</p>")
    parts.append("</div></div>")
    if has_critic:
        parts.append(
            f'<div class="legend" id="legend"><span>advantage A = min Q(s, a) − min V(s):</span>{critic_legend(scale)}'
            "<span>(green: the critic rates the utterance above the state's value; red: below; stronger colour, "
            "larger |A|). Q and V are min(Q1, Q2) and min(V1, V2) of the run's online critic.</span></div>")
    else:
        parts.append(f'<p class="note" id="legend">This run ({esc(algo)}) has no utterance-level critic: each turn '
                     "shows its reward only.</p>")
    parts += [episode_html(v, scale, anchor=f"episode-{v.index}") for v in views]
    if evaluations:
        parts.append(evaluations_html(list(evaluations), list(rows)))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def build_page(run_dir, *, episodes: int = 5, greedy: bool = True) -> tuple[str, list[EpisodeView]]:
    """``(html, views)`` for a run directory: see the module docstring."""
    run_dir = Path(run_dir)
    algo, cfg = load_run_algorithm(run_dir)
    played = play_eval_episodes(algo, cfg, episodes, greedy=greedy)
    views = algorithm_views(algo, cfg.env_id, played)
    rows = read_metrics(run_dir / "metrics.csv")
    last = rows[-1] if rows else {}
    mean = sum(v.ret for v in views) / max(len(views), 1)
    summary = {"env": cfg.env_id, "algorithm": cfg.algo, "seed": cfg.seed,
               "trained": f"{last.get('trajectories', '?')} trajectories",
               "acting": "greedy" if greedy else "sampled (temperature 1, eval noise seeded as the trainer's)",
               "these episodes' mean return": f"{mean:.3f}",
               "eval split starts": f"the first {len(views)}"}
    title = f"{cfg.algo} on {cfg.env_id}: {run_dir.resolve().name}"
    evaluations = read_evaluations(run_dir)  # none for a run made before the trainer kept them: the page as before
    if evaluations:
        summary["evaluations with episodes"] = str(len(evaluations))
    page = render_html(views, title=title, summary=summary, curve=curve_svg(rows),
                       has_critic=algo.critic_learner is not None, algo=cfg.algo, evaluations=evaluations, rows=rows)
    return page, views


def main(argv=None) -> int:
    """``python -m agents.view RUN_DIR [--episodes K] [--out FILE.html] [--sampled]``: one self-contained HTML page of
    K eval episodes of the run's final checkpoint, turn by turn with rewards and (ArCHer, CHAI) the critic's Q, V and
    advantage of each utterance, the run's learning curve, and a section per evaluation with the eval episodes the
    trainer kept then (RUN_DIR/episodes/)."""
    from archer_gym.cli import ArgumentParser, positive_int
    from agents.checkpoint import CheckpointError

    p = ArgumentParser(prog="python -m agents.view", description=main.__doc__)
    p.add_argument("run", help="a training run directory (config.json, metrics.csv, checkpoint/)")
    p.add_argument("--episodes", type=positive_int, default=5, help="eval episodes to show (default 5)")
    p.add_argument("--out", default=None, help="the HTML file to write (default RUN/viewer.html)")
    p.add_argument("--sampled", action="store_true",
                   help="sample at temperature 1 (default: greedy, the episodes of the curve's eval_return)")
    p.add_argument("--threads", type=positive_int, default=1)
    a = p.parse_args(argv)
    run = Path(a.run)
    if not run.exists():
        p.error(f"{a.run} does not exist; give a training run directory (python -m agents.train --out DIR)")
    if not run.is_dir():
        p.error(f"{a.run} is not a training run (a file, not a run directory)")
    out = Path(a.out) if a.out else run / "viewer.html"
    if out.is_dir():
        p.error(f"--out {out} is a directory; give a file name such as {out / 'viewer.html'}")
    if not out.parent.is_dir() and out.parent.exists():
        p.error(f"--out {out}: {out.parent} is not a directory")
    torch.set_num_threads(a.threads)
    try:
        page, views = build_page(run, episodes=a.episodes, greedy=not a.sampled)
    except (FileNotFoundError, CheckpointError, KeyError, ValueError) as e:
        p.error(f"{run}: {e}" if str(run) not in str(e) else e)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    print(f"wrote {out} ({len(views)} episodes, {sum(len(v.turns) for v in views)} turns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
