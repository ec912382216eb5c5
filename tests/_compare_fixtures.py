"""The ``toy_pair`` fixture as a pytest plugin (``pytest_plugins = ["tests._compare_fixtures"]``): registered
once, so the two real toy runs are trained once per session whichever compare test module runs first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests._compare_helpers import train_toy_pair


@pytest.fixture(scope="session")
def toy_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(run A, run B): the same 24 examples of the toy model trained with learning rates 3e-3 and 1e-2."""
    return train_toy_pair(tmp_path_factory.mktemp("toy-pair"))
