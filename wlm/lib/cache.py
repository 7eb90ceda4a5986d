"""The throttles' cache: Django's database cache, failing open.

The cache holds only throttling counters (settings.CACHES). If its table is missing or
the database refuses a statement, a login must not fail with a 500 for it: every
operation then logs an error and acts as an empty cache (nothing read, nothing kept), so
every throttle — DRF's and the project's — lets the request through. Inside a
transaction the statement runs in a savepoint, so the failure does not spoil the
caller's transaction (PostgreSQL refuses every later statement of a failed one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError, connections, router, transaction

logger = logging.getLogger(__name__)
T = TypeVar("T")


class FailOpenDatabaseCache(DatabaseCache):
    """``DatabaseCache`` whose database errors are logged and read as an empty cache."""

    def _fail_open(self, default: T, operation: Callable[[], T], *, write: bool) -> T:
        route = router.db_for_write if write else router.db_for_read
        alias = route(self.cache_model_class)
        try:
            if connections[alias].in_atomic_block:
                with transaction.atomic(using=alias):
                    return operation()
            return operation()
        except DatabaseError as error:
            logger.error(
                "The cache table %s cannot be used (%s): the throttles let requests through.",
                self._table,
                error,
            )
            return default

    def get_many(self, keys, version=None) -> dict[str, Any]:
        get_many = super().get_many
        return self._fail_open({}, lambda: get_many(keys, version), write=False)

    def has_key(self, key, version=None) -> bool:
        has_key = super().has_key
        return self._fail_open(False, lambda: has_key(key, version), write=False)

    def _base_set(self, mode, key, value, timeout=DEFAULT_TIMEOUT) -> bool:
        set_ = super()._base_set
        return self._fail_open(False, lambda: set_(mode, key, value, timeout), write=True)

    def _base_delete_many(self, keys) -> bool:
        delete = super()._base_delete_many
        return self._fail_open(False, lambda: delete(keys), write=True)

    def clear(self) -> None:
        self._fail_open(None, super().clear, write=True)
