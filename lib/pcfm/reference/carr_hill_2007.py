"""The "Carr-Hill 2007" age-sex need weights, held once (domain brief §4).

The weights are relative to males 5-14 = 1, as used by the Health Foundation's public
analysis code (miqdadasaria/primary_care). The Health Foundation also multiplies by
1.054 to the power of the area's IMD health-and-disability domain score
(:data:`HEALTH_DOMAIN_FACTOR`). The workload model's comparator
(`pcfm.model.carr_hill`) and the synthetic ICB's funding (`pcfm.inputs.synthetic`)
both look weights up through :func:`weight_by_age`.
"""

from __future__ import annotations

import numpy as np

#: Keys: sex, then (lowest age of the group, weight); each group runs to the next key's age.
CARR_HILL_2007_WEIGHTS: dict[str, tuple[tuple[int, float], ...]] = {
    "M": ((0, 2.354), (5, 1.000), (15, 0.913), (45, 1.373), (65, 2.531), (75, 3.254), (85, 3.193)),
    "F": ((0, 2.241), (5, 1.030), (15, 1.885), (45, 2.115), (65, 2.820), (75, 3.301), (85, 3.090)),
}

#: Multiplier per point of the IMD health-and-disability domain score.
HEALTH_DOMAIN_FACTOR = 1.054

SEXES = tuple(CARR_HILL_2007_WEIGHTS)


def weight_by_age(sex: str, ages: np.ndarray) -> np.ndarray:
    """The weight of each person of one sex (``'F'`` or ``'M'``) from their age in years."""
    groups = CARR_HILL_2007_WEIGHTS[sex]
    lowers = np.array([lower for lower, _ in groups])
    values = np.array([value for _, value in groups])
    return values[np.searchsorted(lowers, np.asarray(ages), side="right") - 1]
