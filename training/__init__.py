"""Florilege training side (torch): vignette bank, synthetic benchmark, scorer, models, export.

It may import ``service`` to evaluate exactly the inference path the service runs; ``service``
never imports ``training``.
"""
