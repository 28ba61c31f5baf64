"""Prometheus counters of the identification path: cache hits and misses, outcomes."""
from prometheus_client import Counter

CACHE = Counter("verdant_identify_cache_total", "Identification result cache look-ups", ["outcome"])
IDENTIFICATIONS = Counter("verdant_identifications_total", "Identifications finished", ["status"])
