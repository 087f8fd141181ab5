"""Shared by the shipped suites: the settings every property search runs under."""

from hypothesis import HealthCheck, settings

# Each example encodes a batch of variants with a real model: no per-example deadline, and
# slow data generation is expected. The number of examples comes from the active profile.
PROPERTY = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
