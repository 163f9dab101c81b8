"""Configuration: frozen dataclasses are the schema, TOML files are read with tomllib.

Owns: the generic dict -> dataclass loader with error collection (:mod:`.loader`), the errors a
config dataclass's checks raise (:mod:`.field_errors`), the field values of a config dataclass
made and checked as a file gives them (:mod:`.field_values`), the checked readers of TOML, JSON
and CSV files (:mod:`.readers`), the scenario schema (:mod:`.scenario`), the check of the files
a scenario names (:mod:`.scenario_files`), the scenario's TOML writer (:mod:`.toml_writer`),
network parameters (:mod:`.network`: the ``[network]`` table and topology; :mod:`.link`: one
link's keys; :mod:`.link_presets`: the presets and a link resolved over one; :mod:`.netem`:
netem's tables and argument strings), the RL reward table (:mod:`.reward`), agent cards
(:mod:`.card`; their tables: :mod:`.card_tables`) and ``duplexsim validate`` (:mod:`.cli`).
Must not import the simulator, models or agents: those import this package, never the other way
round.
"""

from duplexsim.config.loader import from_dict, load_toml
from duplexsim.errors import ConfigError, Problem

__all__ = ["ConfigError", "Problem", "from_dict", "load_toml"]


def load_scenario(path):  # noqa: ANN001, ANN201 - thin re-export, typed in .scenario
    """Load and validate a scenario TOML file (see :mod:`duplexsim.config.scenario`)."""
    from duplexsim.config.scenario import load_scenario as _load

    return _load(path)
