"""The harness's tests, laid out like the package (see docs/ARCHITECTURE.md, "Tests").

``tests/train/``, ``tests/launch/`` and ``tests/reporting/`` test the sub-packages of the same
names, ``tests/plugins/`` the built-in plugins, and ``tests/test_<module>.py`` the top-level
modules. Every folder is a package, so that test files of one name in two folders do not clash
and helpers import the same from any depth::

    from tests import FIXTURES
    from tests.plugin_factory import write_plugin
    from tests.records import make_record
"""

from pathlib import Path

#: This folder.
TESTS = Path(__file__).parent

#: Plugin files the tests load by path: ``test_models.py`` (models that fail, diverge, sleep, run out of
#: memory, kill their process or bring their own module) and ``observer.py`` (a plugin that uses the lifecycle hooks).
FIXTURES = TESTS / "fixtures"
