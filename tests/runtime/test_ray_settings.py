from __future__ import annotations

import pytest

from lmteams.config import parse_team
from lmteams.errors import ConfigError
from lmteams.runtime.ray.settings import RaySettings

NODES = [{"name": "a", "role": "solver"}, {"name": "b", "role": "critic"}]


def test_a_team_file_ray_section_is_validated_into_settings() -> None:
    team = parse_team(
        {
            "nodes": NODES,
            "ray": {
                "actors_per_machine": 4,
                "max_restarts": -1,
                "roles": {"solver": {"resources": {"GPU": 1}, "nodes_per_actor": 8}},
            },
        },
        source="team.yaml",
    )
    assert team.ray is not None and team.ray.actors_per_machine == 4
    assert team.ray.roles["solver"].resources == {"GPU": 1.0}
    assert team.ray.resend_in_flight == 1  # default: at least once at the model
    assert parse_team({"nodes": NODES}, source="t").ray is None


@pytest.mark.parametrize(
    ("ray", "field", "problem"),
    [
        ({"actors_per_machine": 0}, "ray.actors_per_machine", "greater than or equal to 1"),
        ({"resend_in_flight": -1}, "ray.resend_in_flight", "greater than or equal to 0"),
        ({"actors": 3}, "ray.actors", "unknown field"),
        ({"roles": {"solver": {"gpus": 1}}}, "ray.roles.solver.gpus", "unknown field"),
        ({"start_timeout_s": 0}, "ray.start_timeout_s", "greater than 0"),
    ],
)
def test_bad_ray_settings_name_file_and_field(
    ray: dict[str, object], field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_team({"nodes": NODES, "ray": ray}, source="team.yaml")
    assert str(info.value).startswith(f"team.yaml: {field}: ")
    assert problem in str(info.value)


def test_defaults_suit_one_small_machine() -> None:
    settings = RaySettings()
    assert (settings.actors_per_machine, settings.nodes_per_actor) == (2, None)
    assert settings.actor_cpus == 0.0 and settings.max_restarts == 3
