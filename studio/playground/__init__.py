"""Comparison targets, runs over test sets, answers, metrics and blind votes."""
