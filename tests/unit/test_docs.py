"""The docs stay true to the code: every canonical table and column is documented, every derived
table has a disclosure rule, and README's command reference is the CLI's command list."""

from __future__ import annotations

import re

import typer

from placehealth.levels import profile_tables
from placehealth.outputs.cli import _register, app
from placehealth.outputs.disclosure import FOLLOWS, PROFILE_TABLES, TABLE_RULES
from placehealth.tables import CANONICAL, LOADS_COLUMNS

from support import ROOT


def test_every_canonical_table_and_column_is_in_data_md():
    text = (ROOT / "docs" / "DATA.md").read_text()
    for spec in CANONICAL.values():
        assert f"### `{spec.name}`" in text, spec.name
        section = text.split(f"### `{spec.name}`", 1)[1].split("\n### ", 1)[0]
        for column in spec.columns:
            assert f"| `{column}` |" in section, f"{spec.name}.{column}"
    for column in LOADS_COLUMNS:
        assert f"| `{column}` |" in text


def test_readme_opens_with_the_two_commands():
    head = (ROOT / "README.md").read_text().splitlines()[:8]
    assert any("make demo" in line for line in head)
    assert any("make test" in line for line in head)


def derived_tables() -> set[str]:
    """Every table named in a heading of DATA.md's 'Derived tables' section."""
    text = (ROOT / "docs" / "DATA.md").read_text()
    section = text.split("\n## Derived tables", 1)[1].split("\n## ", 1)[0]
    headings = [line for line in section.splitlines() if line.startswith("### ")]
    return {name for line in headings for name in re.findall(r"`([a-z0-9_]+)`", line)}


def test_every_derived_table_has_a_disclosure_rule():
    tables = derived_tables()
    assert {"pcn_profile", "prevalence_gap", "comparison", "inequality"} <= tables
    ruled = set(TABLE_RULES) | set(PROFILE_TABLES) | set(FOLLOWS)
    assert not sorted(tables - ruled), "derived tables without a disclosure rule"
    # every level's profile is documented, so a new level brings its profile into the docs
    assert set(profile_tables().values()) <= tables


def readme_commands() -> set[str]:
    """Command paths in README's command reference: the words after `placehealth` up to the
    first argument (upper case), option or bracket; ``pcn\\|la`` names two subcommands."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Command reference", 1)[1].split("\n## ", 1)[0]
    found = set()
    for cell in re.findall(r"^\| `placehealth ([^`]*)`", section, flags=re.M):
        paths = [""]
        for word in cell.split():
            choices = word.split("\\|")
            if not all(re.fullmatch(r"[a-z][a-z0-9-]*", c) for c in choices):
                break
            paths = [f"{p} {c}".strip() for p in paths for c in choices]
        found |= set(paths)
    return found


def cli_commands() -> set[str]:
    """Every command path the CLI has (leaf commands of every group)."""
    _register()
    def walk(group, prefix: tuple[str, ...] = ()) -> set[str]:
        out = set()
        for name, command in group.commands.items():
            if command.hidden:
                continue
            path = (*prefix, name)
            subcommands = getattr(command, "commands", {})  # a group (Typer's own click)
            if not subcommands or getattr(command, "invoke_without_command", False):
                out.add(" ".join(path))  # a command, or a group that runs by itself
            out |= walk(command, path) if subcommands else set()
        return out

    return walk(typer.main.get_command(app))


def starts_with(path: str, command: str) -> bool:
    """Whether ``path`` is ``command`` followed by nothing or by arguments (whole words)."""
    return path == command or path.startswith(command + " ")


def test_readme_command_reference_matches_the_cli():
    documented, actual = readme_commands(), cli_commands()
    assert {"ingest", "build", "need pcn", "group create"} <= actual
    # a documented path may go on with argument values (`target shares pcn|practice|lsoa`)
    missing = [c for c in actual if not any(starts_with(d, c) for d in documented)]
    assert not sorted(missing), "commands missing from README's command reference"
    unknown = [d for d in documented if not any(starts_with(d, c) for c in actual)]
    assert not sorted(unknown), "README documents commands the CLI does not have"
