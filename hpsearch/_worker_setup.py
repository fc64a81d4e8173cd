"""Imported in each trial worker as it starts, last of ``warm_workers.PRELOAD_MODULES``
(Ray's ``preload_python_modules`` on a local Ray, the setup hook on a cluster): readies
the worker for its first trial actor (:func:`hpsearch.warm_workers.ready_worker`)."""
from hpsearch.warm_workers import ready_worker

ready_worker()
