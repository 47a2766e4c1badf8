"""One module per backend; each exposes ``emit(plan) -> Iterable[Artifact]``."""
