"""Evaluation: predictions scored with each benchmark's official metric, and the group's shared score table.

`run` scores and submits (`dsreg.evaluate`), `records` stores one immutable file per submission,
`table` ranks them (`dsreg.scores`, `dsreg scores`), `html` renders the static page.
"""
