"""`System.spec.sampleData`: the embedded, seeded sample data set that local
runs (`dvc repro`) generate into the file sources' locations.

It lives on the System because one generator feeds two sources at once (the
events and the failure labels must agree on when assets fail) and because it
describes how the system is run locally, not what the data is: the data
contract stays on each DataSource, and a spec without this section compiles
no generate-data stage.  Label delay, lateness and the positive rate are not
repeated here: they come from the sources (availabilityDelay,
lateEvents.allowedLateness, expectedPositiveRate).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from compiler.spec.base import Date, Duration, Float, Fraction, Name, SpecModel, Str

__all__ = ["SampleData", "SampleDrift", "SampleFaults"]


class SampleDrift(SpecModel):
    """Drift scenarios, each switched on at an offset from `start`."""

    # Sensor recalibration: a share of assets reads hotter from this point on.
    recalibration_at: Duration | None = None
    recalibration_fraction: Fraction = 0.25
    recalibration_offset: Float = 8.0
    # A new asset type joins the fleet (declare it in the events' category
    # values, or its rows are quarantined by the contract).
    new_asset_type: Annotated[Str, Field(pattern=r"^[a-z][a-z0-9_-]{0,62}$")] | None = None
    new_asset_type_at: Duration | None = None
    new_assets: Annotated[int, Field(ge=0, le=100_000, strict=True)] = 0
    # Yearly temperature swing (C).
    seasonal_amplitude: Annotated[float, Field(ge=0.0, strict=True)] = 0.0

    @model_validator(mode="after")
    def _new_type(self) -> "SampleDrift":
        wanted = (self.new_asset_type is not None, self.new_asset_type_at is not None, self.new_assets > 0)
        if any(wanted) and not all(wanted):
            raise ValueError("a new asset type needs all of 'newAssetType', 'newAssetTypeAt' and 'newAssets' (>= 1)")
        return self


class SampleFaults(SpecModel):
    """Fractions of rows with injected faults."""

    null_rate: Fraction = 0.0
    duplicate_rate: Fraction = 0.0
    out_of_order_rate: Fraction = 0.0
    late_rate: Fraction = 0.0
    out_of_range_rate: Fraction = 0.0


class SampleData(SpecModel):
    """The embedded, seeded sample data set that local runs generate (the DVC
    stage `sample-data-generate-data`; Argo workflows never run it). The label
    delay, the lateness of late events and the default positive rate come from
    the sources (`availabilityDelay`, `lateEvents.allowedLateness`,
    `expectedPositiveRate`)."""

    events: Name  # the `file` DataSource the events are written to
    labels: Name  # the `labels` DataSource the maintenance tickets are written to
    seed: Annotated[int, Field(ge=0, strict=True)] = 7
    start: Date
    duration: Duration
    assets: Annotated[int, Field(ge=1, le=100_000, strict=True)] = 50
    mean_interval: Duration = Duration.parse("15m")
    # Fraction of 24 h windows ending in a failure; default: the labels' expectedPositiveRate, else 0.03.
    positive_rate: Annotated[float, Field(gt=0.0, lt=1.0, strict=True)] | None = None
    degradation: Duration = Duration.parse("48h")
    drift: SampleDrift = SampleDrift()
    faults: SampleFaults = SampleFaults()
