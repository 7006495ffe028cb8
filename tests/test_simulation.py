"""The months-of-nights simulation (tests/simulation.py): a short run in every `make test`,
the long one with `pytest -m long` (SIMULATION_SEEDS=1,2,3 to choose the seeds)."""

import os

import pytest

from tests.simulation import Simulation


@pytest.mark.django_db
def test_months_of_nights_agree_with_the_rules(tmp_path):
    simulation = Simulation(seed=2026, directory=tmp_path, months=18, households=30, gaps=(4, 12))
    simulation.run()
    seen = simulation.seen
    # the run went through the edges it is meant to (a generator that drifted would not)
    for what in ("certificate_needed:no_card", "renewal_due", "reissue_needed", "return_requested"):
        assert seen[what], f"the simulation never saw {what}: {dict(seen)}"
    assert seen["reissue"] and seen["late loss filed"] and seen["loss withdrawn"]
    assert seen["common end date set"] and seen["nightly re-run"] and seen["issuing re-run"]
    assert seen["name_unregistrable"] and seen["registered_name"]


SEEDS = [int(s) for s in os.environ.get("SIMULATION_SEEDS", "1,2,3,4,5,6,7,8,9,10").split(",")]


@pytest.mark.long
@pytest.mark.django_db
@pytest.mark.parametrize("seed", SEEDS)
def test_months_of_nights_long(tmp_path, seed):
    Simulation(seed=seed, directory=tmp_path, months=18, households=60).run()
