"""``accelerate launch ... -m tests.resume_main OUT``: in every process, train the toy task uninterrupted into
OUT/full, then stop after 2 iterations in OUT/part and resume it to the budget; the main process writes both
curves to OUT/curves.json (tests/test_multiprocess.py compares them)."""

import json
import sys
from pathlib import Path

from agents import distributed
from agents.models import ModelConfig
from agents.sft import SFTConfig
from agents.trainer import TrainConfig, Trainer
from tests import toy  # noqa: F401  (registers archer/ToyColour-v0)


def config(out: Path) -> TrainConfig:
    return TrainConfig(algo="archer", env_id="archer/ToyColour-v0", trajectories=64, rollout_trajectories=15,
                       num_envs=8, eval_every=32, eval_episodes=16, out=str(out),
                       sft=SFTConfig(env_id="archer/ToyColour-v0", episodes=300, epochs=4, model=ModelConfig()),
                       algo_config={"critic_warmup_steps": 50, "batch_size": 32, "actor_batch_size": 32})


def main(out: str) -> None:
    out = Path(out)
    full = Trainer(config(out / "full"), progress=False).train()
    part = Trainer(config(out / "part"), progress=False)
    part.train(max_iterations=2)
    resumed = Trainer(config(out / "part"), resume=True, progress=False).train()
    if distributed.is_main():
        (out / "curves.json").write_text(json.dumps({"full": full, "resumed": resumed}))
    distributed.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
