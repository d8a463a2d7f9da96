"""Mendelian ranking: candidate records, scoring and the report writers."""
