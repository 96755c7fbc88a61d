"""The job service: the one way runs are submitted, retried, re-queued, re-sent, claimed and run,
for the CLI, the worker and the reaper alike.

The database is the source of truth for what must run: a transition back to `queued` clears the
run's `sent_at`, and `sent_at` is set only once its message is in the broker (the message is sent
after the row is committed). A run left queued with no message (the broker was down, a process
died in between, Redis lost its data) is found by `resend_lost`, which every worker's reaper and
`latentq reap` run. Claims are conditional updates, so a duplicate message finds the run owned
and is dropped.

Importing this module imports neither Celery nor TensorFlow (Celery comes with the first send).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Optional

from latentq.db.schema import Run, RunStatus
from latentq.db.store import IllegalTransition, Store
from latentq.runtime import artifacts
from latentq.runtime.checkpoints import missing_checkpoint
from latentq.runtime.context import Signals
from latentq.runtime.job import OnShutdown, execute_claimed, open_store, worker_name
from latentq.settings import Settings, load_settings

log = logging.getLogger("latentq.requeue")

Sender = Callable[[str], None]


def broker_sender(store: Store) -> Sender:
    """send(run_id): one message on the run's queue and priority; raises Unavailable."""

    def send(run_id: str) -> None:
        from latentq.worker.broker import enqueue

        run = store.get(run_id)
        enqueue(run_id, run.queue, int(json.loads(run.spec).get("priority", 5)), recipe=run.recipe)

    return send


@dataclass(frozen=True)
class Submitted:
    """What `submit` did: the run's status object; created: this call made the run (False: an
    idempotency key named an existing one); resent: that run's lost message was sent again."""

    status: dict[str, Any]
    created: bool
    resent: bool = False


def submit(store: Store, settings: Settings, spec, max_attempts: Optional[int] = None,
           group: Optional[str] = None, send: Optional[Sender] = None) -> Submitted:
    """Create the run for a validated JobSpec, then (after the commit) send its message. A broker
    that refuses the message raises Unavailable and leaves no run behind. An idempotency key that
    names an existing run returns it, re-sending its message if the broker lost it."""
    run_id, created = store.create_run(spec.model_dump(mode="json"),
                                       max_attempts=max_attempts or settings.max_attempts, group=group)
    if not created:
        resent = resend_if_lost(store, run_id, settings, send)
        return Submitted(store.status(run_id), created=False, resent=resent)
    try:
        (send or broker_sender(store))(run_id)
    except Exception:
        store.delete_run(run_id)
        raise
    store.mark_sent(run_id)
    return Submitted(store.status(run_id), created=True)


def submit_group(store: Store, settings: Settings, specs: list, max_attempts: Optional[int] = None,
                 group: Optional[str] = None, send: Optional[Sender] = None) -> list[tuple[str, bool]]:
    """Create every run of a group (a sweep) in one transaction, then send the new runs' messages
    after the commit. A message the broker refuses leaves its run queued for the outbox sweep
    (the group stays whole); runs an idempotency key already named are returned as they are."""
    made = store.create_runs([spec.model_dump(mode="json") for spec in specs],
                             max_attempts=max_attempts or settings.max_attempts, group=group)
    send = send or broker_sender(store)
    for run_id, created in made:
        if created:
            _send(store, run_id, "submitted", send, note=False)
    return made  # [(run id, created by this call)], in the order of `specs`


def retry(store: Store, run_id: str, local: Optional[tuple[str, int]] = None,
          send: Optional[Sender] = None) -> str:
    """Bring a run back: a queued run's message is sent again ("resent"); a failed or cancelled
    run is queued again ("requeued", or "requeued-unsent" when the broker is away: the sweep sends
    it). local=(host, pid): the run is queued for that process to run in the foreground ("local").
    Raises IllegalTransition when the run cannot be retried that way."""
    run = store.get(run_id)
    if local is not None:
        if not store.requeue(run_id, local=local):
            raise IllegalTransition(_not_retried(store, run, "only failed or cancelled runs can be retried with --local"))
        store.add_event(run_id, "info", f"retried in the foreground by process {local[1]} on {local[0]}")
        return "local"
    if run.status == RunStatus.QUEUED:
        if run.pid is not None:
            raise IllegalTransition(f"run {run_id} is queued to start in process {run.pid} on {run.host}, "
                                    "not on a queue")
        if not resend(store, run, "retried by the user", send):
            raise IllegalTransition(f"run {run_id} changed while retrying it; see `latentq status {run_id}`")
        return "resent"
    sent = requeue(store, run_id, lambda: store.requeue(run_id), "retried by the user", send=send)
    if sent is None:
        raise IllegalTransition(_not_retried(store, run, "only failed, cancelled or queued runs can be retried"))
    return "requeued" if sent else "requeued-unsent"


def _not_retried(store: Store, seen: Run, rule: str) -> str:
    """Why a retry's transition found nothing to change, from the run as it is now: a retry that
    lost the race to another one (the run was failed when read, queued when written) says so
    instead of "run is failed; only failed ... can be retried"."""
    now = store.get(seen.id)
    if now.status != seen.status or now.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        return (f"run {seen.id} changed while retrying it: it was {seen.status}, it is now {now.status} "
                f"(another `latentq retry` or a worker got there first); see `latentq status {seen.id}`")
    return f"run {seen.id} is {now.status}; {rule}"


def resend_if_lost(store: Store, run_id: str, settings: Settings, send: Optional[Sender] = None) -> bool:
    """Submitted again (same idempotency key): a queued run whose message the broker does not
    hold gets it now instead of waiting for the sweep."""
    run = store.get(run_id)
    if run.status != RunStatus.QUEUED or run.pid is not None:
        return False
    live = queued_run_ids(settings.broker_url, {run.queue})
    if live is None or run_id in live:
        return False
    return resend(store, run, "submitted again, its message not in the broker", send)


def requeue(store: Store, run_id: str, transition: Callable[[], bool], reason: str,
            send: Optional[Sender] = None, defer: bool = False) -> Optional[bool]:
    """Put a run back to `queued` with `transition()` (a guarded store update that clears its
    sent_at), then send its message. `retry`, the Celery task's release path and the reaper all
    re-queue through here.

    send(run_id) sends the message (default: through the broker) and raises when it cannot.
    defer=True sends nothing now: the sweep sends it after LATENTQ_RESEND_AFTER (a worker that
    refused a run must not take it straight back). Returns None when the transition lost to
    another process, True when the message went out, False when it is left for the sweep; in
    every case but the first an event says which."""
    if not transition():
        return None
    if defer:
        store.add_event(run_id, "warning", f"{reason}; queued, its message left for the sweep")
        return False
    return _send(store, run_id, reason, send or broker_sender(store))


def _send(store: Store, run_id: str, reason: str, send: Sender, note: bool = True) -> bool:
    try:
        send(run_id)
    except Exception as exc:  # the broker is away: the row stays queued with no sent_at
        detail = " ".join(str(exc).split())
        store.add_event(run_id, "warning", f"{reason}; queued, but its message could not be sent ({detail}): "
                                           "the sweep sends it once the broker answers")
        log.warning("run %s: message not sent, left for the sweep: %s", run_id, detail)
        return False
    store.mark_sent(run_id)
    if note:
        store.add_event(run_id, "warning", f"{reason}; re-queued")
    return True


def resend(store: Store, run: Run, reason: str, send: Optional[Sender] = None) -> bool:
    """Send the message of a run that is already queued (the sweep, `retry` of a queued run).
    Guarded on the sent_at we saw, so of many sweeps only one re-sends. False: another process
    got there first or the run is no longer queued. Raises when the broker cannot take it."""
    stamp = store.mark_sent(run.id, seen=run.sent_at, resend=True)
    if stamp is None:
        return False
    try:
        (send or broker_sender(store))(run.id)
    except Exception:
        store.unmark_sent(run.id, stamp)
        raise
    store.add_event(run.id, "warning", f"{reason}; message re-sent")
    return True


def resend_lost(store: Store, settings: Settings) -> list[str]:
    """The outbox sweep: re-send the message of every run queued (and unclaimed) for longer than
    LATENTQ_RESEND_AFTER whose message the broker does not hold. Returns their ids."""
    runs = store.unsent_runs(settings.resend_after)
    if not runs:
        return []
    live = queued_run_ids(settings.broker_url, {run.queue for run in runs})
    sent = []
    for run in runs:
        if live is not None and run.id in live:
            continue  # its message is waiting in the broker: a long queue, not a lost message
        waited = (datetime.utcnow() - (run.sent_at or run.queued_at or run.created_at)).total_seconds()
        why = "no message in the broker" if live is not None else "no message known"
        if resend(store, run, f"queued for {waited:.0f}s with {why}"):
            log.warning("run %s: message re-sent (queued for %.0fs with %s)", run.id, waited, why)
            sent.append(run.id)
    return sent


def queued_run_ids(broker_url: str, queues: set[str]) -> Optional[set[str]]:
    """Run ids whose message waits in the broker's queue lists (Redis), or None when the broker
    cannot be looked into (another transport). Raises Unavailable when Redis does not answer."""
    if not broker_url.split("://", 1)[0] in ("redis", "rediss", "unix"):
        return None
    import redis

    from latentq.errors import Unavailable
    from latentq.settings import mask_url, scrub
    from latentq.worker.broker import redis_client

    try:
        client = redis_client(broker_url)
        found: set[str] = set()
        for queue in queues:  # kombu keeps one list per priority step: `queue`, `queue:1`, ...
            for key in [queue.encode(), *client.scan_iter(match=f"{queue}:*", count=500)]:
                if client.type(key) != b"list":
                    continue
                for raw in client.lrange(key, 0, -1):
                    try:
                        headers = json.loads(raw).get("headers", {})
                    except (ValueError, AttributeError):
                        continue
                    # The run id travels as a keyword (kwargsrepr) or, in older messages, positionally.
                    shown = f"{headers.get('argsrepr', '')} {headers.get('kwargsrepr', '')}"
                    found.update(re.findall(r"'([^']*)'", shown))
        return found
    except (redis.RedisError, ValueError) as exc:  # ValueError: redis-py cannot parse the URL
        raise Unavailable(f"cannot reach the broker {mask_url(broker_url)}: {scrub(str(exc), broker_url)}") from None


# ---- claiming and running a run ----------------------------------------------------------------


def execute_run(
    run_id: str,
    settings: Optional[Settings] = None,
    task_id: Optional[str] = None,
    signals: Optional[Signals] = None,
    on_release: Optional[Callable[[str], None]] = None,
) -> dict[str, Any]:
    """Claim, train (or generate), record, finish. Returns the run's status object.

    on_release(run_id) sends the message of a run that a warm shutdown hands back to the queue
    (the Celery task's); without it the message goes through the broker."""
    settings = settings or load_settings()
    from latentq.models import runner  # TensorFlow's import is not the run's time

    owner = claim_run(run_id, settings, task_id)
    if owner is None:
        return open_store(settings).status(run_id)
    return execute_claimed(run_id, owner, settings, runner.run, hand_back(on_release), signals)


def hand_back(send: Optional[Sender] = None) -> OnShutdown:
    """What a warm shutdown does with a checkpointed run: back to the queue, its message re-sent
    (by `send`, or through the broker)."""
    def on_shutdown(store: Store, run_id: str, owner: str) -> None:
        requeue(store, run_id, lambda: store.release(run_id, owner), "worker shut down: checkpointed", send=send)

    return on_shutdown


# Runs this worker process refused because its artifact root lacks their checkpoint: run id ->
# the checkpoint epoch it could not see. A later delivery of the same run at the same checkpoint
# is dropped without a claim (no claim-and-release loop with the sweep) until this process
# restarts, the run moves on (another worker checkpointed it further) or the checkpoint appears.
_REFUSED: dict[str, Optional[int]] = {}


def claim_run(run_id: str, settings: Settings, task_id: Optional[str] = None) -> Optional[str]:
    """queued -> running for this process: the owner token, or None when the run is owned
    elsewhere or finished (the delivery is dropped and an event says so), or when this worker
    already refused it at its current checkpoint. TensorFlow-free."""
    store = open_store(settings)
    run = store.get(run_id)  # NotFound for an unknown id
    if task_id is not None and run_id in _REFUSED:
        if _REFUSED[run_id] == run.checkpoint_epoch and missing_checkpoint(run, artifacts.runs(settings)):
            log.info("run %s: delivery dropped: this worker already refused it (checkpoint after epoch %s "
                     "not under its artifact root)", run_id, run.checkpoint_epoch)
            return None
        del _REFUSED[run_id]
    owner = f"{worker_name()}:{uuid.uuid4().hex[:8]}"
    if not store.claim(run_id, owner, worker=worker_name(), task_id=task_id):
        run = store.get(run_id)
        note = f"delivery to {worker_name()} dropped: run is {run.status}" + (
            f" (owned by {run.worker})" if run.status is RunStatus.RUNNING else "")
        log.info("run %s: %s", run_id, note)
        store.add_event(run_id, "info", note)
        return None
    claimed = store.get(run_id)
    missing = missing_checkpoint(claimed, artifacts.runs(settings))
    if missing:  # never restart from epoch 0 what another artifact root has checkpointed
        if task_id is not None:
            _REFUSED[run_id] = claimed.checkpoint_epoch
        _refuse(store, run_id, owner, missing, foreground=task_id is None)
        return None
    return owner


def _refuse(store: Store, run_id: str, owner: str, reason: str, foreground: bool) -> None:
    log.warning("run %s: %s", run_id, reason)
    if foreground:
        store.finish(run_id, owner, RunStatus.FAILED, reason)
    else:
        requeue(store, run_id, lambda: store.release(run_id, owner, refused=reason),
                f"{reason}: released for a worker that can see it", defer=True)
