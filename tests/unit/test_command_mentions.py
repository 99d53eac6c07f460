"""Every command a hint, help text or document tells the user to run exists: each backticked
`placehealth COMMAND [SUBCOMMAND]` in the source, README.md and docs/ names a real command."""

from __future__ import annotations

import re

import typer

from placehealth.outputs.cli import _register, app

from support import ROOT

MENTION = re.compile(r"`placehealth ([a-z][a-z-]*)(?: ([a-z][a-z-]*))?")


def commands() -> dict[str, set[str]]:
    _register()
    top = typer.main.get_command(app)
    return {name: set(getattr(c, "commands", {}) or {}) for name, c in top.commands.items()}


def test_every_mentioned_command_exists():
    known = commands()
    files = [p for p in (ROOT / "src").rglob("*.py")] + [ROOT / "README.md",
                                                          *(ROOT / "docs").glob("*.md")]
    wrong = []
    for path in files:
        for m in MENTION.finditer(path.read_text(encoding="utf-8")):
            first, second = m.groups()
            if first not in known or (known[first] and second and second not in known[first]):
                wrong.append(f"{path.relative_to(ROOT)}: {m.group(0)}`")
    assert not wrong, "commands that do not exist: " + "; ".join(wrong)


def test_the_check_would_catch_a_missing_command():
    assert "unload" not in commands()
    assert MENTION.search("run `placehealth unload 3` first").group(1) == "unload"
