"""The API as a Ray Serve deployment: each replica is a whole server (its own engine and indexes, the
app of :func:`semrec.api.app.create_app`) behind Ray Serve's HTTP proxy, on whichever node Ray places
it. Replicas follow one another through the shared store exactly as the processes of one server do,
so over PostgreSQL a write acknowledged by one replica is in the next answer of every replica.
"""

from __future__ import annotations

import signal
import threading
from typing import Any

from semrec.distributed.cluster import connect
from semrec.settings import ServerSettings


class ApiReplica:
    """One replica: builds the app (loads the model) when Ray Serve starts it."""

    def __init__(self, settings: ServerSettings) -> None:
        self._settings = settings

    def __serve_build_asgi_app__(self) -> Any:
        from semrec.api.app import create_app

        return create_app(self._settings)


def deployment_options(replicas: int, max_replicas: int | None, cpus_per_replica: float) -> dict[str, Any]:
    """Ray Serve's options: a fixed number of replicas, or autoscaling from ``replicas`` up to
    ``max_replicas`` on the requests each has in flight."""
    if replicas < 1 or (max_replicas is not None and max_replicas < replicas):
        raise ValueError(
            f"replicas must be at least 1 and at most max_replicas; got {replicas}, {max_replicas}"
        )
    options: dict[str, Any] = {"ray_actor_options": {"num_cpus": cpus_per_replica}}
    if max_replicas is None or max_replicas == replicas:
        options["num_replicas"] = replicas
    else:
        options["autoscaling_config"] = {
            "min_replicas": replicas,
            "max_replicas": max_replicas,
            "target_ongoing_requests": 8,  # a replica answers a few requests at once on its threads
        }
    return options


def serve_on_ray(
    settings: ServerSettings,
    replicas: int = 2,
    max_replicas: int | None = None,
    cpus_per_replica: float = 1.0,
    address: str | None = None,
) -> None:
    """Runs the deployment on the Ray cluster at ``address`` (a local one if None) until SIGINT or
    SIGTERM, with Ray Serve's proxy listening on the settings' host and port."""
    options = deployment_options(replicas, max_replicas, cpus_per_replica)
    ray = connect(address)
    from ray import serve

    serve.start(http_options={"host": settings.host, "port": settings.port})
    deployment = serve.deployment(name="semrec", **options)(serve.ingress()(ApiReplica))
    serve.run(deployment.bind(settings), name="semrec", route_prefix="/", blocking=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        serve.shutdown()  # type: ignore[no-untyped-call]
        ray.shutdown()
