"""Summaries of repeated measurements: median, spread and ratios."""

import statistics


def summarize(values):
    """Return median, min, max, quartiles and the raw values of a list of numbers.

    Quartiles use the inclusive method, so with 3 values q1 and q3 fall
    halfway to the extremes. An empty list returns None.
    """
    values = [float(value) for value in values]
    if not values:
        return None
    if len(values) >= 2:
        q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    else:
        q1 = q3 = values[0]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "q1": q1,
        "q3": q3,
        "n": len(values),
        "values": values,
    }


def throughput_per_repetition(step_durations, items_per_step):
    """Return items per second for each repetition, given each repetition's step durations."""
    return [items_per_step * len(durations) / sum(durations) for durations in step_durations if durations]


def ratio(numerator, denominator):
    """Return numerator / denominator of two medians, or None when either is missing."""
    if not numerator or not denominator:
        return None
    return numerator / denominator


def rotated(names, offset):
    """Return `names` rotated left by `offset`, so each contender takes turns going first."""
    if not names:
        return []
    offset %= len(names)
    return list(names[offset:]) + list(names[:offset])
