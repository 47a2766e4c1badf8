"""The runtime data layer: the embedded sample-data generator, file and
label sources, data contracts and the validated, versioned snapshot."""

__all__: list[str] = []
