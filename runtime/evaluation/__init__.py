"""Evaluation: the declared gates and the champion/challenger comparison,
on the model's latest holdout window."""

__all__: list[str] = []
