"""Where a run's metrics rows go besides the terminal: ``metrics.csv`` (rewritten atomically), TensorBoard when it is
installed, Weights & Biases when asked (``--report-to wandb``). Beside the scalars, TensorBoard and W&B get, at each
evaluation, the first greedy eval episode turn by turn (:func:`log_episode`)."""

from __future__ import annotations

import csv
import os
from pathlib import Path

from agents.config import TrainConfig, run_config_json


def write_csv_atomic(path: Path, rows: list[dict]) -> None:
    header: list[str] = []
    for r in rows:
        header += [k for k in r if k not in header]
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


#: Where ``--report-to`` can send the metrics rows besides metrics.csv (TensorBoard: always, when it is installed).
REPORT_TO = ("wandb",)
WANDB_MISSING = "--report-to wandb needs Weights & Biases: pip install wandb (it is not a dependency of archer-gym)"


def tensorboard_writer(out: Path):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard not installed: CSV only
        return None
    return SummaryWriter(str(out / "tb"))


def wandb_run(out: Path, cfg: TrainConfig):
    """A Weights & Biases run for the run directory ``out``; wandb is imported only here, when asked. The W&B run id is
    kept in ``out/wandb_id``, so a resumed run (``--resume``) continues the same W&B run. W&B's own environment
    settings apply: ``WANDB_MODE=offline`` keeps it on disk (``out/wandb/``, ``wandb sync`` uploads it later),
    ``WANDB_PROJECT`` (default ``archer-gym``), ``WANDB_ENTITY``."""
    try:
        import wandb
    except ImportError:
        raise ImportError(WANDB_MISSING) from None
    import uuid

    id_file = out / "wandb_id"
    run_id = id_file.read_text().strip() if id_file.exists() else uuid.uuid4().hex[:12]
    id_file.write_text(run_id + "\n")
    return wandb.init(project=os.environ.get("WANDB_PROJECT", "archer-gym"), id=run_id, resume="allow",
                      name=f"{cfg.algo}-{cfg.env_id.split('/')[-1]}-seed{cfg.seed}", dir=str(out),
                      config=run_config_json(cfg))


def log_episode(tb, wandb_run, tag: str, view, step: int) -> None:
    """One episode's per-turn table (the viewer's, :func:`agents.view.turn_table`: turn, utterance, reply, reward and,
    with a critic, Q, V, A) under ``tag`` at ``step``: TensorBoard text (Markdown, its Text tab) and a W&B Table.
    Either writer may be None."""
    from agents.view import turn_table, turn_table_markdown

    if tb is not None:
        tb.add_text(tag, turn_table_markdown(view), step)
    if wandb_run is not None:
        import wandb

        columns, rows = turn_table(view)
        wandb_run.log({tag: wandb.Table(columns=columns, data=rows)}, step=step)
