"""WebShop benchmark: catalog/index load time, BM25 queries per second, scripted policies' scores.

    python bench/webshop_search.py --episodes 200 --queries 2000

Prints one line per figure. Queries are the eval goals' instructions (the expert's search text),
so the rate is for realistic 5-12 word OR queries over 10,800 products.
"""

from __future__ import annotations

import argparse
import random
import time

from tasks.webshop.env import WebShopEnv, load_world
from tasks.webshop.policies import make_policy, parse_instruction


def run_policy(env: WebShopEnv, name: str, episodes: int, seed: int) -> dict[str, float]:
    """Mean reward, success rate and episode length of policy ``name`` over ``episodes`` eval episodes."""
    policy = make_policy(name, env, random.Random(seed))
    rewards, successes, lengths = [], [], []
    obs, _ = env.reset(seed=seed)
    for ep in range(episodes):
        if ep:
            obs, _ = env.reset()
        done, reward, info = False, 0.0, {}
        while not done:
            obs, reward, terminated, truncated, info = env.step(policy(obs))
            done = terminated or truncated
        rewards.append(reward)
        successes.append(float(info["success"]))
        lengths.append(info["turn"])
    n = max(1, episodes)
    return {"score": sum(rewards) / n, "success": sum(successes) / n, "length": sum(lengths) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200, help="eval episodes per policy")
    parser.add_argument("--queries", type=int, default=2000, help="search queries timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    t0 = time.perf_counter()
    world = load_world()
    n_train, n_eval = len(world.splits["train"]), len(world.splits["eval"])
    print(f"catalog+goals+index load: {time.perf_counter() - t0:.2f} s "
          f"({len(world.products)} products, {n_train} train / {n_eval} eval goals)")

    env = WebShopEnv(split="eval")
    eval_goals = [world.goal_by_id[g] for g in world.splits["eval"]]
    queries = []
    for i in range(args.queries):
        parsed = parse_instruction(eval_goals[i % len(eval_goals)].instruction)
        queries.append(" ".join(w for w in parsed.words if w in parsed.content))
    world.index.search(queries[0])  # open the connection outside the timing
    t0 = time.perf_counter()
    for q in queries:
        world.index.search(q, 50)
    dt = time.perf_counter() - t0
    print(f"search: {len(queries) / dt:.0f} queries/s (top 50, BM25, {len(queries)} queries)")

    for name in ("expert", "random"):
        t0 = time.perf_counter()
        stats = run_policy(env, name, args.episodes, args.seed)
        dt = time.perf_counter() - t0
        print(f"{name}: mean score {stats['score']:.3f}, success {stats['success']:.3f}, "
              f"mean length {stats['length']:.2f} over {args.episodes} eval episodes ({dt:.1f} s)")


if __name__ == "__main__":
    main()
