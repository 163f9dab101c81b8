"""Network parameters: the ``[network]`` table, its two directions and the optional topology.

Owns the ``[network]`` table of a scenario: :class:`NetworkConfig` (a preset for both
directions, each direction's own link keys over it), :class:`EdgeConfig` /
:class:`TopologyConfig` (a path through a networkx graph) and :data:`DIRECTIONS`. One link's
keys are :class:`~duplexsim.config.link.LinkConfig` (:mod:`duplexsim.config.link`); the
presets, :func:`~duplexsim.config.link_presets.resolve_link` and the checks of a merged link
are :mod:`duplexsim.config.link_presets`'s; this module re-exports the names of both that
were imported from it. Validation only; the models that *use* these numbers (delay, jitter,
loss, ordering) live in :mod:`duplexsim.sim`. Must not import the simulator.

How a direction's path is built (``NetworkConfig.hops``): the direction link itself
(preset + ``[network.a_to_b]`` / ``[network.b_to_a]`` overrides) is the first hop; with a
``[network.topology]``, the hops of the lowest-delay path from endpoint node ``"A"`` to
``"B"`` (or back) follow. An edge starts from its own ``preset`` (default ``"ideal"``: no
delay, no loss) plus its link keys. Per-hop delays add; loss on any hop loses the chunk.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from duplexsim.config.field_errors import FieldError, raise_errors, reading
from duplexsim.config.field_values import check_field_types, plain_fields
from duplexsim.config.link import (
    JITTER_DISTS,
    LINK_KEYS,
    LOSS_MODELS,
    ORDERINGS,
    LinkConfig,
    link_range_errors,
    read_jitter_trace,
)
from duplexsim.config.link_presets import (
    PRESETS,
    gilbert_elliott_chain,
    override_errors,
    resolve_link,
    resolved_errors,
)

ENDPOINTS = ("A", "B")
"""Topology node names of the two agents."""


@dataclass(frozen=True)
class EdgeConfig(LinkConfig):
    """An (undirected) edge of the topology: endpoints, a preset and/or link keys."""

    a: str = ""
    b: str = ""
    preset: str = "ideal"

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)
        errors = link_range_errors(self)
        if self.preset not in PRESETS:
            errors.append(FieldError("preset", f"unknown preset {self.preset!r}",
                                     ", ".join(PRESETS)))
        for end in ("a", "b"):
            if not getattr(self, end):  # (it reads itself only: named beside a bad key too)
                errors.append(FieldError(end, "edge endpoint missing", "a node name", (end,)))
        raise_errors(errors)

    def link(self) -> LinkConfig:
        """This edge's complete link parameters."""
        return resolve_link(self.preset, LinkConfig(**self.link_values()))


@dataclass(frozen=True)
class TopologyConfig:
    """A graph the chunks travel through; endpoints are the nodes "A" and "B"."""

    nodes: tuple[str, ...] = ("A", "B")
    edges: tuple[EdgeConfig, ...] = ()

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)  # (edges: EdgeConfig instances)
        errors: list[FieldError] = []
        seen = set(self.nodes)
        if len(seen) != len(self.nodes):
            errors.append(FieldError("nodes", "duplicate node names", "unique names"))
        for end in ENDPOINTS:
            if end not in seen:
                errors.append(FieldError("nodes", f"endpoint {end!r} missing",
                                         'node names including "A" and "B"'))
        pairs: dict[frozenset[str], int] = {}
        # each edge's checks read the edges (and the node list): named beside bad nodes
        for i, edge in enumerate(self.edges):
            pair = frozenset((edge.a, edge.b))
            if pair in pairs:
                errors.append(FieldError(f"edges[{i}]", f"a second edge {edge.a}-{edge.b} "
                                         f"(edges[{pairs[pair]}] joins them already)",
                                         "one edge per pair of nodes (a relay node between "
                                         "them for a second route)", ("edges",)))
            pairs.setdefault(pair, i)
            if edge.a and edge.a == edge.b:  # no path uses it: its link would be ignored
                errors.append(FieldError(f"edges[{i}]", f"joins {edge.a!r} to itself",
                                         "an edge between two different nodes", ("edges",)))
            for end in (edge.a, edge.b):
                if end not in seen:
                    errors.append(FieldError(f"edges[{i}]", f"unknown node {end!r}",
                                             ", ".join(self.nodes), ("edges", "nodes")))
            link = edge.link()
            errors += reading(override_errors(edge, f"edges[{i}].", edge.preset, link)
                              + resolved_errors(link, f"edges[{i}]."), "edges")
        if not errors and self.path("A", "B") is None:
            errors.append(FieldError("edges", 'no path between "A" and "B"',
                                     "edges that connect A to B (through relays)"))
        raise_errors(errors)

    def graph(self) -> Any:
        """The topology as a ``networkx.Graph``; edge attribute ``link`` is a LinkConfig."""
        import networkx as nx

        graph = nx.Graph()
        graph.add_nodes_from(self.nodes)
        for edge in self.edges:
            link = edge.link()
            graph.add_edge(edge.a, edge.b, link=link, delay_ms=link.delay_ms)
        return graph

    def path(self, src: str, dst: str) -> list[LinkConfig] | None:
        """Hop links along the lowest-delay path from ``src`` to ``dst``; None if there is none."""
        import networkx as nx

        graph = self.graph()
        try:
            nodes = nx.shortest_path(graph, src, dst, weight="delay_ms")
        except nx.NetworkXNoPath:
            return None
        return [graph.edges[u, v]["link"] for u, v in zip(nodes, nodes[1:], strict=False)]


DIRECTIONS = {"a_to_b": ("A", "B"), "b_to_a": ("B", "A")}


def _preset_link_errors(preset: str, override: LinkConfig | None,
                        direction: str) -> list[FieldError]:
    """What is wrong with ``override`` (a direction's own keys) over ``preset``."""
    link = resolve_link(preset, override)
    return (override_errors(override, f"{direction}.", preset, link)
            + resolved_errors(link, f"{direction}."))


def _said(error: FieldError) -> tuple[str, str, str | None]:
    """What a problem tells the user (to compare the problems of two presets)."""
    return error.field, error.message, error.allowed


@dataclass(frozen=True)
class NetworkConfig:
    """The ``[network]`` table: a preset for both directions, overrides, optional topology."""

    preset: str = "ideal"
    """Starting point for both directions; "ideal" (no delay, no loss) when not given."""
    a_to_b: LinkConfig | None = None
    b_to_a: LinkConfig | None = None
    topology: TopologyConfig | None = None

    def __post_init__(self) -> None:
        plain_fields(self)
        check_field_types(self)  # (a_to_b, b_to_a, topology: their instances or None)
        errors: list[FieldError] = []
        if self.preset not in PRESETS:
            errors.append(FieldError("preset", f"unknown preset {self.preset!r}",
                                     ", ".join(PRESETS)))
        for direction in DIRECTIONS:
            errors += self._direction_errors(direction)
        raise_errors(errors)

    def _direction_errors(self, direction: str) -> list[FieldError]:
        """The problems of one direction's link. Each reads the preset and this direction
        only (still named beside a bad topology); one it has over every preset reads the
        direction alone: named beside an unknown preset, or one of another type (which the
        loader's probe checks it over at its default, "ideal"), too."""
        override = getattr(self, direction)
        known = self.preset in PRESETS
        found = _preset_link_errors(self.preset if known else "ideal", override, direction)
        if known and not found:  # (a valid link: no other preset is tried)
            return []
        everywhere = set.intersection(*({_said(e) for e in _preset_link_errors(
            preset, override, direction)} for preset in PRESETS))
        errors: list[FieldError] = []
        for error in found:
            if _said(error) in everywhere:
                errors += reading([error], direction)
            elif known:
                errors += reading([error], "preset", direction)
        return errors

    def link(self, direction: str) -> LinkConfig:
        """The direction's own link (preset + overrides), every key set."""
        return resolve_link(self.preset, getattr(self, direction))

    def hops(self, direction: str) -> list[LinkConfig]:
        """All hops of a direction ("a_to_b" / "b_to_a"): own link, then topology edges."""
        hops = [self.link(direction)]
        if self.topology is not None:
            path = self.topology.path(*DIRECTIONS[direction])
            assert path is not None  # checked in TopologyConfig.__post_init__
            hops += path
        return hops

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def resolve(self, base_dir: str | Path) -> NetworkConfig:
        """A copy whose jitter trace paths are absolute against ``base_dir``."""
        base = Path(base_dir)

        def fix(link: Any) -> Any:
            if link is None or not link.jitter_trace:
                return link
            return dataclasses.replace(link, jitter_trace=str((base / link.jitter_trace).resolve()))

        topology = self.topology
        if topology is not None:
            topology = dataclasses.replace(topology, edges=tuple(fix(e) for e in topology.edges))
        return dataclasses.replace(self, a_to_b=fix(self.a_to_b), b_to_a=fix(self.b_to_a),
                                   topology=topology)


# (LinkConfig, its key tuples and read_jitter_trace moved to link.py, the presets and
# resolve_link to link_presets.py: still importable from here)
__all__ = [
    "DIRECTIONS", "ENDPOINTS", "JITTER_DISTS", "LINK_KEYS", "LOSS_MODELS", "ORDERINGS", "PRESETS",
    "EdgeConfig", "LinkConfig", "NetworkConfig", "TopologyConfig", "gilbert_elliott_chain",
    "read_jitter_trace", "resolve_link",
]
