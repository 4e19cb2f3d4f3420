"""bench/critic_quality.py: its scoring on hand-made cases, and its variant flags' errors (before any model is built)."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

spec = importlib.util.spec_from_file_location("critic_quality", Path(__file__).parent.parent / "bench" / "critic_quality.py")
cq = importlib.util.module_from_spec(spec)
sys.modules["critic_quality"] = cq  # dataclasses look their module up there
spec.loader.exec_module(cq)


def test_within_state_correlation_ignores_each_states_level():
    truth = np.array([0.0, 1.0, 10.0, 12.0])
    groups = [[0, 1], [2, 3]]
    shifted = truth + np.array([5.0, 5.0, -30.0, -30.0])  # per-state offsets: a V(s) error, invisible within a state
    assert cq.within_state_corr(shifted, truth, groups) == pytest.approx(1.0)
    assert cq.within_state_corr(-truth, truth, groups) == pytest.approx(-1.0)
    assert cq.ordered_right(shifted, truth, groups) == 1.0 and cq.ordered_right(-truth, truth, groups) == 0.0


@pytest.mark.parametrize("argv, message", [
    (["--model-arg", "nope=1"], "ModelConfig has no field 'nope'"),
    (["--model-arg", "critic"], "expected KEY=VALUE"),
    (["--algo-arg", "advantage=zz"], "advantage='zz'"),
])
def test_a_bad_variant_flag_is_a_one_line_error(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cq.main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert message in err[-1]
