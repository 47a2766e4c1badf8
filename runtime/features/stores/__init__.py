"""Online store implementations, one per module (see ``runtime.features.store.STORES``)."""

__all__: list[str] = []
