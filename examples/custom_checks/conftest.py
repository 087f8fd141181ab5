"""Families of your own: registered here, they are gated, configured ([tool.robustest.<name>],
--robustest-thresholds, -m <name>), reported and replayed against a baseline like the built-ins."""

from robustest import Family, register_family

# Abbreviations people type into search boxes.
SHORT = {"with": "w/", "without": "w/o", "and": "&", "number": "no.", "information": "info", "temperature": "temp",
         "maximum": "max", "minimum": "min", "approximately": "approx.", "pressure": "press.", "versus": "vs"}
register_family(Family.substitutions(SHORT, name="abbreviations", threshold=0.15, description="common words abbreviated"))


def capitalized(query: str) -> str:
    """the first letter of the query capitalized"""
    return query[:1].upper() + query[1:]


register_family(Family.from_function(capitalized, threshold=0.05))
