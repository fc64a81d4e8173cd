"""The SQL store: studies, trials, every reported result.

SQLite (embedded, the default) or PostgreSQL (a team), chosen by URL:
``--db`` on the CLI, else ``HPSEARCH_DB``, else ``sqlite:///$HPSEARCH_HOME/hpsearch.db``
(``HPSEARCH_HOME`` defaults to ``~/.hpsearch``).
"""
from hpsearch.store.models import StudyStatus, TrialStatus
from hpsearch.store.store import Store, default_url

__all__ = ["Store", "StudyStatus", "TrialStatus", "default_url"]
