from __future__ import annotations

import pytest

from lmteams.errors import ConfigError
from lmteams.runtime.factory import make_runtime
from lmteams.runtime.local import LocalRuntime
from lmteams.runtime.ray.cluster import check_address
from lmteams.runtime.ray.runtime import RayRuntime
from lmteams.runtime.ray.settings import RaySettings


def test_runtimes_by_name() -> None:
    assert isinstance(make_runtime("local"), LocalRuntime)
    ray = make_runtime("Ray", "auto", settings=RaySettings(actors_per_machine=1), num_cpus=2)
    assert isinstance(ray, RayRuntime) and ray.settings.actors_per_machine == 1
    assert ray.name == "ray"


@pytest.mark.parametrize(
    ("name", "address", "field", "problem"),
    [
        ("k8s", None, "--runtime", "unknown runtime 'k8s'; choose one of: local, ray"),
        ("local", "auto", "--ray-address", "a Ray address needs --runtime ray"),
        ("ray", "nowhere", "--ray-address", "is not an address: use auto or HOST:PORT"),
        ("ray", "10.0.0.1:99999", "--ray-address", "is not an address"),
        ("ray", "ray://10.0.0.1:10001", "--ray-address", "Ray Client addresses"),
    ],
)
def test_bad_choices_are_config_errors(
    name: str, address: str | None, field: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        make_runtime(name, address)
    assert info.value.field == field and problem in str(info.value)


def test_addresses() -> None:
    assert check_address(None) is None
    assert check_address(" auto ") == "auto"
    assert check_address("head.cluster.internal:6379") == "head.cluster.internal:6379"
    assert check_address("[fd00::1]:6379") == "[fd00::1]:6379"
