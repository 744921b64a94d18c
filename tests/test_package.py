"""The distribution's name is ours on the package index; the import package and the command stay ``harness``."""

from importlib import metadata

import tomllib

import harness
from tests import TESTS

ROOT = TESTS.parent


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_distribution_is_not_named_like_the_unrelated_harness_on_the_index():
    # `pip install harness` installs a 2020 serverless framework: a plugin that depends on "harness" would pull it in
    project = _project()
    assert project["name"] == harness.DISTRIBUTION != "harness"
    assert metadata.version(harness.DISTRIBUTION) == harness.__version__ == project["version"]


def test_the_extras_name_the_distribution_itself():
    project = _project()
    for extra in project["optional-dependencies"]["all"]:
        assert extra.startswith(f"{harness.DISTRIBUTION}["), extra


def test_the_command_and_the_import_package_keep_their_name():
    assert _project()["scripts"] == {"harness": "harness.cli:main"}
    scripts = {
        ep.name: ep.value
        for ep in metadata.distribution(harness.DISTRIBUTION).entry_points
        if ep.group == "console_scripts"
    }
    assert scripts["harness"] == "harness.cli:main"


def test_the_readme_installs_the_distribution_by_its_name():
    readme = (ROOT / "README.md").read_text()
    assert 'pip install "harness[' not in readme
    assert f'"{harness.DISTRIBUTION}[ray]"' in readme
    assert f'dependencies = ["{harness.DISTRIBUTION}"]' in readme


def test_dir_lists_the_public_names_with_real_signatures():
    import inspect

    import harness

    assert dir(harness) == sorted(harness.__all__)
    assert all(getattr(harness, name) is not None for name in harness.__all__)
    assert "suite_file" in inspect.signature(harness.run).parameters  # the function itself, not a (*args) wrapper
    assert harness.run.__doc__ and harness.tune.__doc__ and harness.report.__doc__ and harness.compare.__doc__
