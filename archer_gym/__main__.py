"""``python -m archer_gym``: list envs, play one in the terminal, evaluate scripted policies, serve oracles.

    python -m archer_gym list
    python -m archer_gym play archer/TwentyQuestions-v0       # type questions; quit (or Ctrl-D) ends
    python -m archer_gym play archer/TwentyQuestions-v0 --policy expert --seed 3
    python -m archer_gym evaluate archer/TwentyQuestionsSubset-v0 --policy expert --episodes 200 --split eval --json
    python -m archer_gym evaluate archer/TwentyQuestionsSubset-v0 --policy openai --model M \\
        --base-url http://127.0.0.1:8000/v1 --episodes 20 --split eval --json
    python -m archer_gym dataset archer/TwentyQuestionsSubset-v0 --policy expert --episodes 1000 --out data/tq
    python -m archer_gym reference archer/TwentyQuestionsSubset-v0 --check   # the recorded expert/random figures
    python -m archer_gym serve-oracle --task twenty_questions --port 8000
"""

from __future__ import annotations

import argparse
import json
import sys

import gymnasium as gym
import numpy as np

import archer_gym
from archer_gym.cli import ArgumentParser, positive_float, positive_int
from archer_gym.evaluation import EVAL_SEED, REFERENCE_POLICIES, evaluate_scripted, measure_reference, scripted_policy


#: What a human types in ``play`` to end the session (issue 15: "quit" was asked as a question and cost a turn).
QUIT_WORDS = ("quit", "exit", ":q")


def _env_id(value: str) -> str:
    try:
        return archer_gym.get_spec(value).id
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def cmd_list(args) -> int:
    width = max(len(i) for i in archer_gym.list_ids())
    for env_id in archer_gym.list_ids():
        spec = archer_gym.get_spec(env_id)
        print(f"{env_id:<{width}}  {spec.description}")
    return 0


def cmd_play(args) -> int:
    env = gym.make(args.env_id, split=args.split)
    obs, info = env.reset(seed=args.seed, options={"target": args.target} if args.target else None)
    print(obs, end="")
    policy = scripted_policy(env, args.policy, np.random.default_rng(args.seed)) if args.policy else None
    while True:
        if policy is not None:
            action = policy(obs)
            print(f"> {action}")
        else:
            try:
                action = input("> ")
            except (EOFError, KeyboardInterrupt):
                print("\nbye")
                return 0
            if action.strip().lower() in QUIT_WORDS:  # ends the session; never sent to the env as a turn
                print("bye")
                return 0
        obs, reward, terminated, truncated, info = env.step(action)
        print(f"{info['reply']}   [reward {reward:+g}]")
        if terminated or truncated:
            ep = info["episode"]
            how = "solved" if ep["success"] else ("out of turns" if truncated else "game over")
            print(f"--- {how}: return {ep['return']:g} in {ep['length']} turns; the answer was {ep['target']!r}")
            return 0


def cmd_evaluate(args) -> int:
    if args.policy == "openai":
        from archer_gym.llm_agent import evaluate_openai
        from archer_gym.oracles.llm import OracleError
        try:
            summary, _ = evaluate_openai(args.env_id, args.agent_cfg, episodes=args.episodes, split=args.split,
                                         seed=args.seed, progress=not args.json)
        except OracleError as e:  # the endpoint failed after its retries: one line, no traceback
            print(f"python -m archer_gym evaluate: error: {e}", file=sys.stderr)
            return 1
    else:
        summary, _ = evaluate_scripted(args.env_id, args.policy, episodes=args.episodes, split=args.split,
                                       seed=args.seed, progress=not args.json)
    if args.json:
        print(json.dumps(summary))
    else:
        for k, v in summary.items():
            print(f"{k:>14}: {v}")
    return 0


def cmd_dataset(args) -> int:
    from archer_gym.dataset import build

    stats = build(args.env_id, args.policy, episodes=args.episodes, out=args.out, split=args.split, seed=args.seed,
                  progress=not args.json)
    print(json.dumps(stats) if args.json else "\n".join(f"{k:>20}: {v}" for k, v in stats.items()))
    return 0


def cmd_serve_oracle(argv: list[str]) -> int:
    from archer_gym.oracles.server import main as serve_main
    return serve_main(argv) or 0


def cmd_reference(args) -> int:
    """Measure each task's reference figures; record them in ``--out`` (default: the registry's file), or with
    ``--check`` compare them with the recorded ones and exit 1 on any difference."""
    from pathlib import Path

    from tqdm import tqdm

    out = Path(args.out)
    recorded = json.loads(out.read_text()) if out.exists() else {}
    ids = args.env_ids or archer_gym.list_ids()
    differ = []
    for env_id in tqdm(ids, desc="reference", unit="task", disable=args.json):
        old = recorded.get(env_id)
        new = measure_reference(env_id, args.episodes if args.episodes else (old or {}).get("episodes", 200))
        if args.check:
            same = old is not None and all(old.get(p) == new[p] for p in REFERENCE_POLICIES)
            if not same:
                differ.append(env_id)
            print(f"{env_id}: {'same' if same else 'DIFFERS'}: expert {new['expert']['mean_return']:.3f}, random "
                  f"{new['random']['mean_return']:.3f} ({new['episodes']} episodes)"
                  + ("" if same or old is None else f"; recorded expert {old['expert']['mean_return']:.3f}, random "
                     f"{old['random']['mean_return']:.3f}"), flush=True)
        else:
            recorded[env_id] = new
            print(f"{env_id}: expert {new['expert']['mean_return']:.3f} ± {new['expert']['return_ci95']:.3f}, random "
                  f"{new['random']['mean_return']:.3f} ± {new['random']['return_ci95']:.3f} ({new['episodes']} "
                  f"episodes)", flush=True)
    if args.check:
        if differ:
            print(f"python -m archer_gym reference --check: {len(differ)} differ from {out}: {', '.join(differ)}; "
                  f"record them again with python -m archer_gym reference {' '.join(differ)}", file=sys.stderr)
        return 1 if differ else 0
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
    tmp.replace(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(prog="python -m archer_gym", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list", help="every registered id with a one-line description")
    pl = sub.add_parser("play", help="play an env in the terminal (you, or a scripted policy)")
    pl.add_argument("env_id", type=_env_id)
    pl.add_argument("--policy", default=None, help="watch a scripted policy (expert, random, ...) instead of typing")
    pl.add_argument("--seed", type=int, default=None)
    pl.add_argument("--split", default="train", choices=["train", "eval"])
    pl.add_argument("--target", default=None, help="play a given target (word, city, ...)")
    ev = sub.add_parser("evaluate", help="evaluate a scripted policy, or an LLM (--policy openai), over many episodes")
    ev.add_argument("env_id", type=_env_id)
    ev.add_argument("--policy", default="expert", help="a scripted policy (expert, noisy, random, ...) or 'openai': "
                    "a model behind an OpenAI-compatible endpoint plays (--model, --base-url)")
    llm = ev.add_argument_group("--policy openai (archer_gym/llm_agent.py)")
    llm.add_argument("--model", default=None, help="the model name the endpoint serves")
    llm.add_argument("--base-url", default=None, help="e.g. http://127.0.0.1:8000/v1 (vLLM, llama.cpp, Ollama, ...)")
    llm.add_argument("--api-key-env", default=None, help="environment variable holding the API key (default: "
                     "$OPENAI_API_KEY, else a dummy key local servers accept)")
    llm.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    llm.add_argument("--max-tokens", type=positive_int, default=64, help="per utterance")
    llm.add_argument("--sampling-seed", type=int, default=None, help="sent to the endpoint as `seed`")
    llm.add_argument("--timeout", type=positive_float, default=60.0, help="deadline per request attempt (s)")
    llm.add_argument("--max-attempts", type=positive_int, default=5, help="attempts per request (retries on faults)")
    llm.add_argument("--concurrency", type=positive_int, default=4, help="episodes played at once")
    ev.add_argument("--episodes", type=positive_int, default=200)
    ev.add_argument("--split", default="eval", choices=["train", "eval"])
    ev.add_argument("--seed", type=int, default=EVAL_SEED,
                    help="the starts (a seeded walk over the split's targets) and the policy's random choices")
    ev.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    ds = sub.add_parser("dataset", help="write episodes as a Hugging Face datasets dataset (one row per episode)")
    ds.add_argument("env_id", type=_env_id)
    ds.add_argument("--policy", default="expert",
                    help="a scripted policy (expert, noisy, random, ...), or a JSONL episode file or a directory holding "
                         "rows.jsonl (an SFT bundle) / data.jsonl / episodes.jsonl, replayed in the env")
    ds.add_argument("--episodes", type=positive_int, default=1000, help="episodes to play (or the first N to replay)")
    ds.add_argument("--out", required=True, help="a new (or empty) directory")
    ds.add_argument("--split", default="train", choices=["train", "eval"])
    ds.add_argument("--seed", type=int, default=0, help="episode i of a scripted policy is seeded seed + i")
    ds.add_argument("--json", action="store_true", help="print one JSON object on the last line")
    rf = sub.add_parser("reference", help="measure each task's scripted expert and random on the eval starts and "
                        "record them in the registry's references.json (--check: compare instead)")
    rf.add_argument("env_ids", nargs="*", type=_env_id, help="default: every registered id")
    rf.add_argument("--episodes", type=positive_int, default=None,
                    help="per policy (default: the recorded entry's, else 200)")
    rf.add_argument("--out", default=str(archer_gym.registry.REFERENCES_FILE))
    rf.add_argument("--check", action="store_true", help="measure again, compare with the recorded figures and exit "
                    "1 on any difference; writes nothing")
    rf.add_argument("--json", action="store_true", help="no progress bar")
    sub.add_parser("serve-oracle", help="OpenAI-compatible chat server for an oracle (see --help)", add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "serve-oracle":
        return cmd_serve_oracle(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.cmd == "dataset":
        from pathlib import Path

        from archer_gym.dataset import MISSING
        try:
            import datasets  # noqa: F401
        except ImportError:
            parser.error(MISSING)
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            parser.error(f"--out {args.out} exists and is not an empty directory; choose a new one")
        from archer_gym.dataset import is_recorded_path
        if is_recorded_path(args.policy):
            from archer_gym.dataset import recorded_episodes_file
            try:
                recorded_episodes_file(args.policy)
            except FileNotFoundError as e:
                parser.error(f"--policy: {e}")
            return cmd_dataset(args)
    if args.cmd == "evaluate" and args.policy == "openai":
        from archer_gym.llm_agent import AgentConfig
        try:
            import openai  # noqa: F401
        except ImportError:
            parser.error("--policy openai needs the openai client: pip install 'archer-gym[oracles]'")
        try:
            args.agent_cfg = AgentConfig(model=args.model, base_url=args.base_url, api_key_env=args.api_key_env,
                                         temperature=args.temperature, max_tokens=args.max_tokens,
                                         seed=args.sampling_seed, timeout=args.timeout,
                                         max_attempts=args.max_attempts, concurrency=args.concurrency)
        except ValueError as e:
            parser.error(e)
        return cmd_evaluate(args)
    if args.cmd in ("play", "evaluate", "dataset") and args.policy is not None:
        env = gym.make(args.env_id)  # a policy name the task does not have: one line, before any episode
        try:
            scripted_policy(env, args.policy, np.random.default_rng(0))
        except ValueError as e:
            parser.error(f"--policy: {e}")
        finally:
            env.close()
    if args.cmd == "play" and args.target is not None:
        env = gym.make(args.env_id, split=args.split)
        try:
            env.reset(seed=0, options={"target": args.target})
        except (ValueError, KeyError) as e:
            parser.error(f"--target: {e}")
        finally:
            env.close()
    return {"list": cmd_list, "play": cmd_play, "evaluate": cmd_evaluate, "dataset": cmd_dataset,
            "reference": cmd_reference}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
