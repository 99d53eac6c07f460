"""Protected copies written a block of fixed groups at a time are the copies of the whole table:
same rows in the same order, same hidden cells, same column types, including when the table's
groups interleave, a group is larger than a block, a dimension varies only in some blocks, and
an integer or boolean column has nulls (or hidden cells) in some blocks only."""

from __future__ import annotations

import shutil
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from placehealth.outputs import blocks, disclosed
from placehealth.outputs.disclosure import (
    SUPPRESSED,
    get_policy,
    protect,
    protect_each,
    same_protection,
)
from placehealth.store import Store

TABLE = "prevalence_gap_lsoa"  # fixed: period, level, group_code; dimensions: area_code, lsoa_code
REGISTRATIONS = "registrations_lsoa"  # fixed: period; dimensions: practice_code, lsoa_code, sex


def _table(seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    parts = []
    for period in ("2023-24", "2024-25"):
        for level, areas in (("pcn", 6), ("all", 1)):  # level "all": one area (a dimension not varying)
            for group in ("AF", "CHD", "DM"):
                cells = [(f"A{a}", f"L{lsoa:02d}") for a in range(areas) for lsoa in range(30)
                         if rng.random() < 0.5]
                # nothing to hide in DM at level all, nor in the first block (below)
                small = (level, group) != ("all", "DM") and (period, level, group) != ("2024-25", "pcn", "CHD")
                observed = rng.choice([0, 2, 5, 9, 14, 40, 120] if small else [40, 120],
                                      size=len(cells)).astype(float)
                parts.append(pd.DataFrame({
                    "period": period, "level": level, "area_code": [c[0] for c in cells],
                    "lsoa_code": [c[1] for c in cells], "group_code": group,
                    "patients": observed * 20, "list_size": observed * 20, "observed": observed,
                    "expected": observed + rng.uniform(-2, 6, len(cells)).round(1),
                    "ratio": rng.uniform(0.5, 1.5, len(cells)),
                    "rank": rng.integers(1, 100, len(cells)),  # integers, nulls in one group
                    "gap_rank": rng.integers(1, 100, len(cells)),  # integers hidden with the counts
                    "significantly_low": rng.random(len(cells)) < 0.3,
                    "flagged": rng.random(len(cells)) < 0.5}))
    frame = pd.concat(parts, ignore_index=True)
    # nulls in one group only: read as floats / objects throughout the whole table
    frame["rank"] = frame["rank"].astype("Int64").mask(frame["group_code"].eq("DM") & frame["level"].eq("all"))
    frame["significantly_low"] = frame["significantly_low"].astype(object).mask(frame["group_code"].eq("CHD"))
    frame["flagged"] = frame["flagged"].astype(object).mask(frame["group_code"].eq("CHD"))
    frame = frame.sample(frac=1, random_state=seed).reset_index(drop=True)  # groups interleave
    # first a block with nothing hidden and no flag (nulls only), stored before the others
    first = frame.index[frame["group_code"].eq("CHD") & frame["level"].eq("pcn") & frame["period"].eq("2024-25")][0]
    return pd.concat([frame.loc[[first]], frame.drop(index=first)], ignore_index=True)


def _registrations(seed: int = 6) -> pd.DataFrame:
    """Practice x LSOA x sex counts: by sex in one period, persons (sex ALL) in the other, so sex
    varies in the whole table (three dimensions: no bridge search) but not in the persons block.
    There, two blocks of hidden cells (P0-P1 x L0-L1 and P2-P3 x L2-L3) are joined by one hidden
    cell (P1 x L2), a bridge of the two-way table the block looks like."""
    rng = np.random.default_rng(seed)
    rows = [("2023-24", f"P{p}", f"L{lsoa}", sex, float(rng.choice([1, 3, 6, 9, 12, 30, 80])))
            for p in range(8) for lsoa in range(30) for sex in "FM" if rng.random() < 0.4]
    persons = {("P0", "L0"): 5, ("P0", "L1"): 6, ("P1", "L0"): 6, ("P1", "L1"): 5, ("P2", "L2"): 5,
               ("P2", "L3"): 6, ("P3", "L2"): 6, ("P3", "L3"): 5, ("P1", "L2"): 2, ("P0", "L2"): 100,
               ("P2", "L0"): 100, ("P0", "L4"): 40, ("P3", "L4"): 40}
    rows += [("2024-25", p, lsoa, "ALL", float(n)) for (p, lsoa), n in persons.items()]
    frame = pd.DataFrame(rows, columns=["period", "practice_code", "lsoa_code", "sex", "patients"])
    return frame.assign(lsoa_vintage=2021, lsoa_known=True)  # numbers protection leaves alone


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> dict[str, tuple]:
    folder = tmp_path_factory.mktemp("blocks")
    source = folder / "source.duckdb"
    with Store(source) as store:
        store.con.create_table(TABLE, _table())
        store.con.create_table(REGISTRATIONS, _registrations())
    out = {}
    widened = []
    widening = blocks._widening
    mirrored = []
    mirror, alias = blocks.mirror, blocks.alias

    def spy(*args):
        widened.append(widening(*args))
        return widened[-1]

    def mirror_spy(store, database, source, target):
        mirrored.append((source, target, store.con.table(source, database=database).count().execute()))
        mirror(store, database, source, target)

    def alias_spy(store, database, source, target):
        mirrored.append((source, target, "view"))
        alias(store, database, source, target)

    for name, rows in (("whole", 10**9), ("blocks", 40)):
        path = folder / f"{name}.duckdb"
        shutil.copy(source, path)
        with Store(path) as store, pytest.MonkeyPatch.context() as patch:
            patch.setattr(blocks, "_widening", spy)
            patch.setattr(blocks, "mirror", mirror_spy)
            patch.setattr(blocks, "alias", alias_spy)
            disclosed.write_all(store, block_rows=rows)
            out[name, "mirrored"] = mirrored[:]
            mirrored.clear()
            ledger = disclosed.ledger(store)
            plan = blocks.plan(store, TABLE, rows)
            frames = {(r.table_name, r.policy): disclosed.read_copy(store, r.table_name, get_policy(r.policy),
                                                                    r._asdict())
                      for r in ledger.itertuples(index=False)}
            schema = {t: store.con.table(disclosed.copy_name(t, get_policy("opensafely")),
                                         database=disclosed.SCHEMA).schema() for t in (TABLE, REGISTRATIONS)}
            out[name] = (frames, ledger, plan, schema)
    out["widened"] = widened
    with Store(source) as store:
        out["raw"] = {t: store.con.table(t).to_pandas() for t in (TABLE, REGISTRATIONS)}
    return out


def test_blocks_were_used_and_interleave(copies):
    assert copies["whole"][2] is None
    plan = copies["blocks"][2]
    assert plan.blocks > 10 and not plan.in_order
    assert plan.varying == {"area_code", "lsoa_code"}
    # stored columns widened as later blocks needed: integers to doubles, nulls to booleans
    assert {"DOUBLE", "BOOLEAN"} <= set(copies["widened"])


@pytest.mark.parametrize("table", [TABLE, REGISTRATIONS])
@pytest.mark.parametrize("policy", ["opensafely", "nhs_england"])
def test_blockwise_copy_is_the_whole_tables_copy(copies, table, policy):
    whole, block = copies["whole"][0][table, policy], copies["blocks"][0][table, policy]
    assert (whole["suppressed_cells"] != "").sum() > 20, "the test table has hidden cells"
    pd.testing.assert_frame_equal(whole, block, check_exact=True)
    assert copies["whole"][3][table] == copies["blocks"][3][table]
    ledgers = [copies[c][1].set_index(["table_name", "policy"]).loc[(table, policy), ["rows", "dtypes"]].to_dict()
               for c in ("whole", "blocks")]
    assert ledgers[0] == ledgers[1]


def test_a_dimension_constant_in_a_block_still_counts():
    """Sex varies in the whole table: a block of persons only is still a three-way table (had
    the block been read as the two-way table it looks like, bridges would hide more)."""
    frame = _registrations()
    persons = frame[frame["period"] == "2024-25"]
    as_in_table = protect(persons, REGISTRATIONS, "opensafely", varying={"practice_code", "lsoa_code", "sex"})
    alone = protect(persons, REGISTRATIONS, "opensafely")
    assert (alone["suppressed_cells"] != "").sum() == (as_in_table["suppressed_cells"] != "").sum() + 1


def test_a_block_that_split_a_group_would_differ():
    """Why blocks hold whole groups: protecting half of a group hides other cells."""
    frame = _table()
    group = frame[(frame["period"] == "2024-25") & (frame["level"] == "pcn") & (frame["group_code"] == "DM")]
    whole = protect(group, TABLE, "opensafely")["suppressed_cells"]
    half = pd.concat([protect(part, TABLE, "opensafely", varying={"area_code", "lsoa_code"})
                      for part in (group.iloc[: len(group) // 2], group.iloc[len(group) // 2:])])
    assert not whole.equals(half["suppressed_cells"])


def test_a_wide_tables_blocks_hold_fewer_rows(tmp_path):
    """Blocks are about as many cells whatever the width: a table of twice BLOCK_COLUMNS columns
    is cut into about twice as many blocks, and its copy is still the whole table's."""
    narrow = pd.concat([_registrations(seed).assign(period=lambda f, s=seed: f["period"] + f"/{s}")
                        for seed in range(6)], ignore_index=True)  # 12 periods (fixed groups)
    wide = narrow.assign(**{f"note_{i}": np.arange(len(narrow), dtype=float) + i
                            for i in range(2 * blocks.BLOCK_COLUMNS - narrow.shape[1])})
    assert wide.shape[1] == 2 * blocks.BLOCK_COLUMNS
    counts, copies = {}, {}
    for name, frame, rows in (("narrow", narrow, 1000), ("wide", wide, 1000), ("whole", wide, 10**9)):
        with Store(tmp_path / f"{name}.duckdb") as store:
            store.con.create_table(REGISTRATIONS, frame)
            plan = blocks.plan(store, REGISTRATIONS, rows)
            counts[name] = plan.blocks if plan else 1
            disclosed.write_all(store, ["opensafely"], block_rows=rows)
            entry = disclosed.ledger(store).iloc[0].to_dict()
            copies[name] = disclosed.read_copy(store, REGISTRATIONS, get_policy("opensafely"), entry)
    assert counts["narrow"] >= 2 and counts["wide"] >= 2 * counts["narrow"] - 1 and counts["whole"] == 1
    assert (copies["wide"]["suppressed_cells"] != "").sum() > 20, "the test table has hidden cells"
    pd.testing.assert_frame_equal(copies["wide"], copies["whole"], check_exact=True)


def test_copies_store_only_what_protection_changes(copies):
    """A copy holds row numbers and the columns protection may change; the text columns it
    leaves alone (codes, periods) are read from the table itself."""
    for table, count in ((TABLE, "observed"), (REGISTRATIONS, "patients")):
        for name in ("whole", "blocks"):
            stored = set(copies[name][3][table].names)
            assert {blocks.ROW, "suppressed_cells", count} <= stored
            assert not stored & {"period", "area_code", "lsoa_code", "group_code", "practice_code", "sex"}
            if table == REGISTRATIONS:  # numbers too, where the rule recomputes nothing
                assert stored == {blocks.ROW, "suppressed_cells", count}


@pytest.mark.parametrize("rows", [40, 10**9], ids=["blocks", "whole"])
def test_a_kept_column_protection_changes_is_stored(tmp_path, monkeypatch, rows):
    """Were a column read from the table itself changed by protection after all (here the
    counts), the copy stores it (blocks: made again), and reads as the whole table protected."""
    frame = _registrations()
    with Store(tmp_path / "s.duckdb") as store:
        store.con.create_table(REGISTRATIONS, frame)
        kept = disclosed.kept_columns(store, REGISTRATIONS)
        assert "patients" not in kept
        monkeypatch.setattr(disclosed, "kept_columns", lambda *_: kept | {"patients"})
        disclosed.write_all(store, ["opensafely"], block_rows=rows)
        policy = get_policy("opensafely")
        stored = store.con.table(disclosed.copy_name(REGISTRATIONS, policy), database=disclosed.SCHEMA).columns
        copy = disclosed.read_copy(store, REGISTRATIONS, policy, disclosed.valid_copy(store, REGISTRATIONS, policy))
    assert "patients" in stored and "practice_code" not in stored
    alone = protect(frame, REGISTRATIONS, "opensafely")
    assert (alone["suppressed_cells"] != "").sum() > 20
    pd.testing.assert_frame_equal(copy, alone, check_exact=True, check_dtype=False)


def test_a_row_moved_is_never_read_with_another_rows_protection(tmp_path):
    """The same rows stored in another order: the copy's row numbers no longer match, so the
    fingerprint (rows hashed with their row numbers) differs and the copy is not used."""
    frame = _registrations()
    with Store(tmp_path / "s.duckdb") as store:
        store.con.create_table(REGISTRATIONS, frame)
        disclosed.write_all(store, ["opensafely"])
        policy = get_policy("opensafely")
        assert disclosed.valid_copy(store, REGISTRATIONS, policy) is not None
        store.con.create_table(REGISTRATIONS, frame.iloc[::-1], overwrite=True)
        assert disclosed.valid_copy(store, REGISTRATIONS, policy) is None


def test_policies_agreeing_on_a_frame_protect_it_alike():
    """Where ``same_protection`` says two policies protect a frame alike, they do: every fixed
    group of the test tables under the presets (they differ only in whether a zero is small),
    with hidden cells among those said alike; groups holding zero counts are not; a policy with
    another threshold never is."""
    a, b = get_policy("opensafely"), get_policy("nhs_england")
    said = {True: 0, False: 0}
    for table, frame, keys in ((TABLE, _table(), ["period", "level", "group_code"]),
                               (REGISTRATIONS, _registrations(), ["period"])):
        for _, group in frame.groupby(keys):
            same = same_protection(group, table, a, b)
            said[same] += 1
            assert same == (not group[["patients", "observed"] if table == TABLE else ["patients"]]
                            .eq(0).any().any())
            if same:
                protected = protect(group, table, a)
                pd.testing.assert_frame_equal(protected, protect(group, table, b), check_exact=True)
                said["hidden"] = said.get("hidden", 0) + (protected["suppressed_cells"] != "").sum()
    assert said[True] >= 3 and said[False] >= 3 and said["hidden"] > 10
    assert not same_protection(_registrations(), REGISTRATIONS, b, replace(b, suppress_max=10))
    assert not same_protection(_registrations(), REGISTRATIONS, b, replace(b, rounding=10))


@pytest.mark.parametrize("table", [TABLE, REGISTRATIONS])
@pytest.mark.parametrize("policy", ["opensafely", "nhs_england"])
def test_copies_are_the_table_protected_under_each_policy_alone(copies, table, policy):
    """A copy protected once for both policies, or copied from the other's, reads as the table
    protected under its own policy alone."""
    alone = protect(copies["raw"][table], table, policy)
    for name in ("whole", "blocks"):
        entry = copies[name][1].set_index(["table_name", "policy"]).loc[(table, policy)].to_dict()
        pd.testing.assert_frame_equal(copies[name][0][table, policy],
                                      disclosed.restore_types(alone.copy(), entry),
                                      check_exact=True)


def test_a_policy_protecting_alike_is_stored_once(copies):
    """No zero counts in the registrations: the second policy's copy is a view of the first's
    (whole table, or once every block is seen). The prevalence table's first block has no
    zero count, its others have: the blocks so far are copied when the first differing one comes."""
    first, second = (disclosed.copy_name(t, get_policy(p)) for t in [REGISTRATIONS] for p in ("opensafely", "nhs_england"))
    assert (first, second, "view") in copies["whole", "mirrored"]
    assert (first, second, "view") in copies["blocks", "mirrored"]
    at_first_difference = [m for m in copies["blocks", "mirrored"] if m[0].endswith(TABLE)]
    assert len(at_first_difference) == 1 and 0 < at_first_difference[0][2] < len(copies["raw"][TABLE])
    assert not [m for m in copies["whole", "mirrored"] if m[0].endswith(TABLE)]


def test_protected_under_several_policies_at_once_as_under_each_alone(demo_db):
    """``protect_each`` shares the rows' groups and the values recomputed from rounded counts
    between policies: every protected table of the demo place (profiles' shares, need's O/E,
    uptake's proportions, Core20PLUS5's sides, the registrations) comes out as under each policy
    alone, for the presets and a rule with other rounding and threshold."""
    policies = [get_policy("opensafely"), get_policy("nhs_england"),
                replace(get_policy("nhs_england"), name="tens", suppress_max=10, rounding=10)]
    checked, hidden = [], 0
    with Store(demo_db, read_only=True) as store:
        for table in store.list_tables():
            if table in disclosed.SKIP or not disclosed.needs_protection(store, table):
                continue
            frame = store.read(table)
            if frame.empty:
                continue
            together = protect_each(frame, table, policies)
            for policy, out in zip(policies, together, strict=True):
                alone = protect(frame, table, policy)
                pd.testing.assert_frame_equal(out, alone, check_exact=True)
                hidden += int((alone[SUPPRESSED] != "").sum())
            checked.append(table)
    assert {"prevalence_gap_lsoa", "uptake_gap", "pcn_profile", "registrations_lsoa"} <= set(checked)
    assert hidden > 100


@pytest.mark.parametrize("rows", [40, 10**9], ids=["blocks", "whole"])
def test_a_copy_stored_once_turns_into_its_own_and_back(tmp_path, rows):
    """Registrations with no zero count: the second policy's copy is a view of the first's.
    Rebuilt once a zero count makes the policies differ, it is a table of its own; rebuilt
    without it, a view again. Each time both copies read as the table protected under their
    own policy alone."""
    views = "SELECT view_name FROM duckdb_views() WHERE schema_name = 'disclosed'"
    second = disclosed.copy_name(REGISTRATIONS, get_policy("nhs_england"))
    frame = _registrations()
    with_zero = frame.assign(patients=frame["patients"].mask(frame.index == 3, 0.0))
    seen = []
    with Store(tmp_path / "s.duckdb") as store:
        for version in (frame, with_zero, frame):
            store.con.create_table(REGISTRATIONS, version, overwrite=True)
            disclosed.write_all(store, block_rows=rows)
            seen.append(second in {r[0] for r in store.con.con.execute(views).fetchall()})
            for name in ("opensafely", "nhs_england"):
                policy = get_policy(name)
                copy = disclosed.read_copy(store, REGISTRATIONS, policy,
                                           disclosed.valid_copy(store, REGISTRATIONS, policy))
                pd.testing.assert_frame_equal(copy, protect(version, REGISTRATIONS, policy),
                                              check_exact=True, check_dtype=False)
    assert seen == [True, False, True]
