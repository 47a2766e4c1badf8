"""The model registry: immutable versions with a model card, and aliases
(``candidate``, ``champion``, ``previous``, ``edge``) that move.

Embedded default: a local directory; production: any fsspec URL (s3://...)."""

from runtime.registry.card import ModelCard, render_card_markdown
from runtime.registry.store import ALIASES, Registry, RegistryEntry, RegistryError

__all__ = ["ALIASES", "ModelCard", "Registry", "RegistryEntry", "RegistryError", "render_card_markdown"]
