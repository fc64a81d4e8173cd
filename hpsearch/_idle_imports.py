"""Imported last in each worker of a local Ray as it starts (``warm_workers.IDLE_MODULE``,
after a trial's modules): what the workers started after a study import while they wait for
the next one, if it has not started yet (:func:`hpsearch.warm_workers.import_idle_modules`)."""
import logging

from hpsearch.warm_workers import import_idle_modules

try:
    import_idle_modules()
except Exception:  # noqa: BLE001 - a failing preload would end the worker; the trial imports them
    logging.getLogger("hpsearch").debug("warm worker: idle imports failed", exc_info=True)
