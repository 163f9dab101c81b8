"""duplexsim: full-duplex spoken dialogue agents talking across a simulated network.

Flow: audio -> units -> tokens -> model -> agent -> simulator -> trace -> metrics.
Importing the package registers the Gymnasium environments (``duplexsim/TurnTaking-v0``).
"""

from __future__ import annotations

__version__ = "0.1.0"


def _pin_numerics() -> None:
    from duplexsim.threads import pin_openblas

    pin_openblas()  # OpenBLAS picks its kernels when numpy loads it: before the envs do


_pin_numerics()


def _register_envs() -> None:
    try:
        from duplexsim.envs import registration
    except ImportError:  # envs not built yet or gymnasium missing: the library still works
        return
    registration.register_envs()


_register_envs()
