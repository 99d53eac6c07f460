"""Indices of Deprivation for the demo LSOAs: IMD and seven domain scores, national-looking ranks
and deciles.

Each domain is a noisy copy of the place's latent deprivation (correlations like those between
the real IoD domains), except Barriers to Housing and Services, which is highest in rural areas,
as in the real index. Scores are transformed to the ranges MHCLG publishes (rates 0-1 for income
and employment, z-like scores for health and crime, 0-100 scores for the rest).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from placehealth.sources.demo.geography import (
    Geography,
    core20_share_for,
    imd_score,
    national_ranks,
)

#: Domain -> (correlation with the latent deprivation, weight of rurality).
_DOMAINS = {
    "Income": (0.95, 0.0),
    "Employment": (0.92, 0.0),
    "Education, Skills and Training": (0.85, 0.0),
    "Health Deprivation and Disability": (0.85, 0.0),
    "Crime": (0.6, -0.3),
    "Barriers to Housing and Services": (0.1, 0.8),
    "Living Environment": (0.45, 0.0),
}


@dataclass
class Deprivation:
    """Scores, ranks and deciles by index ('imd' and the domain names), one value per LSOA."""

    scores: dict[str, np.ndarray]
    ranks: dict[str, np.ndarray]
    deciles: dict[str, np.ndarray]
    core20_share: float

    @property
    def imd_decile(self) -> np.ndarray:
        return self.deciles["imd"]


def _domain_score(domain: str, z: np.ndarray) -> np.ndarray:
    if domain == "Income":
        return np.clip(0.11 * np.exp(0.6 * z), 0.005, 0.65)
    if domain == "Employment":
        return np.clip(0.085 * np.exp(0.55 * z), 0.005, 0.55)
    if domain in ("Health Deprivation and Disability", "Crime"):
        return 0.9 * z
    if domain == "Education, Skills and Training":
        return np.clip(np.exp(2.7 + 0.7 * z), 0.02, 99.0)
    if domain == "Barriers to Housing and Services":
        return np.clip(np.exp(3.0 + 0.3 * z), 1.0, 80.0)
    return np.clip(np.exp(2.9 + 0.5 * z), 1.0, 90.0)


def build_deprivation(rng: np.random.Generator, geo: Geography) -> Deprivation:
    """IMD and domain scores from the latent field; ranks as if among England's LSOAs."""
    share = core20_share_for(geo.n)
    z = geo.deprivation
    scores = {"imd": imd_score(z)}
    rural = 1 - geo.urbanity
    for domain, (rho, rural_weight) in _DOMAINS.items():
        latent = rho * z + np.sqrt(1 - rho**2) * rng.standard_normal(geo.n)
        latent = latent + rural_weight * (rural - rural.mean()) / (rural.std() or 1)
        scores[domain] = _domain_score(domain, latent)
    ranks, deciles = {}, {}
    for name, score in scores.items():
        ranks[name], deciles[name] = national_ranks(score, share)
    return Deprivation(scores, ranks, deciles, share)


__all__ = ["Deprivation", "build_deprivation"]
