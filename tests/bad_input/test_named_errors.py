"""Every error about a file names that file, even when the check ran on a frame the reader built
(a duplicate key found after the columns were renamed)."""

from __future__ import annotations

import pytest

from placehealth.sources import ReadOptions, read_file
from placehealth.sources.validate import InputError

from support import shared_file

REGISTRATIONS = ("regional_subsets/staffordshire_stoke_2025/"
                 "gp_patients_by_practice_lsoa21_ssot_2025-10.csv")
QOF = "qof_prevalence/qof_2020-21_PREVALENCE_2021_v2.csv"


def with_first_row_twice(source, path):
    lines = source.read_text(encoding="utf-8-sig").splitlines()
    path.write_text("\n".join([lines[0], lines[1], *lines[1:200], ""]), encoding="utf-8")
    return path


@pytest.mark.realdata
@pytest.mark.parametrize("relative, name, period", [
    (REGISTRATIONS, "ssot_2025-10_twice.csv", "2025-10"),  # checked on the reader's own frame
    (QOF, "PREVALENCE_2021_twice.csv", "2020-21"),
])
def test_a_duplicate_key_names_the_file_and_both_lines(tmp_path, relative, name, period):
    path = with_first_row_twice(shared_file(relative), tmp_path / name)
    with pytest.raises(InputError) as caught:
        read_file(path, None, ReadOptions(period=period))
    error = caught.value
    assert error.file == name, str(error)
    assert str(error).startswith(name) and "duplicate" in str(error)
    assert error.line == 3 and "line 2" in str(error)
