"""AlertSink: stores what arrives on the `alerts` topic, idempotently.

The store keeps the highest revision of each alert and ignores anything not newer (a replay
after a crash, a duplicate, an older revision arriving late), so the sink commits offsets only
after the batch is stored and needs no state of its own.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

import orjson

from anomaly.records import Alert
from api.store import AlertStore, FeedItem
from lookout.bus import topics
from lookout.bus.base import Bus, BusError, BusTimeout, Consumer, Message, payload

log = logging.getLogger(__name__)

GROUP = "api-alert-sink"
RETRY_AFTER_S = 5.0


def _parse_alert(value: bytes) -> Alert:
    return Alert.from_dict(orjson.loads(value))


class AlertSink:
    def __init__(
        self,
        store: AlertStore,
        consumer: Consumer,
        on_stored: Callable[[Sequence[FeedItem]], None] | None = None,
    ) -> None:
        self.store = store
        self.consumer = consumer
        self.on_stored = on_stored
        self.rejected = 0

    @classmethod
    def from_bus(cls, store: AlertStore, bus: Bus, group: str = GROUP) -> AlertSink:
        bus.ensure_topics([topics.ALERTS])
        return cls(store, bus.consumer([topics.ALERTS], group))

    def process(self, messages: Sequence[Message]) -> list[FeedItem]:
        alerts: list[Alert] = []
        for message in messages:
            try:
                alerts.append(payload(message, _parse_alert))
            except (ValueError, KeyError, TypeError) as exc:
                # A malformed alert is the producer's bug: count it, log it, go on.
                self.rejected += 1
                log.error(
                    "alert at %s:%d:%d rejected: %s",
                    message.topic,
                    message.partition,
                    message.offset,
                    exc,
                )
        stored = self.store.put_alerts(alerts)
        if messages:
            offsets: dict[object, int] = {}
            for message in messages:
                offsets[message.tp] = message.offset + 1
            self.consumer.commit(offsets)  # type: ignore[arg-type]
        if stored and self.on_stored is not None:
            self.on_stored(stored)
        return stored

    def run(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Consume until `stop` is set. Database faults propagate: the caller restarts."""
        try:
            while not stop.is_set():
                batch = self.consumer.poll(timeout_s=poll_s, max_records=500)
                if batch:
                    self.process(batch)
        except BusTimeout as exc:
            if not stop.is_set():
                raise
            log.warning(
                "alert sink stopped before committing its last batch (%s): the restart reads "
                "it again, and the store keeps the highest revision of each alert",
                exc,
            )
        finally:
            self.consumer.close()


def consume_alerts(
    store: AlertStore, bus: Bus, stop: threading.Event, retry_after_s: float = RETRY_AFTER_S
) -> None:
    """`lookout api`'s alert sink, until `stop`, through broker outages: it waits for the
    broker to come (the API serves what the store holds meanwhile), and after a bus failure
    it starts again from the committed offsets (the store keeps each revision once)."""
    while bus.wait_until_reachable(stop):
        try:
            AlertSink.from_bus(store, bus).run(stop)
            return
        except BusError as exc:
            log.error("alert sink: %s; starting again in %.0f s", exc, retry_after_s)
            stop.wait(retry_after_s)
