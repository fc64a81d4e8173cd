"""Random search: independent seeded samples of the whole space."""
from __future__ import annotations

from searchers._base import BaseSearcher


class RandomSearcher(BaseSearcher):
    """Samples every parameter independently (``grid`` params uniformly).

    The same seed gives the same sequence of configurations. A configuration
    already suggested is re-drawn (up to 100 times) so a small discrete space
    is not sampled twice while fresh points remain.
    """

    def _ask(self) -> dict:
        return self.fresh_sample()
