"""xdist's `--dist loadgroup` scheduling with the groups of tests/support/kinds.py.

pytest-xdist (3.8) groups a test by appending `@group` to its node id in the worker, which
pytest 9 no longer lets it change: every test was scheduled on its own, xdist_group marks
or not. This scheduler takes a test's group from its module (kinds.GROUPS) in the
controller instead, so a group's tests run one after another on one worker.
"""

from __future__ import annotations

from xdist.scheduler import LoadGroupScheduling

from tests.support.kinds import GROUPS


def group_of(nodeid: str) -> str | None:
    """The xdist group of the test with this node id, None when it has none."""
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    return GROUPS.get(module)


class ModuleGroupScheduling(LoadGroupScheduling):
    """LoadGroupScheduling whose work unit is the test's group, else the test alone."""

    def _split_scope(self, nodeid: str) -> str:
        group = group_of(nodeid)
        return f"group:{group}" if group is not None else nodeid
