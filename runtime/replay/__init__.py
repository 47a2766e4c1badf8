"""`specops replay`: drive the whole online loop with a chosen scenario.

Generated events (with a drift or fault scenario) go through NATS JetStream
into the real ingester, predictions are requested from the real server as
the simulated clock advances, and what monitoring sees of it can then be
judged and acted on.
"""

from runtime.replay.scenarios import SCENARIOS, Scenario, scenario_named

__all__ = ["SCENARIOS", "Scenario", "scenario_named"]
