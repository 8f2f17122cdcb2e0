"""A synthetic ICB with a known truth, so every estimate of the model can be checked.

The generator writes the four data-contract tables (patients, activity, practices, areas) and,
beside them, the truth the data were drawn from (``truth/true_effects.csv``,
``truth/true_need_index.csv``, ``truth/true_supply.csv``). It is deterministic from the seed
and fully vectorised (NumPy), so an LLR-sized ICB (1.1 million patients, about 6 million
appointments) takes seconds. The data are clean: validation tests break them on purpose.

One module per concept:

- :mod:`.truth`: the stated truth: need rate ratios, baseline rate, dispersion, supply law,
  and the true need index.
- :mod:`.population`: practices (synthetic, or real with their published lists), areas and
  patients with their flags; :mod:`.morbidity`: their Cambridge conditions;
  :mod:`.llr_shape`: the public LLR figures that shape them.
- :mod:`.activity`: the supply each practice delivers and the appointments.
- :mod:`.funding`: Carr-Hill-like current funding, with no deprivation term.
- :mod:`.icb`: :class:`SyntheticICB`, the generators and the writer.
"""

from pcfm.inputs.synthetic.icb import (
    SyntheticICB,
    generate_icb_for_practices,
    generate_synthetic_icb,
    write_synthetic_icb,
)
from pcfm.inputs.synthetic.morbidity import CONDITIONS
from pcfm.inputs.synthetic.population import SynthInputError
from pcfm.inputs.synthetic.truth import (
    NB_DISPERSION,
    TRUE_BASELINE_CONTACTS_PER_PERSON_YEAR,
    TRUE_RATE_RATIOS,
    true_effects_frame,
)

__all__ = [
    "CONDITIONS",
    "NB_DISPERSION",
    "TRUE_BASELINE_CONTACTS_PER_PERSON_YEAR",
    "TRUE_RATE_RATIOS",
    "SynthInputError",
    "SyntheticICB",
    "generate_icb_for_practices",
    "generate_synthetic_icb",
    "true_effects_frame",
    "write_synthetic_icb",
]
