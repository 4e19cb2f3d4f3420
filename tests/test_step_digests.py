"""Issue 19: the speed-ups leave every env's behaviour byte-identical. Each case of ``tests/step_digests.py`` (every
built-in id: expert and random policies on both splits, a vector of envs with mixed and odd actions, and long
episodes past the observation's 20,000-character cut) is played again and its digest of every
``(observation, reward, terminated, truncated, info)`` compared with the one recorded at the reference commit."""

import json

import pytest

from tests.step_digests import FIXTURE, case_names, run_case

RECORDED = json.loads(FIXTURE.read_text())


def test_every_built_in_case_is_recorded():
    assert sorted(case_names()) == sorted(RECORDED), "record new cases with: python tests/step_digests.py --write --only ..."


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_steps_are_as_recorded(case):
    assert run_case(case) == RECORDED[case]
