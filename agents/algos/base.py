"""The acting part most algorithms share: sample from the actor (train), greedy or sampled (eval)."""

from __future__ import annotations

import numpy as np
import torch

from agents.policy import Actor, disable_dropout


class ActorAlgorithm:
    """Acts with its actor; subclasses add losses and an update rule."""

    name = "base"
    #: False when greedy and sampled evaluation act the same way (CHAI samples its k candidates either way):
    #: the trainer then evaluates once and reports it under both names.
    greedy_differs = True

    def __init__(self, actor: Actor, *, seed: int, temperature: float = 1.0):
        self.actor = actor
        disable_dropout(actor.model)  # act in eval mode, learn in train mode, and both score the same
        self.temperature = temperature
        self.gen = torch.Generator(device=actor.device).manual_seed(seed)  # acting randomness, checkpointed
        self.eval_gen = torch.Generator(device=actor.device)
        self.np_rng = np.random.default_rng(seed + 17)  # replay sampling, checkpointed
        self.critic_learner = None  # ArCHer and CHAI: their utterance-level critic (agents.algos.critic_learner.CriticLearner)

    def act(self, observations):
        return self.actor.sample(observations, temperature=self.temperature, generator=self.gen)

    def fresh_actions(self, observations: list[str]) -> list[str]:
        """Utterances freshly sampled from the current actor (the V targets of ArCHer's critic)."""
        return self.actor.sample(observations, temperature=self.temperature, generator=self.gen).texts

    def eval_act(self, observations, greedy: bool):
        return self.actor.sample(observations, greedy=greedy, generator=self.eval_gen)

    def reset_eval(self, seed: int) -> None:
        """Same eval sampling noise at every evaluation, for every method."""
        self.eval_gen.manual_seed(seed)

    def rng_state(self) -> dict:
        """JSON-able state of the algorithm's own random streams (for exact resume)."""
        return {"act": self.gen.get_state().tolist(), "np": self.np_rng.bit_generator.state}

    def set_rng_state(self, state: dict) -> None:
        self.gen.set_state(torch.tensor(state["act"], dtype=torch.uint8))
        self.np_rng.bit_generator.state = state["np"]
