"""Configuration: frozen dataclasses are the schema, TOML files are read with tomllib.

Owns: the generic dict -> dataclass loader with error collection (:mod:`.loader`), the
checked readers of TOML, JSON and CSV files (:mod:`.readers`), the scenario schema
(:mod:`.scenario`), network parameters and presets (:mod:`.network`) and agent cards
(:mod:`.card`). Must not import the simulator, models or agents: those
import this package, never the other way round.
"""

from duplexsim.config.loader import ConfigError, Problem, from_dict, load_toml

__all__ = ["ConfigError", "Problem", "from_dict", "load_toml"]


def load_scenario(path):  # noqa: ANN001, ANN201 - thin re-export, typed in .scenario
    """Load and validate a scenario TOML file (see :mod:`duplexsim.config.scenario`)."""
    from duplexsim.config.scenario import load_scenario as _load

    return _load(path)
