"""Parameters of the need-to-workload model."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field

from pcfm.params.base import Section

Covariate = Literal[
    "age_sex", "deprivation", "morbidity", "newly_registered", "care_home", "interpreter_needed"
]
#: Every need characteristic the model can use, in the order of the schema.
ALL_COVARIATES: list[str] = list(get_args(Covariate))


class ModelParams(Section):
    """Specification of the count regression of workload on need."""

    covariates: list[Covariate] = Field(
        default_factory=lambda: ["age_sex", "deprivation"],
        description=(
            "Need characteristics in the model, each a set of rate ratios against a stated "
            "reference level: age_sex (5-year age band by sex, fully interacted; reference "
            "F:30-34), deprivation (IMD band of the patient's area; reference the least deprived "
            "band), morbidity (see morbidity_measure; reference no conditions or ACG band 0), "
            "newly_registered, care_home, interpreter_needed (0/1 flags; reference 0)."
        ),
        min_length=1,
    )
    age_sex_form: Literal["interacted", "additive"] = Field(
        "interacted",
        description=(
            "How age and sex enter when age_sex is a covariate: 'interacted' gives every 5-year "
            "band of each sex its own rate ratio (terms age_sex=M:85+, reference F:30-34); "
            "'additive' gives age bands and sex separate effects (terms age_band=85+, reference "
            "30-34, and sex=M, reference F), i.e. the same age curve for both sexes."
        ),
    )
    age_form: Literal["bands", "spline"] = Field(
        "bands",
        description=(
            "How age enters when age_sex is a covariate: 'bands' gives each 5-year age band its "
            "own rate ratio (see age_sex_form); 'spline' uses single years of age (0-115) through "
            "a cubic B-spline with age_spline_df degrees of freedom, knots at quantiles of the "
            "data's age, by sex when age_sex_form is 'interacted' (terms age_spline:F:1, …, "
            "age_spline:M:1, …, and sex=M; one curve, age_spline:all:k, when 'additive'); the "
            "reference is F aged 32, and the report shows the fitted age-sex curve, not the "
            "spline coefficients, as rate ratios."
        ),
    )
    age_spline_df: int = Field(
        6,
        ge=3,
        le=12,
        description=(
            "Degrees of freedom (basis columns per sex) of the age spline when age_form is "
            "'spline': a cubic B-spline with age_spline_df − 3 interior knots at equally spaced "
            "person-year-weighted quantiles of age, boundary knots 0 and 115."
        ),
    )
    deprivation_band: Literal["quintile", "decile"] = Field(
        "quintile",
        description=(
            "Whether deprivation enters as IMD 2019 quintile (reference 5) or decile "
            "(reference 10); 1 = most deprived."
        ),
    )
    morbidity_measure: Literal["ltc_count", "cambridge_score", "acg_band"] = Field(
        "ltc_count",
        description=(
            "How morbidity enters when it is a covariate: 'ltc_count' is the count of long-term "
            "conditions capped at ltc_cap (bands 0, 1, …, cap+); 'cambridge_score' is the band of "
            "the Cambridge Multimorbidity Score (Payne et al. 2020): 0, (0,1], (1,2], (2,3], >3; "
            "'acg_band' is the Johns Hopkins ACG resource utilisation band 0-5 (terms "
            "acg_band=5, reference 0), available only when the patients table has acg_rub."
        ),
    )
    ltc_cap: int = Field(
        4,
        ge=1,
        le=4,
        description=(
            "Long-term-condition counts at or above this value share one band (e.g. 4 gives "
            "0, 1, 2, 3, 4+). At most 4, the finest band the data stage keeps."
        ),
    )
    family: Literal["poisson", "negative_binomial"] = Field(
        "poisson",
        description=(
            "Count model family, log link, person-years registered as exposure. 'poisson' "
            "(quasi-likelihood) with standard errors robust to overdispersion and clustered by "
            "practice; 'negative_binomial' is NB2 with its dispersion estimated by maximum "
            "likelihood on the cells, standard errors also clustered by practice."
        ),
    )
    supply_sterilisation: Literal["none", "practice_effects"] = Field(
        "practice_effects",
        description=(
            "'practice_effects' (the default) fits practice fixed effects and predicts need with "
            "them held at the ICB average (the level at which the ICB's predicted total "
            "workload equals its observed total), so under-supply in deprived practices is not "
            "read as low need; it needs every need term to vary within practices (a covariate "
            "constant within every practice stops the run, naming it). 'none' fits need alone "
            "with one intercept: the naive fit, which reads supply as need."
        ),
    )
    cv_folds: int = Field(
        5,
        ge=2,
        le=20,
        description=(
            "Folds of both validations: the one that holds out whole practices (assigned to "
            "folds at random from the run's seed) and the one that holds out patients within "
            "practices (each patient's fold fixed by a hash of the seed and the patient id)."
        ),
    )
    confidence_level: float = Field(
        0.95,
        gt=0.5,
        lt=1.0,
        description="Confidence level of the intervals around each rate ratio (0.95 = 95%).",
    )
