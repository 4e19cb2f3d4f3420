"""The episode viewer (agents.view, issue 16 item 4) on the toy task: tiny ArCHer and PPO runs of one iteration, each
rendered to HTML. The page is read back with the stdlib's html.parser (and, where Debian's chromium is installed,
from the DOM headless Chromium builds), and checked against episodes played apart from the viewer: every turn of
every episode it claims, its texts and rewards, the critic's values where the run has a critic (recomputed from the
checkpoint's critic weights) and none where it has not."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import gymnasium as gym
import pytest
import torch
from safetensors.torch import load_model

from agents import view
from agents.evaluate import actor_act_fn, eval_specs, load_run_actor
from agents.models import ModelConfig, make_critic
from agents.rollout import collect
from agents.sft import SFTConfig
from agents.trainer import EVAL_SEED, TrainConfig, Trainer
from archer_gym import make_vec
from archer_gym.chat import chat_messages, split_dialogue
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)

ENV = "archer/ToyColour-v0"
EPISODES = 3


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One-iteration toy runs of ArCHer and CHAI (a critic) and PPO (none), in a cache of their own."""
    root = tmp_path_factory.mktemp("view")
    old = os.environ.get("ARCHER_GYM_CACHE")
    os.environ["ARCHER_GYM_CACHE"] = str(root / "cache")
    out = {}
    small_critic = {"critic_updates": 2, "batch_size": 16, "critic_warmup_steps": 4}
    algo_config = {"archer": {"warmup_iterations": 0, **small_critic}, "ppo": {},
                   "chai": {"k": 2, **{f"critic.{k}": v for k, v in small_critic.items()}}}
    for algo in ("archer", "chai", "ppo"):
        cfg = TrainConfig(algo=algo, env_id=ENV, trajectories=16, rollout_trajectories=16, num_envs=8, eval_every=16,
                          eval_episodes=EPISODES, eval_sampled=False, out=str(root / algo), start_episodes=16,
                          sft=SFTConfig(env_id=ENV, episodes=200, epochs=2, model=ModelConfig()),
                          algo_config=algo_config[algo])
        Trainer(cfg, progress=False).train()
        out[algo] = root / algo
    yield out
    if old is None:
        os.environ.pop("ARCHER_GYM_CACHE")
    else:
        os.environ["ARCHER_GYM_CACHE"] = old


def curve_cfg(out: Path) -> TrainConfig:
    """An ArCHer toy run of three iterations, evaluated (greedy and sampled) at 0, 16, 32 and 48 trajectories on as
    many eval episodes as the trainer keeps for the viewer, so each curve point is the mean of the kept episodes."""
    return TrainConfig(algo="archer", env_id=ENV, trajectories=48, rollout_trajectories=16, num_envs=8, eval_every=16,
                       eval_episodes=EPISODES, view_episodes=EPISODES, eval_sampled=True, out=str(out),
                       start_episodes=16, sft=SFTConfig(env_id=ENV, episodes=200, epochs=2, model=ModelConfig()),
                       algo_config={"warmup_iterations": 0, "critic_updates": 2, "batch_size": 16,
                                    "critic_warmup_steps": 4})


@pytest.fixture(scope="module")
def curve_run(runs, tmp_path_factory):
    """:func:`curve_cfg`'s run, uninterrupted (in the cache of ``runs``)."""
    out = tmp_path_factory.mktemp("curve") / "archer"
    Trainer(curve_cfg(out), progress=False).train()
    return out


class PageReader(HTMLParser):
    """The episodes a viewer page holds: ``episodes``, the final checkpoint's, ``[{"attrs": {...}, "turns": [{"attrs",
    "utterance", "reply"}]}]``; ``evaluations``, one ``{"attrs", "episodes": [...]}`` per evaluation section; plus the
    tags seen (to check the page loads nothing from outside)."""

    def __init__(self):
        super().__init__()
        self.episodes: list[dict] = []
        self.evaluations: list[dict] = []
        self.current: dict | None = None  # the episode being read
        self.stack: list[str | None] = []  # the text field each open element feeds (None: none)
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        classes = (attrs.get("class") or "").split()
        field = self.stack[-1] if self.stack else None
        if tag == "details" and "evaluation" in classes:
            self.evaluations.append({"attrs": attrs, "episodes": []})
        elif tag == "section" and "episode" in classes:
            self.current = {"attrs": attrs, "turns": []}
            inside = self.evaluations[-1]["episodes"] if "data-trajectories" in attrs else self.episodes
            inside.append(self.current)
        elif tag == "div" and "turn" in classes:
            self.current["turns"].append({"attrs": attrs, "utterance": "", "reply": ""})
        elif tag == "div" and ("utterance" in classes or "reply" in classes):
            field = "utterance" if "utterance" in classes else "reply"
        if tag not in ("meta", "br", "img", "line", "rect", "circle", "polygon", "polyline", "link", "input"):
            self.stack.append(field)

    def handle_endtag(self, tag):
        if tag not in ("meta", "br", "img", "line", "rect", "circle", "polygon", "polyline", "link", "input"):
            self.stack.pop()

    def handle_data(self, data):
        if self.stack and self.stack[-1] is not None:
            self.current["turns"][-1][self.stack[-1]] += data


def read_page(text: str) -> PageReader:
    reader = PageReader()
    reader.feed(text)
    reader.close()
    return reader


def render(run: Path, tmp_path: Path, *args: str) -> tuple[str, Path]:
    out = tmp_path / f"{run.name}.html"
    assert view.main([str(run), "--episodes", str(EPISODES), "--out", str(out), *args]) == 0
    return out.read_text(encoding="utf-8"), out


def reference_episodes(run: Path):
    """The run's first EPISODES greedy eval episodes, played apart from the viewer (the final actor through
    agents.evaluate, the same fixed starts), with their chat messages from a replay of the actions."""
    actor, cfg = load_run_actor(run)
    played = collect(make_vec(ENV, 2, split="eval"), actor_act_fn(actor, greedy=True),
                     eval_specs(ENV, EPISODES, EVAL_SEED)).episodes
    env = gym.make(ENV, split="eval")
    dialogues = []
    for ep in played:
        env.reset(seed=ep.seed, options={"target": ep.target})
        replies = [env.step(t.action)[4]["reply"] for t in ep.transitions]
        dialogues.append((split_dialogue(chat_messages(env))[2], replies))
    return played, dialogues


@pytest.mark.parametrize("algo", ["archer", "ppo"])  # (CHAI acts by best-of-k samples: its critic test checks it)
def test_page_holds_every_turn_of_every_episode(runs, tmp_path, algo):
    text, _ = render(runs[algo], tmp_path)  # greedy: the episodes of the curve's last eval_return
    page = read_page(text)
    played, dialogues = reference_episodes(runs[algo])
    assert len(page.episodes) == EPISODES
    assert f"Episodes ({EPISODES})" in text
    links = [a["href"] for t, a in page.tags if t == "a"]  # the overview table links every episode, then the evaluations
    assert links == [f"#{e['attrs']['id']}" for e in page.episodes] + ["#evaluations"]
    for shown, ep, (turns, replies) in zip(page.episodes, played, dialogues):
        assert int(shown["attrs"]["data-turns"]) == len(shown["turns"]) == ep.length == len(turns) > 0
        assert float(shown["attrs"]["data-return"]) == pytest.approx(ep.ret)
        for t, (turn, tr, (utterance, user), reply) in enumerate(zip(shown["turns"], ep.transitions, turns, replies)):
            assert int(turn["attrs"]["data-turn"]) == t
            assert turn["utterance"] == utterance  # the utterance as the env read it
            assert turn["reply"] == user and user.startswith(reply)
            assert float(turn["attrs"]["data-reward"]) == tr.reward
    last = view.read_metrics(runs[algo] / "metrics.csv")[-1]
    assert sum(ep.ret for ep in played) / EPISODES == pytest.approx(float(last["eval_return"]))
    # self-contained: nothing is fetched (the SVG's xmlns is a name, not a request)
    assert not [t for t, a in page.tags if t in ("link", "script", "img", "iframe") or "src" in a]
    assert "url(" not in text and "<svg" in text


@pytest.mark.parametrize("algo", ["archer", "chai"])
def test_critic_values_shown_from_the_checkpoint(runs, tmp_path, algo):
    run = runs[algo]
    text = render(run, tmp_path, "--sampled")[0]
    page = read_page(text)
    turns = [t for e in page.episodes for t in e["turns"]]
    assert len(turns) >= EPISODES
    # recompute from the checkpoint's critic weights, loaded alone (not through the viewer's algorithm)
    actor, cfg = load_run_actor(run)
    critic = make_critic(cfg.model, actor)
    load_model(critic, str(run / "checkpoint" / "critic.safetensors"))
    critic.eval()
    played = view.play_eval_episodes(*view.load_run_algorithm(run), EPISODES, greedy=False)
    obs = [t.observation for e in played for t in e.transitions]
    acts = [t.action for e in played for t in e.transitions]
    assert len(turns) == len(acts)  # (Q is of the utterance as sampled; the page shows it as the env read it)
    with torch.no_grad():
        q1, q2, v1, v2 = critic(obs, acts)
    q, v = torch.minimum(q1, q2).tolist(), torch.minimum(v1, v2).tolist()
    for turn, qi, vi in zip(turns, q, v):
        a = turn["attrs"]
        assert float(a["data-q"]) == pytest.approx(qi, abs=1e-4)
        assert float(a["data-v"]) == pytest.approx(vi, abs=1e-4)
        assert float(a["data-advantage"]) == pytest.approx(qi - vi, abs=1e-4)
    assert 'id="legend"' in text and "advantage A = min Q(s, a)" in text


def test_no_critic_values_for_ppo(runs, tmp_path):
    text = render(runs["ppo"], tmp_path)[0]
    page = read_page(text)
    turns = [t for e in page.episodes for t in e["turns"]]
    assert turns and not any(k in t["attrs"] for t in turns for k in ("data-q", "data-v", "data-advantage"))
    assert "has no utterance-level critic" in text and "advantage A =" not in text


def test_advantage_colours_and_legend(runs, tmp_path):
    assert view.advantage_colour(1.0, 2.0) == "rgba(44,160,44,0.375)"     # green, half the scale
    assert view.advantage_colour(-2.0, 2.0) == "rgba(214,39,40,0.750)"    # red, the page's largest |A|
    assert view.advantage_colour(-9.0, 2.0) == "rgba(214,39,40,0.750)"    # capped
    assert view.advantage_colour(0.0, 2.0).endswith(",0.000)")
    text = render(runs["archer"], tmp_path)[0]
    page = read_page(text)
    advs = [float(t["attrs"]["data-advantage"]) for e in page.episodes for t in e["turns"]]
    scale = max(abs(a) for a in advs)
    assert f"{-scale:+.2f}" in text and f"{scale:+.2f}" in text  # the legend's ends
    for a in advs:
        assert f'style="background:{view.advantage_colour(a, scale)}"' in text


def test_curve_svg_from_metrics():
    rows = [{"trajectories": str(n), "eval_return": str(r), "eval_return_ci95": "0.5", "eval_sampled_return": "nan"}
            for n, r in ((0, -6.0), (64, -5.0), (128, -4.5))]
    svg = view.curve_svg(rows)
    greedy = [line for line in svg.splitlines() if line.startswith("<polyline")]
    assert len(greedy) == 1 and len(greedy[0].split('points="')[1].split('"')[0].split()) == 3
    assert "sampled" not in svg  # a column of nan draws nothing
    assert view.curve_svg([]) == "" and view.curve_svg([{"trajectories": "0"}]) == ""


def test_corrupt_checkpoint_is_one_line(runs, tmp_path, capsys):
    run = tmp_path / "copy"
    shutil.copytree(runs["archer"], run)
    critic = run / "checkpoint" / "critic.safetensors"
    data = bytearray(critic.read_bytes())
    data[-1] ^= 0xFF
    critic.write_bytes(bytes(data))
    with pytest.raises(SystemExit) as exc:
        view.main([str(run), "--out", str(tmp_path / "x.html")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and "critic.safetensors" in lines[0], lines
    assert not (tmp_path / "x.html").exists()


def replayed(episode: dict) -> list[tuple[str, float, bool]]:
    """``(reply, reward, done)`` of each turn of a page's episode, its utterances played again in a fresh eval env
    from its seed and target (as the page shows them)."""
    env = gym.make(ENV, split="eval")
    env.reset(seed=int(episode["attrs"]["data-seed"]), options={"target": episode["attrs"]["data-target"]})
    out = []
    for turn in episode["turns"]:
        _, r, term, trunc, info = env.step(turn["utterance"])
        out.append((info["reply"], float(r), term or trunc))
    env.close()
    return out


def test_page_has_every_evaluation_with_every_turn(curve_run, tmp_path):
    """A section per evaluation point of metrics.csv, in training order, each holding the kept greedy and sampled
    episodes of that moment, every turn of each: the kept episodes' returns and turns are those of the curve point
    (eval_episodes = view_episodes here), each dialogue plays again turn by turn in the env with the same replies,
    rewards and end, and every turn carries the critic's Q, V and A = Q - V. The last evaluation's greedy episodes
    are the final checkpoint's, which the page plays itself."""
    text, _ = render(curve_run, tmp_path)
    page = read_page(text)
    rows = view.read_metrics(curve_run / "metrics.csv")
    points = [int(e["attrs"]["data-trajectories"]) for e in page.evaluations]
    assert points == [int(r["trajectories"]) for r in rows] == [0, 16, 32, 48]
    assert f"Episodes at each evaluation ({len(rows)})" in text
    assert ["open" in e["attrs"] for e in page.evaluations] == [False, False, False, True]  # the last one open
    for ev, row in zip(page.evaluations, rows):
        by_mode = {}
        for episode in ev["episodes"]:
            assert episode["attrs"]["data-trajectories"] == ev["attrs"]["data-trajectories"]
            by_mode.setdefault(episode["attrs"]["data-acting"], []).append(episode)
        assert {m: len(eps) for m, eps in by_mode.items()} == {"greedy": EPISODES, "sampled": EPISODES}
        for mode, key in (("greedy", "eval_return"), ("sampled", "eval_sampled_return")):
            returns = [float(e["attrs"]["data-return"]) for e in by_mode[mode]]
            assert sum(returns) / EPISODES == pytest.approx(float(row[key]))
        turns = [int(e["attrs"]["data-turns"]) for e in by_mode["greedy"]]
        assert sum(turns) / EPISODES == pytest.approx(float(row["eval_turns"]))
        for episode in ev["episodes"]:
            assert int(episode["attrs"]["data-turns"]) == len(episode["turns"]) > 0
            again = replayed(episode)
            assert [d for _, _, d in again] == [False] * (len(again) - 1) + [True]  # it ends where the page ends
            for t, (turn, (reply, reward, _)) in enumerate(zip(episode["turns"], again)):
                a = turn["attrs"]
                assert int(a["data-turn"]) == t and float(a["data-reward"]) == reward
                assert turn["reply"].startswith(reply)
                assert float(a["data-advantage"]) == pytest.approx(float(a["data-q"]) - float(a["data-v"]), abs=1e-5)
            assert float(episode["attrs"]["data-return"]) == pytest.approx(sum(r for _, r, _ in again))
    last = [e for e in page.evaluations[-1]["episodes"] if e["attrs"]["data-acting"] == "greedy"]
    assert [[(t["utterance"], t["reply"], t["attrs"]) for t in e["turns"]] for e in last] == \
           [[(t["utterance"], t["reply"], t["attrs"]) for t in e["turns"]] for e in page.episodes]
    ids = [a["id"] for t, a in page.tags if "id" in a]
    assert len(ids) == len(set(ids))  # every episode has an anchor of its own


def test_evaluations_of_a_run_without_a_critic_show_rewards_only(runs, tmp_path):
    page = read_page(render(runs["ppo"], tmp_path)[0])
    assert [int(e["attrs"]["data-trajectories"]) for e in page.evaluations] == [0, 16]
    turns = [t for e in page.evaluations for ep in e["episodes"] for t in ep["turns"]]
    assert turns and not any(k in t["attrs"] for t in turns for k in ("data-q", "data-v", "data-advantage"))


def test_a_run_without_episode_files_renders_as_before(runs, tmp_path, capsys):
    """A run made before the trainer kept evaluation episodes has no episodes/: its page is the final checkpoint's
    episodes and the curve, as it was; a corrupt episode file is one line naming it."""
    run = tmp_path / "old"
    shutil.copytree(runs["ppo"], run)
    with_files = read_page(render(run, tmp_path)[0])
    shutil.rmtree(run / view.EPISODES_DIR)
    text, _ = render(run, tmp_path)
    page = read_page(text)
    assert not page.evaluations and "Episodes at each evaluation" not in text and 'href="#evaluations"' not in text
    assert [[t["attrs"] for t in e["turns"]] for e in page.episodes] == \
           [[t["attrs"] for t in e["turns"]] for e in with_files.episodes]
    bad = view.evaluation_path(run, 16)
    bad.parent.mkdir()
    bad.write_text('{"trajectories": 16}\n')
    with pytest.raises(SystemExit) as exc:
        view.main([str(run), "--out", str(tmp_path / "x.html")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(lines) == 1 and "eval_16.jsonl:1" in lines[0], lines


def test_resume_keeps_the_episode_files_with_metrics_csv(curve_run, tmp_path):
    """An evaluation writes metrics.csv and its episode file before its checkpoint. A crash in between leaves an
    evaluation the checkpoint does not hold: --resume drops it from both, so the episode files are metrics.csv's
    evaluation points, then plays it again; the finished run's files are the uninterrupted run's, byte for byte."""
    run = tmp_path / "part"

    def points():
        return ([int(r["trajectories"]) for r in view.read_metrics(run / "metrics.csv")],
                list(view.evaluation_files(run)))

    Trainer(curve_cfg(run), progress=False).train(max_iterations=1)
    assert points() == ([0, 16], [0, 16])
    crashing = Trainer(curve_cfg(run), resume=True, progress=False)
    save = crashing.save

    def save_or_die():
        if crashing.counts.trajectories == 32:
            raise OSError("killed before the checkpoint of the evaluation at 32")
        save()

    crashing.save = save_or_die
    with pytest.raises(OSError, match="killed"):
        crashing.train()
    assert points() == ([0, 16, 32], [0, 16, 32])  # written ahead of a checkpoint that never came
    resumed = Trainer(curve_cfg(run), resume=True, progress=False)
    assert points() == ([0, 16], [0, 16])  # as the checkpoint holds them
    resumed.train()
    assert points() == ([0, 16, 32, 48], [0, 16, 32, 48])
    for n, path in view.evaluation_files(curve_run).items():
        assert (run / view.EPISODES_DIR / path.name).read_bytes() == path.read_bytes(), n


def chromium_binary() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def test_page_renders_in_headless_chromium(curve_run, tmp_path):
    """The DOM headless Chromium builds from the page holds every turn of every episode, the final checkpoint's and
    each evaluation's, with the same texts."""
    binary = chromium_binary()
    if binary is None:
        pytest.skip("no chromium binary on PATH (Debian: apt-get install -y chromium); the DOM render test needs it")
    text, path = render(curve_run, tmp_path)
    # --no-sandbox: chromium refuses to run as root with its sandbox (CI containers); a profile of its own
    done = subprocess.run([binary, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'p'}",
                           "--dump-dom", path.as_uri()], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom, source = read_page(done.stdout), read_page(text)
    assert len(dom.episodes) == EPISODES
    # every evaluation section (collapsed or open) with every turn of its greedy and sampled episodes
    assert [e["attrs"]["data-trajectories"] for e in dom.evaluations] == ["0", "16", "32", "48"]
    assert [len(e["episodes"]) for e in dom.evaluations] == [2 * EPISODES] * 4
    kept = [ep for e in dom.evaluations for ep in e["episodes"]]
    for shown, src in zip(dom.episodes + kept, source.episodes + [ep for e in source.evaluations for ep in e["episodes"]]):
        assert shown["attrs"] == src["attrs"]
        assert len(shown["turns"]) == int(src["attrs"]["data-turns"]) == len(src["turns"])
        assert [(t["utterance"], t["reply"], t["attrs"]) for t in shown["turns"]] == \
               [(t["utterance"], t["reply"], t["attrs"]) for t in src["turns"]]


# ---------------------------------------------------------------------------------------------------- TensorBoard
def tensorboard_texts(run: Path, tag: str = "episodes/eval_greedy_0") -> dict[int, str]:
    """The text summaries the trainer wrote under ``tag``, by step (trajectories), read back from ``run/tb``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tb"), size_guidance={"tensors": 0})
    acc.Reload()
    return {e.step: e.tensor_proto.string_val[0].decode() for e in acc.Tensors(f"{tag}/text_summary")}


@pytest.mark.parametrize("algo", ["archer", "ppo"])
def test_tensorboard_text_of_the_first_greedy_eval_episode(runs, algo):
    """With TensorBoard installed, each evaluation logs its first greedy eval episode as the viewer's table: the last
    one is the viewer's own table of the final checkpoint's first episode (critic values included for ArCHer), and
    holds every turn's utterance of that episode, played apart from the viewer."""
    pytest.importorskip("tensorboard", reason="tensorboard is not installed (optional: pip install -e '.[tb]')")
    texts = tensorboard_texts(runs[algo])
    assert sorted(texts) == [0, 16]  # one per evaluation, against trajectories
    (shown,) = view.build_page(runs[algo], episodes=1)[1]
    assert texts[16] == view.turn_table_markdown(shown)
    played, dialogues = reference_episodes(runs[algo])
    turns, _ = dialogues[0]
    lines = texts[16].splitlines()
    assert lines[0].startswith(f"target {played[0].target} · seed {played[0].seed} · return {played[0].ret:g}")
    table = [[c.strip() for c in line.strip("|").split(" | ")] for line in lines[4:]]
    assert len(table) == played[0].length == len(turns)
    assert [row[1] for row in table] == [utterance for utterance, _ in turns]  # every turn's utterance, in order
    assert [float(row[3]) for row in table] == [t.reward for t in played[0].transitions]
    header = lines[2]
    if algo == "archer":
        assert header == "| turn | utterance | reply | reward | Q | V | A |"
        for row, turn in zip(table, shown.turns):
            assert float(row[6]) == pytest.approx(float(row[4]) - float(row[5]), abs=2e-3)
            assert float(row[6]) == pytest.approx(turn.advantage, abs=1e-3)
    else:
        assert header == "| turn | utterance | reply | reward |"


def test_view_episodes_zero_keeps_no_episode_files(runs, tmp_path):
    """--view-episodes 0 keeps no evaluation episodes (the page is the final checkpoint's alone); TensorBoard still gets
    each evaluation's first greedy episode."""
    with pytest.raises(ValueError, match="view_episodes=-1 must be >= 0"):
        TrainConfig(env_id=ENV, view_episodes=-1)
    run = tmp_path / "ppo"
    Trainer(TrainConfig(algo="ppo", env_id=ENV, trajectories=16, rollout_trajectories=16, num_envs=8, eval_every=16,
                        eval_episodes=EPISODES, view_episodes=0, out=str(run), start_episodes=16,
                        sft=SFTConfig(env_id=ENV, episodes=200, epochs=2, model=ModelConfig())), progress=False).train()
    assert not (run / view.EPISODES_DIR).exists() and not view.read_evaluations(run)
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        return
    assert sorted(tensorboard_texts(run)) == [0, 16]


def test_turn_table_markdown_escapes_cells():
    """A pipe in an utterance stays inside its cell and a multi-line reply stays on its row."""
    ep = view.EpisodeView(0, 7, "Pen", True, "instruction", None,
                          [view.TurnView("a | b", "line 1\nline 2", -1.0, q=-2.0, v=-1.5),
                           view.TurnView("Is it a pen?", "Yes!", 0.0, q=-0.25, v=-0.5)])
    assert view.turn_table_markdown(ep).splitlines() == [
        "target Pen · seed 7 · return -1 · 2 turns · solved", "",
        "| turn | utterance | reply | reward | Q | V | A |", "|---|---|---|---|---|---|---|",
        "| 1 | a \\| b | line 1<br>line 2 | -1 | -2.000 | -1.500 | -0.500 |",
        "| 2 | Is it a pen? | Yes! | 0 | -0.250 | -0.500 | +0.250 |"]
    ep.turns = [view.TurnView("hi", "there", -1.0)]
    assert view.turn_table_markdown(ep).splitlines()[2:] == [
        "| turn | utterance | reply | reward |", "|---|---|---|---|", "| 1 | hi | there | -1 |"]
