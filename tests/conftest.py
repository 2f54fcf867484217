"""Project-wide test set-up.

Under ``pytest -n N --dist loadgroup`` (what ``scripts/test`` runs) every end-to-end test that
does not name an ``xdist_group`` itself is grouped by its module, so a module's expensive
module-scoped fixtures (an image build, a registry) are made by one worker only, as with
``--dist loadfile``; unit tests still spread over all workers, and an e2e module may split
itself into several groups to use more of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(E2E) and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(f"e2e-{item.path.stem}"))
