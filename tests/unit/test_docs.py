"""The docs stay true to the code: every canonical table and column is documented."""

from __future__ import annotations

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
