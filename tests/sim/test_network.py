"""Network models against their parameters: delay, jitter shape, AR(1), loss, ordering."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import simpy
from scipy import stats

from duplexsim.config.link import LinkConfig
from duplexsim.config.link_presets import PRESETS, gilbert_elliott_chain, resolve_link
from duplexsim.config.loader import from_dict
from duplexsim.config.network import EdgeConfig, NetworkConfig, TopologyConfig
from duplexsim.config.scenario import scenario_from_dict
from duplexsim.errors import ConfigError
from duplexsim.sim.delay import DelayModel
from duplexsim.sim.link import Link, Packet
from duplexsim.sim.loss import GilbertElliottLoss, make_loss

N = 20000


def _link(**kw: object) -> LinkConfig:
    return resolve_link("ideal", LinkConfig(**kw))  # type: ignore[arg-type]


def _draws(link: LinkConfig, n: int = N, seed: int = 1) -> np.ndarray:
    model = DelayModel(link, np.random.default_rng(seed))
    return np.array([model.jitter_ms() for _ in range(n)])


def _send_all(link_cfgs: list[LinkConfig], n: int, every_ms: int = 20, seed: int = 0,
              delivered: list[tuple[float, Packet]] | None = None) -> Link:
    """``n`` packets sent every ``every_ms``; ``delivered`` collects (time, packet)."""
    env = simpy.Environment()
    got = delivered if delivered is not None else []
    link = Link(env, "A->B", link_cfgs, np.random.SeedSequence(seed),
                lambda packet: got.append((env.now, packet)))

    def sender():  # noqa: ANN202
        for k in range(n):
            link.put(k, np.zeros(4, np.int64))
            yield env.timeout(every_ms)

    env.process(sender())
    env.run()
    return link


def test_constant_delay_is_exact() -> None:
    link = _send_all([_link(delay_ms=37.0)], 50)
    for rec in link.records:
        assert rec["arrival_ms"] == rec["sent_ms"] + 37
    # per-hop delays add
    link = _send_all([_link(delay_ms=10.0), _link(delay_ms=25.0)], 20)
    assert {r["arrival_ms"] - r["sent_ms"] for r in link.records} == {35.0}


@pytest.mark.parametrize("dist,ref", [
    ("normal-analytic", stats.norm()),
    ("normal", stats.norm()),  # netem's table: a normal to within its 16-bit clipping
    ("uniform", stats.uniform(loc=-np.sqrt(3), scale=2 * np.sqrt(3))),
    ("pareto-analytic", stats.pareto(b=3, loc=-1.5 / np.sqrt(0.75), scale=1 / np.sqrt(0.75))),
])
def test_jitter_mean_sd_and_shape(dist: str, ref: stats.rv_continuous) -> None:
    x = _draws(_link(jitter_ms=8.0, jitter_dist=dist))
    assert abs(x.mean()) < 0.25  # 8 ms sd, 20000 draws
    assert x.std() == pytest.approx(8.0, rel=0.08)
    assert stats.kstest(x / 8.0, ref.cdf).pvalue > 0.01
    # and a wrong shape is rejected (the test can fail)
    other = (stats.uniform(-np.sqrt(3), 2 * np.sqrt(3)) if dist.startswith("normal")
             else stats.norm())
    assert stats.kstest(x / 8.0, other.cdf).pvalue < 1e-6


def test_paretonormal_is_standardised_and_skewed() -> None:
    x = _draws(_link(jitter_ms=5.0, jitter_dist="paretonormal"))
    assert abs(x.mean()) < 0.15
    assert x.std() == pytest.approx(5.0, rel=0.08)
    assert stats.skew(x) > 1.0


@pytest.mark.parametrize("dist", ["normal", "uniform", "paretonormal"])
def test_ar1_correlation_kept_sd(dist: str) -> None:
    c = 0.8
    x = _draws(_link(jitter_ms=10.0, jitter_dist=dist, correlation=c))
    assert x.std() == pytest.approx(10.0, rel=0.12)  # netem's correlation would shrink it
    rho = stats.spearmanr(x[:-1], x[1:]).statistic
    assert rho == pytest.approx(6 / np.pi * np.arcsin(c / 2), abs=0.03)
    if dist == "normal":
        assert np.corrcoef(x[:-1], x[1:])[0, 1] == pytest.approx(c, abs=0.03)
    iid = _draws(_link(jitter_ms=10.0, jitter_dist=dist))
    assert abs(stats.spearmanr(iid[:-1], iid[1:]).statistic) < 0.05


def test_empirical_trace(tmp_path) -> None:  # noqa: ANN001
    samples = np.random.default_rng(3).exponential(10.0, 500) + 20
    path = tmp_path / "delays.txt"
    path.write_text("# measured\n" + "\n".join(f"{v:.3f}" for v in samples) + "\n")
    x = _draws(_link(jitter_dist="trace", jitter_trace=str(path), jitter_ms=4.0))
    assert x.std() == pytest.approx(4.0, rel=0.08) and abs(x.mean()) < 0.2
    assert stats.ks_2samp(x / 4.0, (samples - samples.mean()) / samples.std()).pvalue > 0.01


def test_a_short_trace_keeps_its_spread(tmp_path) -> None:  # noqa: ANN001
    """Draws are the trace's own samples (each 1/n): a 5-sample trace asked for sd 10 gives
    10 (an interpolated quantile function gave 9.25); over a preset, a trace without its own
    jitter_ms keeps the trace's sd, not the preset's jitter."""
    path = tmp_path / "five.txt"
    path.write_text("120\n130\n150\n155\n190\n")
    x = _draws(_link(jitter_dist="trace", jitter_trace=str(path), jitter_ms=10.0), n=50000)
    assert x.std() == pytest.approx(10.0, rel=0.02) and len(np.unique(x)) == 5
    link = resolve_link("continental", LinkConfig(jitter_dist="trace", jitter_trace=str(path)))
    samples = np.array([120, 130, 150, 155, 190.0])
    assert link.jitter_ms == 0.0 and link.delay_ms == 30.0
    assert _draws(link, n=50000).std() == pytest.approx(samples.std(), rel=0.02)


def test_a_loss_over_a_lossless_preset_is_bernoulli() -> None:
    """ideal and lan have loss_model none: a loss set on them used to lose nothing."""
    for preset in ("ideal", "lan"):
        link = resolve_link(preset, LinkConfig(loss=0.2))
        assert link.loss_model == "bernoulli"
        model = make_loss(link, np.random.default_rng(0))
        assert np.mean([model.lost() for _ in range(20000)]) == pytest.approx(0.2, abs=0.01)


def test_gilbert_elliott_with_netem_parameters() -> None:
    """netem's gemodel p r 1-h 1-k: the stationary loss is pi_bad (1-h) + (1-pi_bad) (1-k)."""
    p, r, bad, good = 0.02, 0.25, 0.6, 0.01
    link = _link(loss_model="gilbert-elliott", ge_p=p, ge_r=r, loss_bad=bad, loss_good=good)
    model = make_loss(link, np.random.default_rng(5))
    lost = np.array([model.lost() for _ in range(400000)])
    pi = p / (p + r)
    assert lost.mean() == pytest.approx(pi * bad + (1 - pi) * good, rel=0.05)
    # from the mean loss and burst with lossy states: p is solved for the stationary loss
    derived = _link(loss_model="gilbert-elliott", loss=0.05, burst=4.0, loss_bad=0.5,
                    loss_good=0.01)
    model = make_loss(derived, np.random.default_rng(6))
    assert np.mean([model.lost() for _ in range(400000)]) == pytest.approx(0.05, rel=0.05)


def test_half_ms_arrivals_round_up() -> None:
    """A constant x.5 ms delay arrives x + 1 ms after its send, whatever the send time
    (round-half-to-even gave 0.5 -> 0 and 2.5 -> 2 on even send times)."""
    for delay in (0.5, 1.5, 2.5, 3.5):
        link = _send_all([_link(delay_ms=delay)], 3)
        assert [r["delay_ms"] for r in link.records] == [delay + 0.5] * 3


def test_gilbert_elliott_rate_and_burst() -> None:
    loss, burst = 0.05, 4.0
    link = _link(loss=loss, burst=burst, loss_model="gilbert-elliott")
    model = GilbertElliottLoss(*gilbert_elliott_chain(link), np.random.default_rng(7))
    lost = np.array([model.lost() for _ in range(200000)])
    assert lost.mean() == pytest.approx(loss, rel=0.1)
    edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
    bursts = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert bursts.mean() == pytest.approx(burst, rel=0.1)
    assert model.r == pytest.approx(1 / burst) and model.p == pytest.approx(loss / burst / 0.95)


def test_fifo_never_reorders_reorder_does() -> None:
    big = dict(delay_ms=100.0, jitter_ms=40.0, jitter_dist="normal")
    fifo = _send_all([_link(ordering="fifo", **big)], 400)
    arrivals = [r["arrival_ms"] for r in fifo.records]
    assert arrivals == sorted(arrivals)
    reorder = _send_all([_link(ordering="reorder", **big)], 400)
    arrivals = [r["arrival_ms"] for r in reorder.records]
    assert arrivals != sorted(arrivals)


def test_duplicates_bandwidth_spikes() -> None:
    dup = _send_all([_link(duplicate=0.3)], 1000)
    copies = sum(r["duplicate"] for r in dup.records)
    assert 240 < copies < 360
    # 8 kbit/s: a 48-byte packet takes 48 ms on the wire, sent every 20 ms -> queueing
    slow = _send_all([_link(bandwidth_kbps=8.0)], 10)
    assert [r["arrival_ms"] for r in slow.records] == [48.0 * (k + 1) for k in range(10)]
    leo = dataclasses.replace(PRESETS["satellite-leo"], jitter_ms=0.0, loss=0.0, ordering="reorder")
    spiky = _send_all([leo], 1600, every_ms=20)
    delays = np.array([r["arrival_ms"] - r["sent_ms"] for r in spiky.records])
    sent = np.array([r["sent_ms"] for r in spiky.records])
    in_spike = (sent % 15000) < 300
    assert set(delays[in_spike]) == {85.0} and set(delays[~in_spike]) == {25.0}


def test_a_packet_lost_on_a_later_hop_took_its_turn_on_the_hops_before_it() -> None:
    """A packet lost on a hop crossed the hops before it, like any other: on an 8 kbit/s
    hop (48 ms per packet) it held the packets behind it. Dropped at send, it freed the
    wire it had used, so every packet behind a loss further on arrived 48 ms earlier per
    packet lost before it (also behind a queueing hop past the first)."""
    lossy = _link(loss=0.5)
    for path in ([_link(bandwidth_kbps=8.0), lossy],
                 [_link(), _link(bandwidth_kbps=8.0), lossy]):
        link = _send_all(path, 20)
        kept = [r for r in link.records if not r["lost"]]
        assert 3 < len(kept) < 17
        assert [r["arrival_ms"] for r in kept] == [48.0 * (r["chunk"] + 1) for r in kept]


@pytest.mark.parametrize("kbps", [1e-320, 1e-6])
def test_a_bandwidth_below_one_bit_per_second_is_one_clear_line(kbps: float) -> None:
    """A bandwidth of a few 1e-305 kbit/s or less passed the checks and made a packet's time
    on the wire infinite: a bare OverflowError from inside the link at the first send.
    Below 1 bit/s (a 48-byte packet would take over 6 minutes) it is a unit mistake, named
    where it is written; 0 (unlimited) and 1 bit/s pass."""
    scenario = {"chunk_ms": 200, "duration_s": 1.0, "a": {"kind": "scripted"},
                "b": {"kind": "scripted"},
                "network": {"preset": "lan", "a_to_b": {"bandwidth_kbps": kbps}}}
    with pytest.raises(ConfigError) as error:
        scenario_from_dict(scenario, file="s.toml")
    assert str(error.value) == (f"s.toml: network.a_to_b.bandwidth_kbps: {kbps!r} is below 1 "
                                "bit/s (allowed: 0 = unlimited, or >= 0.001 and <= 1e+09)")
    for fine in (0.0, 0.001):
        assert _link(bandwidth_kbps=fine).bandwidth_kbps == fine


def test_a_later_hop_serialises_packets_in_the_order_they_reach_it(tmp_path) -> None:  # noqa: ANN001
    """A bandwidth hop after a reordering one queued packets in send order: one that
    overtook another waited behind it (here 342 of 400 packets arrived late, by up to
    392 ms; mean delay 428.1 against 271.7 ms). A link serialises in the order packets
    reach it."""
    trace = tmp_path / "jitter.txt"
    trace.write_text("0\n100\n200\n300\n400\n")  # whole ms: hop 1's exits are exact
    first = _link(delay_ms=250.0, jitter_dist="trace", jitter_trace=str(trace),
                  ordering="reorder")
    # one hop alone and the same hop first of two draw alike (a hop's seed is the same
    # spawned child), so the first link's arrivals are the second's entries into hop 2
    entries = [r["arrival_ms"] for r in _send_all([first], 400).records]
    assert entries != sorted(entries)  # hop 1 reorders
    both = _send_all([first, _link(bandwidth_kbps=32.0)], 400)  # 48 bytes: 12 ms each
    busy, want = -np.inf, {}
    for k in sorted(range(400), key=lambda k: (entries[k], k)):
        busy = max(entries[k], busy) + 12.0
        want[k] = busy
    assert [r["arrival_ms"] for r in both.records] == [want[k] for k in range(400)]


def test_loss_on_any_hop_and_seeds_are_independent_streams() -> None:
    lossy = _send_all([_link(loss=0.2, loss_model="bernoulli"), _link(loss=0.2,
                       loss_model="bernoulli")], 3000)
    rate = np.mean([r["lost"] for r in lossy.records])
    assert rate == pytest.approx(1 - 0.8 * 0.8, abs=0.03)
    a = _send_all([_link(delay_ms=50.0, jitter_ms=10.0, jitter_dist="normal")], 100, seed=5)
    b = _send_all([_link(delay_ms=50.0, jitter_ms=10.0, jitter_dist="normal", loss=0.1,
                         loss_model="bernoulli")], 100, seed=5)
    kept = [r for r in b.records if not r["lost"]]
    # changing the loss does not change the delays of the packets that get through
    assert all(a.records[r["chunk"]]["arrival_ms"] == r["arrival_ms"] for r in kept)


def test_every_copy_not_lost_is_delivered_at_its_arrival_in_send_order_on_ties() -> None:
    delivered: list[tuple[float, Packet]] = []
    link = _send_all([_link(delay_ms=60.0, jitter_ms=30.0, jitter_dist="normal", loss=0.1,
                            loss_model="bernoulli", ordering="reorder", duplicate=0.2)],
                     400, every_ms=5, delivered=delivered)
    kept = [r for r in link.records if not r["lost"]]
    assert len(delivered) == len(kept) < len(link.records)
    assert all(now == p.record["arrival_ms"] for now, p in delivered)
    assert [now for now, _ in delivered] == sorted(now for now, _ in delivered)
    # at one ms, copies come out in the order they were sent (the link's records' order)
    order = {id(r): i for i, r in enumerate(link.records)}
    ranks = [(now, order[id(p.record)]) for now, p in delivered]
    assert ranks == sorted(ranks)
    assert len({now for now, _ in delivered}) < len(delivered)  # there were ties to order
    assert {p.chunk for _, p in delivered if p.record["duplicate"]}


def test_keys_given_over_a_preset_without_them_take_effect() -> None:
    """jitter_ms over ideal was constant delay; burst or ge_p/ge_r over a lossless preset
    were bernoulli or no loss at all (a network audit found each one)."""
    jittered = _link(delay_ms=50.0, jitter_ms=10.0)
    assert jittered.jitter_dist == "uniform"  # netem's default
    assert _draws(jittered).std() == pytest.approx(10.0, rel=0.03)
    for preset in ("ideal", "lan"):
        bursty = resolve_link(preset, LinkConfig(loss=0.05, burst=4.0))
        chain = resolve_link(preset, LinkConfig(ge_p=0.05, ge_r=0.2))
        assert bursty.loss_model == chain.loss_model == "gilbert-elliott"
        model = make_loss(bursty, np.random.default_rng(3))
        lost = np.array([model.lost() for _ in range(200000)])
        edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
        bursts = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        assert lost.mean() == pytest.approx(0.05, rel=0.1)
        assert bursts.mean() == pytest.approx(4.0, rel=0.1)
        model = make_loss(chain, np.random.default_rng(4))
        assert np.mean([model.lost() for _ in range(200000)]) == pytest.approx(0.2, rel=0.05)
    # a loss of 1 under gilbert-elliott loses everything (it lost 2/3 with bursts of 3)
    model = make_loss(resolve_link("metro", LinkConfig(loss=1.0)), np.random.default_rng(0))
    assert all(model.lost() for _ in range(2000))


@pytest.mark.parametrize("network,key", [
    ({"a_to_b": {"jitter_ms": 5.0, "jitter_dist": "none"}}, "a_to_b.jitter_dist"),
    ({"a_to_b": {"loss": 0.02, "loss_model": "bernoulli", "burst": 3.0}}, "a_to_b.burst"),
    ({"b_to_a": {"loss_model": "none", "ge_p": 0.1}}, "b_to_a.ge_p"),
    # over a lossless preset with no loss given: nothing to shape (ignored without a word)
    ({"a_to_b": {"burst": 5.0}}, "a_to_b.burst"),
    ({"b_to_a": {"loss_bad": 0.5}}, "b_to_a.loss_bad"),
    ({"preset": "lan", "a_to_b": {"loss_good": 0.0, "burst": 3.0}}, "a_to_b.burst"),
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "B", "burst": 4.0}]}},
     r"topology.edges\[0\].burst"),
    # beside a chain given as netem's gemodel p r: loss 0.02 lost 25% (p / (p + r)), and a
    # sweep's lossless cell (loss = 0) lost as much
    ({"a_to_b": {"loss": 0.02, "ge_p": 0.1, "ge_r": 0.3}}, "a_to_b.loss"),
    ({"preset": "metro", "b_to_a": {"loss": 0.0, "ge_p": 0.1, "ge_r": 0.3}}, "b_to_a.loss"),
    ({"preset": "metro", "a_to_b": {"burst": 10.0, "ge_p": 0.1, "ge_r": 0.3}}, "a_to_b.burst"),
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "B", "loss": 0.01,
                                                   "ge_p": 0.1, "ge_r": 0.3}]}},
     r"topology.edges\[0\].loss"),
    # a distribution or correlation over a jitter-free preset with no jitter_ms: constant delay
    ({"a_to_b": {"delay_ms": 50.0, "jitter_dist": "normal"}}, "a_to_b.jitter_dist"),
    ({"b_to_a": {"correlation": 0.9}}, "b_to_a.correlation"),
    ({"topology": {"nodes": ["A", "B"], "edges": [{"a": "A", "b": "B", "correlation": 0.3}]}},
     r"topology.edges\[0\].correlation"),
    ({"a_to_b": {"spike_ms": 60.0}}, "a_to_b.spike_period_s"),
    ({"a_to_b": {"spike_ms": 60.0, "spike_period_s": 15.0}}, "a_to_b.spike_duration_ms"),
])
def test_keys_the_named_model_would_ignore_are_errors(network: dict, key: str) -> None:
    from duplexsim.config.loader import from_dict
    from duplexsim.config.network import NetworkConfig

    with pytest.raises(ValueError, match=rf"network\.{key}\b"):
        from_dict(NetworkConfig, network, file="s.toml", prefix="network")
    # "none" alone over a jittered preset means no jitter, not an error
    link = resolve_link("lan", LinkConfig(jitter_dist="none"))
    assert link.jitter_ms == 0.0
    # burst over a preset that loses packets shapes its loss
    config = from_dict(NetworkConfig, {"preset": "satellite-geo", "a_to_b": {"burst": 6.0}},
                       file="s.toml", prefix="network")
    assert config.link("a_to_b").burst == 6.0 and config.link("a_to_b").can_lose()
    # a jitter-free cell of a sweep (jitter_ms = 0 beside them) and correlation over a
    # jittered preset pass
    for ok in ({"a_to_b": {"jitter_dist": "normal", "jitter_ms": 0.0, "correlation": 0.5}},
               {"preset": "lan", "a_to_b": {"correlation": 0.5}}):
        from_dict(NetworkConfig, ok, file="s.toml", prefix="network")
    # a lossless link spelled out at the preset's own values changes nothing: no error
    spelled = {"burst": 1.0, "ge_p": 0.0, "ge_r": 0.0, "loss_bad": 1.0,
               "loss_good": 0.0}
    assert not from_dict(NetworkConfig, {"a_to_b": spelled}, file="s.toml",
                         prefix="network").link("a_to_b").can_lose()


def test_reordering_on_one_hop_survives_a_fifo_hop_after_it() -> None:
    """A fifo hop holds packets in the order they entered *it*: a constant 10 ms edge after
    a reordering access link adds 10 ms to every packet (it used to undo the reordering)."""
    access = _link(delay_ms=50.0, jitter_ms=10.0, jitter_dist="normal", ordering="reorder")
    alone = _send_all([access], 600)
    both = _send_all([access, _link(delay_ms=10.0)], 600)
    first = [r["arrival_ms"] for r in alone.records]
    assert first != sorted(first)  # the access link reorders
    assert [r["arrival_ms"] for r in both.records] == [a + 10 for a in first]
    # a jittered fifo hop after it keeps its own order rule: never out of its entry order
    jittery = _send_all([access, _link(delay_ms=5.0, jitter_ms=3.0, jitter_dist="normal")], 600)
    assert [r["arrival_ms"] for r in jittery.records] != sorted(
        r["arrival_ms"] for r in jittery.records)


def test_a_loss_on_one_hop_does_not_shift_the_draws_of_the_next() -> None:
    jitter = dict(delay_ms=20.0, jitter_ms=5.0, jitter_dist="normal", ordering="reorder")
    clean = _send_all([_link(**jitter), _link(**jitter)], 2000, seed=9)
    lossy = _send_all([_link(**jitter, loss=0.1), _link(**jitter)], 2000, seed=9)
    kept = [r for r in lossy.records if not r["lost"]]
    assert 1700 < len(kept) < 1900
    assert all(clean.records[r["chunk"]]["arrival_ms"] == r["arrival_ms"] for r in kept)


def test_the_network_module_still_hands_out_links_and_presets() -> None:
    """LinkConfig and read_jitter_trace moved to config/link.py, the presets, resolve_link and
    gilbert_elliott_chain to config/link_presets.py: config.network re-exports them, the
    same objects (a scenario's link is still a duplexsim.config.network.LinkConfig)."""
    from duplexsim.config import link, link_presets, network

    for module, names in ((link, ("LinkConfig", "LINK_KEYS", "JITTER_DISTS", "LOSS_MODELS",
                                  "ORDERINGS", "read_jitter_trace")),
                          (link_presets, ("PRESETS", "resolve_link", "gilbert_elliott_chain"))):
        for name in names:
            assert getattr(network, name) is getattr(module, name)
    assert issubclass(network.EdgeConfig, network.LinkConfig)


def _refused(build: Callable[[], object]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        build()
    return [str(p) for p in info.value.problems]


@pytest.mark.parametrize(("cls", "kwargs", "expected"), [
    (LinkConfig, {"delay_ms": "40"}, "delay_ms: wrong type string (allowed: number)"),
    (LinkConfig, {"loss": {}}, "loss: wrong type table (allowed: number)"),
    (LinkConfig, {"burst": True}, "burst: wrong type boolean (allowed: number)"),
    (LinkConfig, {"jitter_trace": 5}, "jitter_trace: wrong type integer (allowed: string)"),
    (LinkConfig, {"ordering": "lifo"}, "ordering: unknown value 'lifo' (allowed: fifo, reorder)"),
    (EdgeConfig, {"a": "A", "b": None}, "b: wrong type null (allowed: string)"),
    (EdgeConfig, {"a": "A", "b": "B", "preset": ["lan"]},
     "preset: wrong type array (allowed: string)"),
    (EdgeConfig, {"a": "A", "b": "B", "delay_ms": "3"},
     "delay_ms: wrong type string (allowed: number)"),
    (NetworkConfig, {"preset": 3}, "preset: wrong type integer (allowed: string)"),
    (NetworkConfig, {"a_to_b": {"delay_ms": 3.0}},
     "a_to_b: got dict (allowed: LinkConfig (the [a_to_b] table) or None)"),
    (NetworkConfig, {"topology": "x"},
     "topology: got str (allowed: TopologyConfig (the [topology] table) or None)"),
    (TopologyConfig, {"nodes": ("A", 1)}, "nodes[1]: wrong type integer (allowed: string)"),
    (TopologyConfig, {"edges": ({"a": "A", "b": "B"},)},
     "edges[0]: got dict (allowed: EdgeConfig (a [[edges]] table))"),
    (TopologyConfig, {"edges": "x"},
     "edges: got str (allowed: a tuple of EdgeConfig (the [[edges]] tables))"),
])
def test_built_in_python_a_wrong_type_is_one_line(cls: type, kwargs: dict,
                                                  expected: str) -> None:
    """A link, edge, network or topology built in Python takes what a file takes and
    refuses what it refuses, in one line: delay_ms="40" was a TypeError from math.isfinite,
    a dict for a direction an AttributeError from resolve_link, a dict for an edge one from
    the topology's checks; burst=True, a number for a path or an endpoint, and a dict for
    the topology were accepted."""
    assert _refused(lambda: cls(**kwargs)) == [expected]
    if None not in kwargs.values() and "got " not in expected:  # (a file gives neither)
        assert _refused(lambda: from_dict(cls, kwargs, file="f.toml")) == [f"f.toml: {expected}"]


def test_built_in_python_links_of_the_right_types_still_build() -> None:
    """An int for a float stays as given, NumPy scalars and a path object are their plain
    values, and a topology's edges may be a tuple or a list of EdgeConfig."""
    link = LinkConfig(delay_ms=40, loss=np.float64(0.01), jitter_trace=Path("t.txt"))
    assert (link.delay_ms, type(link.delay_ms), link.loss, link.jitter_trace) == (
        40, int, 0.01, "t.txt")
    edges = [EdgeConfig(a="A", b="R", delay_ms=5.0), EdgeConfig(a="R", b="B", preset="lan")]
    for given in (edges, tuple(edges)):
        topology = TopologyConfig(nodes=("A", "R", "B"), edges=given)  # type: ignore[arg-type]
        assert [hop.delay_ms for hop in NetworkConfig(topology=topology).hops("a_to_b")] \
            == [0.0, 5.0, 1.0]
