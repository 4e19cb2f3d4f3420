"""Optional vLLM rollout backend: ``python -m agents.train --rollout-backend vllm ...``.

UNTESTED on this project's machine (2 CPU cores, no GPU, vLLM not installed): it is written against vLLM's
offline ``LLM`` / ``SamplingParams`` API and kept out of every import path unless asked for. The trainer
imports this module only when ``TrainConfig.rollout_backend == "vllm"``.

What it does: training rollouts (not evaluation, not CHAI's best-of-k) are sampled by a vLLM engine that
holds a copy of the actor; after every update the actor's weights are pushed into the engine
(:meth:`VLLMRollout.sync_weights`), so rollouts stay on-policy. Each utterance comes back with its token ids
and vLLM's sampled-token log-probs, cut at the first token whose text holds a newline, as
:meth:`agents.policy.Actor.sample` does. Those log-probs are vLLM's numerics, not the trainer's: PPO's
importance ratios then start near 1 rather than at exactly 1. Prompts are the actor's own prompt ids
(chat template and left truncation included).

Limits: one engine per process (under ``accelerate launch`` each rank starts its own on its GPU; set
``gpu_memory_utilization`` so the engine and the trained model fit); LoRA actors are merged before each
sync; the weight push reaches into the engine's model runner, whose path changes between vLLM versions
(we try the documented-in-examples ``llm.llm_engine.model_executor.driver_worker.model_runner.model`` and
``collective_rpc``), so check it against your vLLM version first.
"""

from __future__ import annotations

import os
import tempfile

import torch

from agents.policy import SampleOutput


def _require_vllm():
    try:
        import vllm  # noqa: F401
    except ImportError as err:
        raise ImportError(
            "--rollout-backend vllm needs vLLM, which is not installed (pip install vllm, on a CUDA machine). "
            "The default --rollout-backend hf needs nothing extra."
        ) from err
    return vllm


class VLLMRollout:
    """``act(observations) -> SampleOutput`` through a vLLM engine holding a copy of ``algo.actor``."""

    def __init__(self, algo, cfg, gpu_memory_utilization: float = 0.4):
        vllm = _require_vllm()
        if getattr(algo, "name", "") == "chai":
            raise ValueError("--rollout-backend vllm samples plain actor utterances; CHAI's best-of-k acting "
                             "scores candidates with its critic: use --rollout-backend hf")
        self.algo, self.cfg = algo, cfg
        self.actor = algo.actor
        self._dir = tempfile.mkdtemp(prefix="archer_vllm_")
        self._export()
        self.llm = vllm.LLM(model=self._dir, tokenizer=self._dir, seed=cfg.seed,
                            dtype="bfloat16" if cfg.model.bf16 else "auto",
                            gpu_memory_utilization=gpu_memory_utilization, enforce_eager=True)
        self._vllm = vllm

    def _plain_model(self):
        model = self.actor.model
        if hasattr(model, "merge_and_unload"):  # peft: push the merged weights
            import copy
            model = copy.deepcopy(model).merge_and_unload()
        return model

    def _export(self) -> None:
        self._plain_model().save_pretrained(self._dir)
        self.actor.tokenizer.save_pretrained(self._dir)

    def sync_weights(self) -> None:
        """Push the actor's current weights into the engine (after every update)."""
        state = {k: v.detach() for k, v in self._plain_model().state_dict().items()}
        engine = self.llm.llm_engine
        try:
            engine.model_executor.driver_worker.model_runner.model.load_weights(state.items())
        except AttributeError:
            # Newer vLLM: reach the workers through an RPC; falls back to a reload from disk.
            try:
                self.llm.collective_rpc(lambda worker: worker.model_runner.model.load_weights(state.items()))
            except Exception:
                self._export()
                self.llm = self._vllm.LLM(model=self._dir, tokenizer=self._dir, seed=self.cfg.seed,
                                          enforce_eager=True)

    def act(self, observations: list[str]) -> SampleOutput:
        prompts = self.actor.build_prompt_ids(observations)
        params = self._vllm.SamplingParams(temperature=self.algo.temperature, max_tokens=self.actor.max_new_tokens,
                                           logprobs=0, stop_token_ids=sorted(self.actor.stop_ids),
                                           seed=int(torch.randint(0, 2**31 - 1, (1,), generator=self.algo.gen,
                                                                    device=self.algo.gen.device)))
        try:
            from vllm.inputs import TokensPrompt
            inputs = [TokensPrompt(prompt_token_ids=p) for p in prompts]
        except ImportError:  # older vLLM
            inputs = [{"prompt_token_ids": p} for p in prompts]
        outs = self.llm.generate(inputs, params, use_tqdm=False)
        texts, ids, logps = [], [], []
        for out in outs:
            c = out.outputs[0]
            tok = list(c.token_ids)
            lp = [float(step[t].logprob) for step, t in zip(c.logprobs or [], tok)]
            texts.append(self.actor._decode_utterance(tok))
            ids.append(tok)
            logps.append(torch.tensor(lp, dtype=torch.float32))
        return SampleOutput(texts, ids, logps, prompts)

    def __del__(self):
        import shutil

        folder = getattr(self, "_dir", None)
        if folder and os.path.isdir(folder):
            shutil.rmtree(folder, ignore_errors=True)
