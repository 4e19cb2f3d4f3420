"""Many text envs stepped together with ONE batched oracle call per step.

Gymnasium's vector envs autoreset and copy Text observations through shared memory; rollouts of
language agents want neither: an episode ends when it ends, and the collector decides when to start
the next. :class:`TextVectorEnv` is a plain list of envs that share one oracle object; ``step`` takes
one action per env (``None`` for envs that sit this step out), gathers every env's oracle request and
answers them all in one ``answer_batch`` call.
"""

from __future__ import annotations

from typing import Any, Sequence

import gymnasium as gym

from archer_gym.env import TextGameEnv

StepTuple = tuple[str, float, bool, bool, dict]


class TextVectorEnv:
    def __init__(self, envs: Sequence[TextGameEnv]):
        if not envs:
            raise ValueError("TextVectorEnv needs at least one env")
        self.envs = list(envs)

    @property
    def num_envs(self) -> int:
        return len(self.envs)

    def reset(self, seed: int | Sequence[int | None] | None = None,
              options: Sequence[dict | None] | None = None) -> tuple[list[str], list[dict]]:
        """Reset every env; an int seed gives env i the seed ``seed + i``."""
        n = self.num_envs
        if seed is None or isinstance(seed, int):
            seeds = [None if seed is None else seed + i for i in range(n)]
        else:
            seeds = list(seed)
        opts = list(options) if options is not None else [None] * n
        if len(seeds) != n or len(opts) != n:
            raise ValueError(f"reset needs {n} seeds and options, got {len(seeds)} and {len(opts)}")
        obs, infos = zip(*(e.reset(seed=s, options=o) for e, s, o in zip(self.envs, seeds, opts)))
        return list(obs), list(infos)

    def reset_one(self, i: int, seed: int | None = None, options: dict | None = None) -> tuple[str, dict]:
        return self.envs[i].reset(seed=seed, options=options)

    def step(self, actions: Sequence[str | None]) -> list[StepTuple | None]:
        """Step env i with ``actions[i]`` (skip it where ``None``). Returns one 5-tuple per env, ``None``
        for skipped envs. All oracle requests of this step go to the oracle in one batch, grouped
        by oracle object (envs made by :func:`make_vec` share one)."""
        if len(actions) != self.num_envs:
            raise ValueError(f"step needs {self.num_envs} actions (None to skip an env), got {len(actions)}")
        requests: dict[int, Any] = {}
        for i, (env, a) in enumerate(zip(self.envs, actions)):
            if a is not None:
                requests[i] = env.begin_step(a)
        replies: dict[int, str | None] = {i: None for i in requests}
        groups: dict[int, list[int]] = {}
        for i, req in requests.items():
            if req is not None:
                groups.setdefault(id(self.envs[i].oracle), []).append(i)
        for idxs in groups.values():
            answers = self.envs[idxs[0]].oracle.answer_batch([requests[i] for i in idxs])
            if len(answers) != len(idxs):
                raise RuntimeError(f"oracle returned {len(answers)} replies for {len(idxs)} requests")
            replies.update(zip(idxs, answers))
        return [self.envs[i].finish_step(replies[i]) if i in requests else None for i in range(self.num_envs)]

    def close(self) -> None:
        for e in self.envs:
            e.close()


def make_vec(env_id: str, num_envs: int, **kwargs: Any) -> TextVectorEnv:
    """``num_envs`` copies of ``env_id`` that share the first env's oracle (one batched call per step)."""
    if num_envs < 1:
        raise ValueError(f"num_envs={num_envs} must be >= 1")
    first = gym.make(env_id, **kwargs).unwrapped
    # The others get the first env's oracle object, so the options that built it (oracle_model=, ...) are not
    # theirs to pass again (issue 15: passing them with an Oracle object was a TypeError for n > 1).
    rest = {k: v for k, v in kwargs.items() if not k.startswith("oracle_")}
    envs = [first] + [gym.make(env_id, **{**rest, "oracle": first.oracle}).unwrapped for _ in range(num_envs - 1)]
    return TextVectorEnv(envs)
