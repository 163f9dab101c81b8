"""A sweep cell's key: the hash of everything its row depends on.

The config as the cell runs it (for the default cell: the scenario as simulated, so two
spellings of one scenario are one cell), the cell function and, for one of one's own, its
source file, the agents and corpora the config names, and the simulator version. A cell is
reused exactly when its key is; it is the cell's file name. Must not run anything.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from duplexsim.digests import SIMULATOR_VERSION, file_digest, key_of, scenario_inputs
from duplexsim.errors import ConfigError
from duplexsim.sweeps.cells import DEFAULT_CELL, UNSCORED_KEYS

if TYPE_CHECKING:
    from duplexsim.config.scenario import Scenario


def cell_key(config: Mapping[str, Any], cell: str, scenario: Scenario | None = None) -> str:
    """Hash of the canonical JSON of a config, the cell function and the contents of the
    agents and corpora it names (16 hex): an agent retrained or a corpus rebuilt in the
    same directory makes new cells, not reused old ones; so does a new
    :data:`~duplexsim.digests.SIMULATOR_VERSION`; and so does an edit to the source file
    of a cell function of one's own (:func:`cell_source_digest`).

    For the default cell (``cell`` "" or :data:`~duplexsim.sweeps.cells.DEFAULT_CELL`) the
    config is the scenario it simulates (:func:`simulated_config`; ``scenario``: ``config``
    already built, not built again), so a key left out and the same key written at its
    default, or a network preset and its values written out, are one cell; a config that
    does not build keeps its own dict. Its :data:`~duplexsim.sweeps.cells.UNSCORED_KEYS` are
    left out either way: its rows do not depend on them (a scenario renamed, or writing
    audio, reuses its cells). A cell of one's own may read every key as written: its
    config is hashed as it is."""
    inputs = scenario_inputs(config)
    if cell in ("", DEFAULT_CELL):
        cell = ""
        config = simulated_config(config, scenario) or {
            k: v for k, v in config.items() if k not in UNSCORED_KEYS}
    parts = {"config": config, "cell": cell, "inputs": inputs,
             "simulator": SIMULATOR_VERSION}
    source = cell_source_digest(cell)
    if source:  # only for one's own cells (duplexsim's own: SIMULATOR_VERSION versions them)
        parts["cell_source"] = source
    return key_of(parts)


def simulated_config(config: Mapping[str, Any], scenario: Scenario | None = None
                     ) -> dict[str, Any] | None:
    """What the default cell simulates of ``config`` (``scenario``: it built already), as a
    plain dict: every scenario key at its resolved value (defaults filled in, a replay
    side's channel set) and each network direction as the hops it travels, every link key
    set (a preset expanded, as :meth:`~duplexsim.config.network.NetworkConfig.hops` gives
    the simulator), without :data:`~duplexsim.sweeps.cells.UNSCORED_KEYS`; None when the
    config does not build (the pre-run check refuses it, a cell's own run reports it)."""
    from duplexsim.config.network import DIRECTIONS
    from duplexsim.config.scenario import scenario_from_dict

    if scenario is None:
        try:  # (without the unscored keys: an invalid [output] does not change the key)
            scenario = scenario_from_dict(
                {k: v for k, v in config.items() if k not in UNSCORED_KEYS}, file="<sweep cell>")
        except ConfigError:
            return None
    resolved = {k: v for k, v in scenario.to_dict().items() if k not in UNSCORED_KEYS}
    resolved["network"] = {direction: [dataclasses.asdict(hop) for hop in
                                       scenario.network.hops(direction)]
                           for direction in DIRECTIONS}
    return resolved


def cell_source_digest(cell: str) -> str:
    """sha256 of the file defining a cell function of one's own (``module:function``, the
    module found without running it): "" for duplexsim's own cells (which
    :data:`~duplexsim.digests.SIMULATOR_VERSION` versions) and for a module that cannot be
    found (running the cell names that). Without it a cell function edited in place kept
    the rows its old code made. Helpers it imports from other files are not covered."""
    module = cell.partition(":")[0]
    if not module or module == "duplexsim" or module.startswith("duplexsim."):
        return ""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a parent package that fails to import; a bad name
        return ""
    origin = spec.origin if spec is not None else None
    return file_digest(origin) if origin and spec is not None and spec.has_location else ""
