"""Reads of the intake's data for the pages.

``start_progress`` and ``StartProgress`` live in ``wlm.connections.progress`` (a core
module, so that the license view, an interface of a lower app, may read them too); they
are named here as well for the pages of the apps above (the dashboard).
"""

from wlm.connections.progress import StartProgress, closest_to_start, start_progress

__all__ = ["StartProgress", "closest_to_start", "start_progress"]
