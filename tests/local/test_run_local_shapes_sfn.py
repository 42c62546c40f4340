"""The shape corpus (``tests/local/flows``) executed on Step Functions: the cases are in
:mod:`tests.local.shapes_cases`."""

import pytest

from tests.local.shapes_cases import *  # noqa: F401,F403 - the test functions
from tests.local.shapes_cases import start_session


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    return start_session(tmp_path_factory, "step-functions")
