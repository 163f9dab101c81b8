"""The Ray a sweep runs on (``duplexsim sweep --backend ray``): the running cluster a bare
``ray.init()`` joins, checked to answer first, or a Ray of the sweep's own.

Where ``ray.init()`` finds the cluster, as Ray documents it: ``RAY_ADDRESS``, else the
address the last ``ray start --head`` on this machine recorded (``ray stop`` forgets it);
``RAY_ADDRESS=local`` or neither: it starts a Ray of its own. A GCS (the cluster head's)
address where nothing answers makes ``ray.init`` retry for minutes (its own wait, 500 s and
more), so the GCS address is first dialled here, as Ray would dial it (``localhost`` as
this machine's address; ``RAY_ADDRESS=auto`` looked up as Ray does: the one GCS process
running on this machine, else the recorded address), for at most :data:`PROBE_TIMEOUT_S`:
nothing there is one line naming the address and where it came from. Not dialled: an
address Ray cannot parse, or ``auto`` with no cluster to find (Ray says so at once), and a
``ray://host:port`` (Ray Client, which needs ``ray[client]``: its own connection attempts
give up after about 30 s).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from duplexsim.errors import InputError

PROBE_TIMEOUT_S = 5.0
"""How long a cluster's GCS address may take to accept a TCP connection before the sweep
says nothing answers there (a refused connection is told at once)."""
RECORDED = "the cluster `ray start` recorded on this machine"


def import_ray() -> Any:
    """The ``ray`` module, or one line saying how to get it."""
    try:
        import ray
    except ImportError as e:
        raise InputError("--backend", "", "ray needs Ray, which is not installed",
                         "pip install 'ray[default]', or --backend local") from e
    return ray


def cluster_address() -> tuple[str, str] | None:
    """(address, where it came from) of the running cluster a bare ``ray.init()`` joins;
    None: it starts a Ray of its own (``RAY_ADDRESS=local`` too)."""
    from ray._private.utils import read_ray_address  # (Ray has no public call for it)

    if os.environ.get("RAY_ADDRESS"):
        found = (os.environ["RAY_ADDRESS"], "RAY_ADDRESS")
    else:
        found = (read_ray_address() or "", RECORDED)
    return None if found[0] in ("", "local") else found


def _first_lines(error: BaseException) -> str:
    """``Type: first line`` of ``error`` and of the error that caused it, if any (Ray's
    "ConnectionError: Failed to connect to Ray cluster at ..." says why only in its cause:
    an AuthenticationError naming RAY_AUTH_MODE, say)."""
    chain = [error] + ([error.__cause__] if error.__cause__ is not None else [])
    lines = [(type(e).__name__, next((x.strip() for x in str(e).splitlines() if x.strip()),
                                     "")) for e in chain]
    return "; ".join(f"{name}: {line}" if line else name for name, line in lines)


def _gcs_address(address: str) -> str | None:
    """The GCS ``host:port`` that ``ray.init`` dials for ``address`` (``localhost`` made
    this machine's address, ``auto`` looked up), or None where it dials none: Ray Client.
    An address Ray cannot parse, or ``auto`` with no cluster found, raises Ray's error."""
    if "://" in address:
        return None
    from ray._private.services import canonicalize_bootstrap_address  # (no public call)

    return canonicalize_bootstrap_address(address)


def _unanswered(gcs: str, address: str) -> str | None:
    """Why nothing accepts a connection at ``gcs`` (``host:port`` or ``[v6 host]:port``, the
    GCS that ``address`` names) within :data:`PROBE_TIMEOUT_S`, or None when something does."""
    host, _, port = gcs.rpartition(":")
    if not (port.isdigit() and 0 < int(port) < 65536):
        return f"port {port!r} is not a number 1-65535"
    there = "" if gcs == address else f" at {gcs}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)),
                                      timeout=PROBE_TIMEOUT_S):
            return None
    except TimeoutError:
        return f"nothing answered{there} within {PROBE_TIMEOUT_S:g} s"
    except OSError as e:
        return f"nothing answers{there} ({e.strerror or e})"


def _join(ray: Any, address: str, where: str) -> None:
    """Join the running cluster at ``address``: one line if nothing answers there or Ray
    cannot join it."""
    try:
        gcs = _gcs_address(address)
        why = None if gcs is None else _unanswered(gcs, address)
        if why is None:
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
    except Exception as e:  # ValueError, ConnectionError, TimeoutError, RuntimeError, ...
        why = f"no Ray cluster could be joined there ({_first_lines(e)})"
    if why is None:
        return
    forget = "unset RAY_ADDRESS" if where == "RAY_ADDRESS" else "`ray stop` to forget it"
    raise InputError("--backend ray", f"{where}: {address}", why, "the address of a running "
                     "cluster (start one with `ray start --head`: it prints the address), or "
                     f"a Ray of the sweep's own ({forget}, or RAY_ADDRESS=local)")


def _start(ray: Any, cpus: int) -> None:
    """Start a Ray of ``cpus`` CPUs for the sweep: one line if it does not start."""
    try:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    except Exception as e:  # noqa: BLE001 - whatever stops Ray starting is one line
        raise InputError("--backend ray", "", f"Ray did not start ({_first_lines(e)})",
                         "a working Ray install, or --backend local") from None


@contextmanager
def ray_session(workers: int, cells: int) -> Iterator[int]:
    """Ray ready for the block, shut down after it; yields how many cells to run at once:
    ``workers``, 0 = every CPU of the Ray joined or started.

    Joins the running cluster as it is (it sets its own CPUs: Ray refuses ``num_cpus``
    then), else starts a Ray of ``workers`` CPUs (0 = one per core of this machine), at
    most one per cell to run (``cells``). A Ray this process already joined
    (``ray.init(address=...)`` before the sweep) is used as it is, and left running.
    """
    ray = import_ray()
    started = not ray.is_initialized()
    if started:
        found = cluster_address()
        if found is not None:
            _join(ray, *found)
        else:
            _start(ray, max(1, min(workers or os.cpu_count() or 1, cells)))
    try:
        yield workers or max(1, int(ray.cluster_resources().get("CPU", 0)))
    finally:
        if started:
            ray.shutdown()
