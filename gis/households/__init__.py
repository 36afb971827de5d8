"""Households in buildings (人房关联) and their care visits (家访): the registry, the visit
cadence, lists and counts, and retention of the personal data of households that moved out."""
