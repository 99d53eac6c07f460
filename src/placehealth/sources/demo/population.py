"""Who lives in each demo LSOA: residents by sex and single year of age, and Census 2021 TS021
ethnic group counts.

Age structure tilts with place: deprived urban LSOAs are younger, rural and affluent ones older.
Minority-ethnic residents concentrate in the urban clusters of the geography's diversity field,
with South Asian and Black groups following their own smooth fields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placehealth.sources.demo.geography import Geography

AGES = np.arange(91)  # 0..89 and 90 (= 90+)

#: England's mid-2022 age profile, roughly: share of residents at each single year of age (0..90+),
#: built from a smooth curve (fewer people past 60, a small 90+ mass).
_BASE = np.where(AGES < 20, 1.22, np.where(AGES < 60, 1.25 - 0.004 * (AGES - 20), 0))
_BASE = np.where(AGES >= 60, 1.09 * np.exp(-((np.maximum(AGES - 60, 0) / 20.0) ** 2)), _BASE)
_BASE[90] = 3.0 * _BASE[89]
_BASE = _BASE / _BASE.sum()

#: TS021 detailed categories (Nomis bulk file labels, after "Ethnic group: ") with England 2021
#: shares (%), grouped under their high-level category.
ETHNIC_GROUPS: dict[str, list[tuple[str, float]]] = {
    "Asian, Asian British or Asian Welsh": [
        ("Bangladeshi", 1.1), ("Chinese", 0.7), ("Indian", 3.3), ("Pakistani", 2.7),
        ("Other Asian", 1.6)],
    "Black, Black British, Black Welsh, Caribbean or African": [
        ("African", 2.5), ("Caribbean", 1.1), ("Other Black", 0.5)],
    "Mixed or Multiple ethnic groups": [
        ("White and Asian", 0.8), ("White and Black African", 0.4),
        ("White and Black Caribbean", 0.9), ("Other Mixed or Multiple ethnic groups", 0.7)],
    "White": [
        ("English, Welsh, Scottish, Northern Irish or British", 73.5), ("Irish", 0.9),
        ("Gypsy or Irish Traveller", 0.1), ("Roma", 0.2), ("Other White", 6.3)],
    "Other ethnic group": [("Arab", 0.6), ("Any other ethnic group", 1.6)],
}
DETAILED = [(high, low, share) for high, items in ETHNIC_GROUPS.items() for low, share in items]
WHITE_BRITISH = DETAILED.index(
    ("White", "English, Welsh, Scottish, Northern Irish or British", 73.5))
SOUTH_ASIAN = [i for i, (_, low, _) in enumerate(DETAILED)
               if low in ("Bangladeshi", "Indian", "Pakistani")]
BLACK = [i for i, (high, _, _) in enumerate(DETAILED) if high.startswith("Black")]


@dataclass
class Population:
    """Residents by LSOA x sex x single year of age, and Census ethnic group counts by LSOA."""

    female: np.ndarray      # (n_lsoas, 91) ints; column 90 = 90+
    male: np.ndarray
    ethnicity: np.ndarray   # (n_lsoas, len(DETAILED)) ints (Census 2021 usual residents)

    @property
    def total(self) -> np.ndarray:
        return self.female.sum(1) + self.male.sum(1)

    def shares(self, group: list[int]) -> np.ndarray:
        """Each LSOA's share of Census residents in the given detailed ethnic groups."""
        return self.ethnicity[:, group].sum(1) / np.maximum(self.ethnicity.sum(1), 1)


def build_population(rng: np.random.Generator, geo: Geography, residents_total: int
                     ) -> Population:
    """Residents per LSOA (about equal, as LSOAs are designed), split by sex, age and ethnicity."""
    n = geo.n
    mean = residents_total / n
    residents = np.maximum(np.round(mean * rng.lognormal(0, 0.18, n)), 400).astype(np.int64)
    residents = np.round(residents * residents_total / residents.sum()).astype(np.int64)
    # Older where rural and affluent, younger where deprived and urban.
    tilt = (0.45 * (1 - geo.urbanity) - 0.3 * geo.deprivation + 0.15 * rng.standard_normal(n))
    shape = (AGES - 40) / 40.0
    weights = _BASE[None, :] * np.exp(tilt[:, None] * shape[None, :])
    # Deprived urban LSOAs also hold more young adults (students, young families).
    weights *= 1 + 0.4 * np.clip(geo.deprivation, 0, None)[:, None] * np.exp(
        -((AGES[None, :] - 25) / 8.0) ** 2)
    weights /= weights.sum(1, keepdims=True)
    # Women outlive men: the female share rises with age.
    female_share = 0.49 + 0.16 * np.clip((AGES - 60) / 30, 0, 1)
    cells = np.concatenate([weights * female_share, weights * (1 - female_share)], axis=1)
    counts = rng.multinomial(residents, cells)
    female, male = counts[:, :91], counts[:, 91:]

    base = np.array([share for _, _, share in DETAILED]) / 100
    minority = 1 / (1 + np.exp(-(-1.6 + 1.3 * geo.diversity)))
    mix = np.tile(np.log(base), (n, 1))
    mix[:, SOUTH_ASIAN] += 1.2 * geo.south_asian[:, None]
    mix[:, BLACK] += 1.2 * geo.black[:, None]
    mix[:, WHITE_BRITISH] = -np.inf
    mix = np.exp(mix - mix.max(1, keepdims=True))
    mix = mix / mix.sum(1, keepdims=True) * minority[:, None]
    mix[:, WHITE_BRITISH] = 1 - minority
    census_total = np.round(counts.sum(1) * rng.uniform(0.97, 1.0, n)).astype(np.int64)
    ethnicity = rng.multinomial(census_total, mix)
    return Population(female=female, male=male, ethnicity=ethnicity)


__all__ = ["AGES", "BLACK", "DETAILED", "ETHNIC_GROUPS", "SOUTH_ASIAN", "WHITE_BRITISH",
           "Population", "build_population"]
