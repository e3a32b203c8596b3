from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lmteams.runtime.ray.recovery import after_actor_loss, probe_delay_s
from lmteams.runtime.ray.settings import RaySettings


def test_in_flight_requests_are_resent_up_to_the_limit_on_a_restarted_actor() -> None:
    settings = RaySettings(resend_in_flight=2)
    assert after_actor_loss(0, settings, restartable=True) == "resend"
    assert after_actor_loss(1, settings, restartable=True) == "resend"
    assert after_actor_loss(2, settings, restartable=True) == "fail"


def test_at_most_once_and_dead_actors_fail_the_request() -> None:
    assert after_actor_loss(0, RaySettings(resend_in_flight=0), restartable=True) == "fail"
    assert after_actor_loss(0, RaySettings(resend_in_flight=5), restartable=False) == "fail"


@given(st.integers(0, 200))
def test_probe_delays_grow_and_stay_bounded(attempt: int) -> None:
    assert 0 < probe_delay_s(attempt) <= probe_delay_s(attempt + 1) <= 1.0
