"""Figures that give the synthetic ICB the shape of Leicester, Leicestershire and Rutland (LLR).

Every number here is written in the code with its public source beside it, so the synthetic
data need no data file and a reviewer can check each figure. Figures marked *assumption* are
plausible values chosen by the project where no single public figure exists; they shape the
synthetic data only and never enter a real run.

Sources, abbreviated below:

- **REG-2025-12**: NHS England, "Patients Registered at a GP Practice", 1 December 2025 extract:
  practice mapping file (gp-reg-pat-prac-map.csv) and 5-year age band by sex file
  (gp-reg-pat-prac-quin-age.csv), ICB QK1. Places were assigned as: sub-ICB 04C = Leicester
  City; 04V and 03W = Leicestershire County, except the practices of Rutland Health PCN = Rutland.
- **FINGERTIPS-93553**: OHID Fingertips indicator 93553, practice deprivation score (IMD 2019),
  for the LLR practices in REG-2025-12.
- **IMD-2019**: MHCLG English Indices of Deprivation 2019, File 1 (LSOA deciles) for local
  authorities Leicester (E06000016), the seven Leicestershire districts and Rutland (E06000017).
- **APPT-LLR**: NHS England, "Appointments in General Practice", regional CSV for LLR, attended
  appointments December 2023 to November 2025 (publication of November 2025).
- **DOMAIN**: the project's domain brief (`docs/domain.md`), which names its own sources.
"""

from __future__ import annotations

AGE_BANDS: tuple[str, ...] = (
    "0-4", "5-9", "10-14", "15-19", "20-24", "25-29", "30-34", "35-39", "40-44",
    "45-49", "50-54", "55-59", "60-64", "65-69", "70-74", "75-79", "80-84", "85+",
)  # fmt: skip
#: Lowest age of each band in AGE_BANDS.
AGE_BAND_LOWER: tuple[int, ...] = tuple(5 * i for i in range(len(AGE_BANDS)))

PLACES: tuple[str, ...] = ("City", "County", "Rural County")
"""The three places: a dense, deprived, ethnically diverse city (like Leicester City); a county
of market towns and villages (like Leicestershire); a small rural county (like Rutland)."""

#: Practices per place. REG-2025-12: 51 (04C), 71 allocated practices in the county outside
#: Rutland Health PCN (plus 2 unallocated services, counted here as 1), 4 in Rutland Health PCN;
#: total 127 as in DOMAIN §2.
PRACTICES_PER_PLACE: dict[str, int] = {"City": 51, "County": 72, "Rural County": 4}

#: PCNs per place. REG-2025-12 shows 12 (city), 15 (county) and 1 (Rutland); DOMAIN §2 gives
#: 25-26 PCNs for LLR, so the city and county counts are scaled down to a total of 26.
PCNS_PER_PLACE: dict[str, int] = {"City": 11, "County": 14, "Rural County": 1}

#: Median list size per place (REG-2025-12: 7,839 city, 9,710 county, 11,096 Rutland).
MEDIAN_LIST_SIZE: dict[str, float] = {"City": 7_839.0, "County": 9_710.0, "Rural County": 11_096.0}
#: Spread of list sizes (standard deviation of log list size). *Assumption*, chosen so the
#: 10th-90th percentile range is about 3,500-15,000 as in REG-2025-12 (whole LLR).
LOG_LIST_SIZE_SD: float = 0.45

#: Registered patients by place, sex and age band (REG-2025-12, 85-89, 90-94 and 95+ folded
#: into 85+). Used as relative weights only: the synthetic ICB is scaled to any size.
LIST_BY_PLACE_SEX_BAND: dict[str, dict[str, tuple[int, ...]]] = {
    "City": {
        "F": (10520, 12603, 13924, 15389, 19384, 19620, 17125, 16672, 15548, 13173, 11694,
              10983, 10028, 8705, 6854, 5397, 3409, 3762),
        "M": (11311, 13272, 14856, 15890, 20134, 23707, 21496, 19252, 18276, 15647, 13124,
              11720, 10261, 8719, 6592, 4909, 2709, 2339),
    },
    "County": {
        "F": (16154, 19062, 21092, 21243, 19655, 20648, 24050, 25676, 24388, 22289, 23706,
              25874, 24984, 21295, 18683, 18936, 12839, 12566),
        "M": (17054, 20589, 22139, 23169, 22420, 22027, 24172, 25709, 24224, 22615, 23330,
              25537, 24487, 20559, 17428, 16908, 10831, 8177),
    },
    "Rural County": {
        "F": (758, 971, 1169, 1557, 867, 823, 1044, 1203, 1250, 1292, 1466, 1732, 1696, 1554,
              1354, 1417, 1050, 944),
        "M": (770, 932, 1350, 1699, 883, 816, 899, 1055, 1102, 1174, 1326, 1525, 1626, 1482,
              1269, 1294, 870, 711),
    },
}  # fmt: skip

#: Practice IMD 2019 score by place: mean and standard deviation over practices
#: (FINGERTIPS-93553: city 30.4 / 7.2, county 12.9 / 4.2, Rutland 9.4 / 1.4).
PRACTICE_IMD_SCORE: dict[str, tuple[float, float]] = {
    "City": (30.4, 7.2),
    "County": (12.9, 4.2),
    "Rural County": (9.4, 1.4),
}
#: England's population-weighted mean IMD 2019 score (Fingertips 93553, England value 21.72);
#: used for practices whose score is unknown.
ENGLAND_MEAN_IMD_SCORE: float = 21.72

#: IMD 2019 LSOA score cut-points between deciles, from most deprived (decile 1 is a score at or
#: above the first value) to least. *Approximation* of the England decile boundaries of the IMD
#: 2019 score (MHCLG File 5); File 1 (IMD-2019) gives deciles without scores. Checked loosely
#: against IMD-2019: with the spread below, the synthetic city has about a third of its patients
#: in quintile 1 (real Leicester: 35% of LSOAs) and the county almost none (real: 2%).
IMD_DECILE_CUTPOINTS: tuple[float, ...] = (45.0, 34.2, 27.6, 22.6, 18.6, 15.3, 12.4, 9.8, 7.3)
#: Spread of LSOA scores around their practice's score (standard deviation of log score).
#: *Assumption* fitted by eye to the decile mix of IMD-2019 for Leicester City.
LOG_LSOA_SCORE_SD: float = 0.40
#: Registered patients per synthetic area (England: about 1,700 residents per LSOA, ONS).
PATIENTS_PER_AREA: int = 1_500
#: Share of a practice's patients living in areas shared with other practices of its PCN.
#: *Assumption*.
SHARED_AREA_SHARE: float = 0.2

#: Share of patients newly registered in the year, by place. *Assumption*: England's annual
#: list turnover is roughly 10%; higher in the city (students, migration).
NEWLY_REGISTERED_SHARE: dict[str, float] = {"City": 0.11, "County": 0.07, "Rural County": 0.06}
#: Relative odds of being newly registered at ages 18-34 against other ages. *Assumption*.
NEWLY_REGISTERED_YOUNG_ADULT_FACTOR: float = 2.5

#: Share living in a care home by age band (ONS, "Older people living in care homes in 2021 and
#: changes since 2011", Census 2021: 3.3% of people aged 65+, about 15% of those 90+). Bands
#: below 65 are zero.
CARE_HOME_SHARE_BY_BAND: dict[str, float] = {
    "65-69": 0.003, "70-74": 0.006, "75-79": 0.015, "80-84": 0.04, "85+": 0.11,
}  # fmt: skip

#: Share needing an interpreter, by place. *Approximation* of ONS Census 2021 "proficiency in
#: English" (cannot speak English well or at all: about 5% of Leicester residents, under 1% in
#: Leicestershire and Rutland). Children share their family's need at half the rate (assumption).
INTERPRETER_SHARE: dict[str, float] = {"City": 0.055, "County": 0.008, "Rural County": 0.004}

#: Shares of attended appointments by staff type (APPT-LLR: GP 42%, other practice staff 54%,
#: unknown 3%, the unknown spread pro rata; the split of "other practice staff" into nurses and
#: others is an *assumption*).
STAFF_TYPE_SHARE: dict[str, float] = {"GP": 0.44, "Nurse": 0.22, "Other": 0.34}
#: Shares of attended appointments by mode (APPT-LLR: face-to-face 70.4%, telephone 20.7%,
#: video/online 4.9%, home visit 0.6%, unknown 3.4% spread pro rata; the video/online split is an
#: *assumption*).
MODE_SHARE: dict[str, float] = {
    "Face-to-face": 0.729, "Telephone": 0.215, "Video": 0.011, "Online": 0.040, "Home visit": 0.005,
}  # fmt: skip
#: Mean appointment length in minutes by staff type. *Assumption* (typical booked slot lengths:
#: 10-15 minutes).
MEAN_DURATION_MINUTES: dict[str, float] = {"GP": 11.0, "Nurse": 14.0, "Other": 12.0}

#: Global sum per Carr-Hill weighted patient, pounds (GMS contract 2025/26, NHS England: about
#: £121.79). Used to give synthetic practices a current funding.
GLOBAL_SUM_PER_WEIGHTED_PATIENT_GBP: float = 121.79
#: Spread of other income lines around the global sum (standard deviation of log funding).
#: *Assumption*, small so funding stays essentially Carr-Hill shaped.
FUNDING_NOISE_LOG_SD: float = 0.03
