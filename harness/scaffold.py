"""``harness new-plugin NAME``: a plugin package to start from, that installs and passes its own tests at once.

The files are Jinja2 templates under ``harness/templates/new_plugin/`` (Jinja2 is a dependency), rendered with
the names below; this module only decides the names, which files a plugin gets, and where they go. Naming, for
``demo``: the import package, and the ``harness`` entry point's name (what ``-p no:NAME`` blocks and
``harness plugins`` lists), is ``harness_demo``; the distribution ``harness-demo`` (its default folder too); the
specs ``demo_model``, ``demo_dataset`` and ``demo_optimizer``.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

KINDS = ("model", "dataset", "optimizer")
TEMPLATES = Path(__file__).parent / "templates" / "new_plugin"
#: Lowercase letters, digits and underscores, from a letter: it becomes part of a module name and of spec names.
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: Each template, the file it becomes (formatted with the names), and the kind it belongs to (None: every plugin).
FILES = (
    ("pyproject.toml.jinja", "pyproject.toml", None),
    ("README.md.jinja", "README.md", None),
    ("package/__init__.py.jinja", "{package}/__init__.py", None),
    ("package/models.py.jinja", "{package}/models.py", "model"),
    ("package/datasets.py.jinja", "{package}/datasets.py", "dataset"),
    ("package/optimizers.py.jinja", "{package}/optimizers.py", "optimizer"),
    ("tests/test_plugin.py.jinja", "tests/test_{package}.py", None),
)


@dataclass(frozen=True)
class PluginNames:
    """Every name a plugin called ``name`` goes by."""

    name: str

    @property
    def package(self) -> str:
        """The import package, which is also the entry point's name: ``-p no:harness_demo`` blocks it."""
        return f"harness_{self.name}"

    @property
    def distribution(self) -> str:
        return f"harness-{self.name.replace('_', '-')}"

    def spec(self, kind: str) -> str:
        return f"{self.name}_{kind}"


def plugin_names(name: str) -> PluginNames:
    """The names of a new plugin; ConfigError for a name that cannot make them, or whose package already exists."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"bad plugin name {name!r}: use 1-40 lowercase letters, digits and _, from a letter (demo)")
    if name.startswith("harness"):
        raise ConfigError(f"bad plugin name {name!r}: give it without 'harness' (demo makes the package harness_demo)")
    names = PluginNames(name)
    try:
        found = importlib.util.find_spec(names.package)
    except (ImportError, ValueError):
        found = None
    if found is not None:
        raise ConfigError(f"bad plugin name {name!r}: a package {names.package} is already importable here "
                          f"({found.origin or 'a namespace package'}); choose another name")  # fmt: skip
    return names


def check_folder(folder: Path) -> None:
    """The output folder must be new or empty: a plugin is never written over files that are there."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"output {folder} is a file, not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        raise ConfigError(f"output folder {folder} already exists and is not empty; choose another --output")


def render(names: PluginNames, kinds) -> dict[str, str]:
    """Each file of the plugin (path relative to its folder) -> its text."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,  # a misspelt variable fails here, not in the author's package
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python, TOML and Markdown, not HTML
    )
    wanted = {"hookimpl", "lazy", *(f"{kind.title()}Spec" for kind in kinds)}
    wanted |= {"SearchParam"} if "optimizer" in kinds else set()
    values = {
        "names": names,
        "package": names.package,
        "distribution": names.distribution,
        "entry_point": names.package,
        "harness_distribution": sys.modules["harness"].DISTRIBUTION,  # as provenance reads it: no edge to the facade
        "specs": [names.spec(kind) for kind in kinds],
        "imports": ", ".join(sorted(wanted, key=lambda name: (name[0].islower(), name))),  # as isort orders them
        **{kind: kind in kinds for kind in KINDS},
        **{f"{kind}_name": names.spec(kind) for kind in KINDS},
    }
    return {
        target.format(package=names.package): environment.get_template(template).render(values)
        for template, target, kind in FILES
        if kind is None or kind in kinds
    }


@dataclass(frozen=True)
class NewPlugin:
    """What :func:`new_plugin` wrote."""

    folder: Path
    names: PluginNames
    files: tuple[Path, ...]

    def summary(self) -> str:
        """What the command prints: the files, then how to install and test the plugin."""
        written = "\n".join(f"  {path.relative_to(self.folder)}" for path in self.files)
        return (
            f"wrote plugin {self.names.package} (distribution {self.names.distribution}) in {self.folder}:\n{written}\n"
            f"next: pip install -e {self.folder} && pytest {self.folder}   (harness plugins lists it; "
            f"-p no:{self.names.package} blocks it)"
        )


def new_plugin(name: str, kinds=(), output: str | Path | None = None) -> NewPlugin:
    """Write the plugin ``name`` with the ``kinds`` of spec asked for (none: all three) into ``output`` (default
    ``./harness-NAME``, which must be new or empty); ConfigError for a bad name or a folder in the way."""
    names = plugin_names(name)
    kinds = tuple(kind for kind in KINDS if kind in kinds) or KINDS
    folder = Path(output if output is not None else names.distribution).expanduser()
    check_folder(folder)
    written = []
    for relative, text in render(names, kinds).items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return NewPlugin(folder, names, tuple(written))
