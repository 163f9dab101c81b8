"""mel-kmeans and hubert-kmeans tokenizers on real (espeak-ng) speech: VAD from units,
wav -> units -> wav, 8 kHz/16 kHz sharing one inventory, save/load, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from duplexsim.audio.io import resample
from duplexsim.corpora.tts import Voice, speak
from duplexsim.units import TokenizerConfig, UnitTokenizer, kmeans, load_tokenizer, train_tokenizer
from duplexsim.units.energy_vad import otsu_threshold
from duplexsim.units.kmeans import KMeansTokenizer

TEXTS = ["hello there how are you doing today", "yeah", "i was thinking about the weekend",
         "right", "we could go hiking up in the hills if the weather holds"]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """16 kHz mono: utterances separated by 0.6-1.2 s of noise floor; annotated speech mask."""
    cache = tmp_path_factory.mktemp("tts")
    rng = np.random.default_rng(0)
    parts, mask = [], []
    for i, text in enumerate(TEXTS * 2):
        gap = np.zeros(int(16000 * (0.6 + 0.15 * (i % 5))), dtype=np.float32)
        utt = speak(text, Voice("en-us+m3" if i % 2 else "en-gb+f2"), 16000, cache)
        utt = 0.1 * utt / np.sqrt(np.mean(utt**2))
        parts += [gap, utt]
        mask += [np.zeros(len(gap), bool), np.ones(len(utt), bool)]
    wave = np.concatenate(parts)
    wave = wave + rng.normal(0, 1e-3, wave.shape).astype(np.float32)
    m = np.concatenate(mask)
    t = len(wave) // 640
    frame_mask = m[: t * 640].reshape(t, 640).mean(1) > 0.5
    return wave.astype(np.float32), frame_mask


@pytest.fixture(scope="module")
def tok(speech):
    wave, mask = speech
    return train_tokenizer([(wave, 16000, mask)], TokenizerConfig(n_units=32, seed=0))


def test_protocol_shapes_and_vad_from_units(tok, speech) -> None:
    wave, mask = speech
    assert isinstance(tok, UnitTokenizer)
    units = tok.encode(wave, 16000)
    assert units.dtype == np.int64 and units.shape == (len(wave) * 25 // 16000,)
    assert units.min() >= 0 and units.max() < tok.n_units
    assert tok.silence_unit in tok.silence_units and 0 in tok.silence_units
    agree = float(np.mean(tok.is_speech(units) == mask))
    print(f"unit VAD vs annotation agreement: {agree:.3f}")
    assert agree > 0.9
    assert len(np.unique(units[tok.is_speech(units)])) > 10  # speech uses many units


def test_vad_survives_wav_units_wav(tok, speech) -> None:
    units = tok.encode(speech[0], 16000)
    audio = tok.decode(units)
    assert audio.shape == (len(units) * 640,) and audio.dtype == np.float32
    again = tok.encode(audio, tok.sample_rate_hz)
    agree = float(np.mean(tok.is_speech(again) == tok.is_speech(units)))
    print(f"voice activity agreement wav->units->wav->units: {agree:.3f}")
    assert agree > 0.9
    silent = ~tok.is_speech(units)
    frames = audio.reshape(-1, 640)
    assert np.sqrt((frames[silent] ** 2).mean()) < 0.1 * np.sqrt((frames[~silent] ** 2).mean())


def test_telephone_and_wideband_share_one_inventory(tok, speech) -> None:
    wave = speech[0]
    narrow = resample(wave, 16000, 8000)
    u16, u8 = tok.encode(wave, 16000), tok.encode(narrow, 8000)
    assert u16.shape == u8.shape
    assert np.mean(tok.is_speech(u16) == tok.is_speech(u8)) > 0.95
    assert np.mean(u16 == u8) > 0.5  # mostly the same units: features live below 4 kHz


def test_save_load_round_trip_and_determinism(tok, speech, tmp_path) -> None:
    tok.save(tmp_path / "t")
    back = load_tokenizer(tmp_path / "t")
    assert back.n_units == tok.n_units and back.silence_units == tok.silence_units
    np.testing.assert_array_equal(back.encode(speech[0], 16000), tok.encode(speech[0], 16000))
    again = train_tokenizer([(speech[0], 16000, speech[1])], TokenizerConfig(n_units=32, seed=0))
    again.save(tmp_path / "u")
    assert (tmp_path / "t/arrays.safetensors").read_bytes() == (
        tmp_path / "u/arrays.safetensors").read_bytes()
    # features in worker processes (the corpus builder's): the same bytes
    wave, mask = speech
    n = len(wave) // 4  # five channels: more than the two per worker kept in flight
    parts = [(wave[i * n:(i + 1) * n], 16000, None) for i in range(4)] + [(wave, 16000, mask)]
    one = train_tokenizer(parts, TokenizerConfig(n_units=32, seed=0))
    two = train_tokenizer(parts, TokenizerConfig(n_units=32, seed=0), workers=2)
    one.save(tmp_path / "one")
    two.save(tmp_path / "two")
    assert (tmp_path / "one/arrays.safetensors").read_bytes() == (
        tmp_path / "two/arrays.safetensors").read_bytes()


def test_integer_pcm_gives_the_units_of_the_same_float_audio(tok, speech) -> None:
    """int16 (as ``soundfile.read(dtype="int16")`` or ``scipy.io.wavfile`` give it) and
    unsigned 8-bit WAV samples are scaled as soundfile scales them, not read as +-32767."""
    wave = np.clip(speech[0][:64000], -1.0, 32767 / 32768)
    pcm16 = np.round(wave * 32768).astype(np.int16)
    want = tok.encode(pcm16.astype(np.float32) / 32768, 16000)
    assert np.array_equal(tok.encode(pcm16, 16000), want)
    assert tok.is_speech(want).mean() < 0.9  # the noise floor between utterances is silence
    pcm8 = np.round(wave * 128 + 128).clip(0, 255).astype(np.uint8)
    assert np.array_equal(tok.encode(pcm8, 16000),
                          tok.encode((pcm8.astype(np.float32) - 128) / 128, 16000))
    for bad in (0, -8000, 8000.5, True):
        with pytest.raises(ValueError, match="sample_rate.*positive integer"):
            tok.encode(wave, bad)
    with pytest.raises(ValueError, match="dtype"):
        tok.encode(wave.astype(np.complex64), 16000)
    # int16-scale samples as float (astype(np.float32) without / 32768): all loud speech
    with pytest.raises(ValueError, match=r"wave\[\d+\] = -?\d+: far past full scale \+-1 "
                                         r"\(allowed: .* divide it by 32768"):
        tok.encode(pcm16.astype(np.float32), 16000)
    huge = wave.astype(np.float64)
    huge[7] = -1e300  # finite: it was cast to -inf and refused as "not finite"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (numpy's "overflow encountered in cast")
        with pytest.raises(ValueError, match=r"wave\[7\] = -1e\+300: far past full scale"):
            tok.encode(huge, 16000)
    # int16-scale samples as int64 (numpy's astype(int)) were divided by 2**63: all silence
    with pytest.raises(ValueError, match=r"wave: dtype int64 \(allowed: .* int16, int32 or"):
        tok.encode(pcm16.astype(int), 16000)


def test_errors(tok, speech, tmp_path) -> None:
    with pytest.raises(ValueError, match="out of range"):
        tok.decode(np.array([0, 1, tok.n_units]))
    with pytest.raises(ValueError, match="speech frames for 999 speech units"):
        train_tokenizer([(speech[0][:32000], 16000, None)], TokenizerConfig(n_units=1000))
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match="hubert_dir"):
        TokenizerConfig(type="hubert-kmeans")


def test_hubert_kmeans_from_a_local_tiny_model(speech, tmp_path) -> None:
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(0)
    cfg = HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, conv_dim=(32,) * 7, num_conv_pos_embeddings=16,
                       num_conv_pos_embedding_groups=2)
    HubertModel(cfg).save_pretrained(tmp_path / "hubert")
    wave, mask = speech[0][: 16000 * 8], speech[1][: 25 * 8]
    conf = TokenizerConfig(type="hubert-kmeans", n_units=16, hubert_dir=str(tmp_path / "hubert"),
                           hubert_layer=1)
    tok = train_tokenizer([(wave, 16000, mask)], conf)
    units = tok.encode(resample(wave, 16000, 8000), 8000)
    assert units.shape == (200,) and units.max() < 16
    assert np.mean(tok.is_speech(units) == mask) > 0.85
    tok.save(tmp_path / "tok")
    np.testing.assert_array_equal(load_tokenizer(tmp_path / "tok").encode(wave, 16000),
                                  tok.encode(wave, 16000))
    # a HuBERT folder that is gone: named when the tokenizer loads, not at the first encode
    (tmp_path / "hubert").rename(tmp_path / "moved")
    with pytest.raises(FileNotFoundError, match=r"config.hubert_dir: .* is not a folder"):
        load_tokenizer(tmp_path / "tok")


def _tiny_hubert(folder, seed: int, hidden: int = 32) -> None:  # noqa: ANN001
    import torch
    from transformers import HubertConfig, HubertModel

    torch.manual_seed(seed)
    HubertModel(HubertConfig(hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=64, conv_dim=(32,) * 7,
                             num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                             )).save_pretrained(folder)


def test_hubert_kmeans_refuses_a_hubert_it_was_not_trained_with(speech, tmp_path) -> None:
    """The tokenizer did not record its HuBERT: a replaced model of another width failed at
    the first encode with a bare numpy matmul error, one of the same width encoded into
    meaningless units without a word."""
    import json
    import shutil

    hubert = tmp_path / "hubert"
    _tiny_hubert(hubert, seed=0)
    conf = TokenizerConfig(type="hubert-kmeans", n_units=8, hubert_dir=str(hubert),
                           hubert_layer=1)
    train_tokenizer([(speech[0][: 16000 * 4], 16000, speech[1][: 25 * 4])], conf).save(
        tmp_path / "tok")
    assert json.loads((tmp_path / "tok" / "config.json").read_text())["hubert"][
        "hidden_size"] == 32
    load_tokenizer(tmp_path / "tok")
    shutil.rmtree(hubert)
    _tiny_hubert(hubert, seed=1)
    # refused before HuBERT encodes; loading and decoding never read (nor hash) its weights
    replaced = load_tokenizer(tmp_path / "tok")
    assert replaced.decode(np.array([0, 3, 5])).shape == (3 * 640,)
    with pytest.raises(ValueError, match=r"tok/config.json: config.hubert_dir: .* holds "
                                         r"another HuBERT than the one trained with") as e:
        replaced.encode(speech[0][:16000], 16000)
    assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="holds another HuBERT"):  # not only the first time
        replaced.encode(speech[0][:16000], 16000)
    shutil.rmtree(hubert)
    _tiny_hubert(hubert, seed=0, hidden=48)
    with pytest.raises(ValueError, match=r"holds a HuBERT of hidden_size 48, trained with 32"):
        load_tokenizer(tmp_path / "tok")
    # a tokenizer saved before the fingerprint was recorded still loads (not checked)
    meta = json.loads((tmp_path / "tok" / "config.json").read_text())
    del meta["hubert"]
    (tmp_path / "tok" / "config.json").write_text(json.dumps(meta))
    assert load_tokenizer(tmp_path / "tok").hubert is None


def test_decode_refuses_float_and_multichannel_units(tok) -> None:
    """Float unit ids were truncated without a word (1.7 vocoded as unit 1; ``load_units``
    refuses float units for that reason), and ``[2, T]`` units ended in numpy's "operands
    could not be broadcast" instead of naming the shape."""
    with pytest.raises(ValueError, match=r"units: dtype float64 \(allowed: integer unit ids"):
        tok.decode(np.array([0.0, 1.7]))
    with pytest.raises(ValueError, match=r"units must be one stream \[T\], got shape \(2, 3\)"):
        tok.decode(np.zeros((2, 3), np.int64))
    assert tok.decode(np.array([0, 1], np.int16)).shape == (1280,)  # any integer dtype



@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_encode_refuses_non_finite_samples(tok, speech, bad) -> None:
    """A NaN or inf sample gave units without a word (a NaN stretch read as silence)."""
    wave = speech[0][:16000].copy()
    wave[4321] = bad
    with pytest.raises(ValueError, match=r"wave\[4321\]: not finite \(1 such sample\)"):
        tok.encode(wave, 16000)


def test_channels_that_cannot_be_read_twice_are_refused(speech) -> None:
    """The channels are read twice (features, then each unit's spectrum): a generator gave
    nothing the second time, and every unit decoded as silence without a word."""
    wave = speech[0][: 16000 * 8]
    conf = TokenizerConfig(n_units=8, seed=0)
    with pytest.raises(ValueError, match="channels: a one-shot iterator"):
        train_tokenizer(((w, 16000, None) for w in [wave]), conf)

    class Shrinking:  # re-iterable, but gives less audio the second time
        passes = 0

        def __iter__(self):
            self.passes += 1
            yield wave if self.passes == 1 else wave[:16000], 16000, None

    with pytest.raises(ValueError, match="second pass gave 1 channels of 25 frames, the "
                                         "first 1 of 200"):
        train_tokenizer(Shrinking(), conf)


def test_centroids_of_another_feature_width_are_refused_at_load(tok, tmp_path) -> None:
    """A config.json whose n_mels is not the centroids' width loaded, and the first encode
    ended in numpy's "matmul: Input operand 1 has a mismatch in its core dimension"."""
    import json

    tok.save(tmp_path / "tok")
    meta = json.loads((tmp_path / "tok" / "config.json").read_text())
    meta["config"]["n_mels"] = 40
    (tmp_path / "tok" / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"arrays.safetensors: centroids: float32 \[32, 64\] "
                       r".*allowed: finite floats \[32, 40\] \(config.n_mels in config.json"):
        load_tokenizer(tmp_path / "tok")


def test_annotations_of_another_length_are_refused(speech) -> None:
    """A mask shorter than the channel's frames made the threshold Otsu's for every channel
    without a word; a mask per sample was cut to its first frames and taught a threshold of
    nothing. One frame more (a duration rounded up) is still cut."""
    wave, mask = speech[0][: 16000 * 8], speech[1][:200]
    conf = TokenizerConfig(n_units=8, seed=0)
    for bad, shape in ((mask[:150], "[150]"), (np.ones(len(wave), bool), f"[{len(wave)}]"),
                       (mask[None], "[1, 200]")):
        with pytest.raises(ValueError, match=rf"train_tokenizer: channel 1: annotated speech "
                                             rf"of shape \{shape[:-1]}\] for 200 frames"):
            train_tokenizer([(wave, 16000, mask), (wave, 16000, bad)], conf)
    one_more = np.concatenate([mask, [True]])
    assert train_tokenizer([(wave, 16000, one_more)], conf).threshold_db == \
        train_tokenizer([(wave, 16000, mask)], conf).threshold_db


def test_a_save_cut_short_leaves_the_old_tokenizer_or_a_clear_error(tok, speech, tmp_path) -> None:
    """save() wrote the arrays, then config.json: failing in between left the new arrays
    under the old config.json, a tokenizer that loaded and encoded into other units."""
    import shutil

    old = train_tokenizer([(speech[0], 16000, speech[1])], TokenizerConfig(n_units=32, seed=1))
    old.save(tmp_path / "t")
    before = {f.name: f.read_bytes() for f in (tmp_path / "t").iterdir()}
    new = train_tokenizer([(speech[0], 16000, speech[1])], TokenizerConfig(n_units=32, seed=2))
    new.hubert = {"digest": object()}  # config.json cannot be written: the save fails there
    with pytest.raises(TypeError, match="not JSON serialisable"):
        new.save(tmp_path / "t")
    assert {f.name: f.read_bytes() for f in (tmp_path / "t").iterdir()} == before
    # a folder a kill left with the arrays but not yet config.json: said so, on one line
    (tmp_path / "half").mkdir()
    shutil.copyfile(tmp_path / "t" / "arrays.safetensors", tmp_path / "half" /
                    "arrays.safetensors")
    with pytest.raises(FileNotFoundError, match=r"half: a unit tokenizer whose save was cut "
                       r"short \(arrays.safetensors but no config.json\)") as e:
        load_tokenizer(tmp_path / "half")
    assert "\n" not in str(e.value)


def test_fewer_distinct_frames_than_units_is_refused() -> None:
    """A steady tone gives the same feature vector frame after frame: k-means returned
    copies of a few centroids, and most speech units were ones no frame could ever get."""
    t = np.arange(16000 * 2) / 16000
    tone = (0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)  # 8 periods per frame
    wave = np.concatenate([np.zeros(16000, np.float32), tone, np.zeros(16000, np.float32)])
    with pytest.raises(ValueError, match=r"^train_tokenizer: \d+ speech frames with only \d "
                                         r"distinct feature vectors for 19 speech units"):
        train_tokenizer([(wave, 16000, None)], TokenizerConfig(n_units=20))


def test_audio_of_one_energy_is_not_taken_for_speech() -> None:
    """Otsu's method on frames of one energy (digital silence) has no split: the threshold
    fell below every frame, all of it was "speech", and training said "0 silence frames"
    of two seconds of silence."""
    assert otsu_threshold(np.full(50, -100.0)) >= -100.0  # nothing above it
    with pytest.raises(ValueError, match=r"^train_tokenizer: 0 speech frames for 7 speech"):
        train_tokenizer([(np.zeros(32000, np.float32), 16000, None)],
                        TokenizerConfig(n_units=8))


def test_near_ties_go_to_the_nearer_centroid_in_any_batch() -> None:
    """Two centroids whose distances to a frame differ by 9.5e-7 (squared): in float32,
    ``|c|^2 - 2 x.c`` of log-mel-sized features (~1600 here) is rounded to 1.2e-4, so the
    unit was whichever rounding the BLAS kernel gave (the demo's candor-like corpus has a
    frame the AVX-512 and AVX2 kernels gave different units). Each frame ``k`` gets its own
    pair of centroids, ``x + a e_i`` (unit 1 + 2k) and ``x + b e_j`` (unit 2 + 2k), exact
    in float32, with the nearer one alternating; the frames are assigned alone and among
    2000 others (another BLAS blocking)."""
    rng = np.random.default_rng(5)
    n_pairs, dim = 16, 64
    near, far = 1.0, 1.0 + 2.0**-21  # squared distances 1 and 1 + 2^-20 + 2^-42
    x = np.round(rng.uniform(-6.0, -4.0, (n_pairs, dim)) * 2**10) / 2**10  # [K, D], exact
    centroids = [np.full(dim, 100.0)]  # the silence unit: far from every frame
    expected = []
    for k in range(n_pairs):
        i, j = rng.choice(dim, 2, replace=False)
        a, b = (far, near) if k % 2 == 0 else (near, far)  # even k: the higher unit is nearer
        ca, cb = x[k].copy(), x[k].copy()
        ca[i] += a
        cb[j] += b
        centroids += [ca, cb]
        expected.append(2 + 2 * k if k % 2 == 0 else 1 + 2 * k)
    c = np.stack(centroids)  # [1 + 2K, D]
    assert np.array_equal(c.astype(np.float32).astype(np.float64), c)  # no rounding in float32
    n_units = len(c)
    tok = KMeansTokenizer(TokenizerConfig(n_units=n_units, n_mels=dim), c,
                          np.zeros((n_units, 1)), threshold_db=0.0)
    alone = tok.assign(x.astype(np.float32), np.ones(n_pairs, bool))
    others = rng.uniform(-8.0, 2.0, (2000, dim)).astype(np.float32)
    batch = np.concatenate([others[:1000], x.astype(np.float32), others[1000:]])
    among = tok.assign(batch, np.ones(len(batch), bool))[1000:1000 + n_pairs]
    assert alone.tolist() == expected
    assert among.tolist() == expected


@pytest.mark.parametrize("block", [7, 64, kmeans.ASSIGN_BLOCK_FRAMES])
def test_assign_in_blocks_gives_each_frame_its_nearest_centroid(block: int, monkeypatch) -> None:
    """assign compares ASSIGN_BLOCK_FRAMES frames at a time (its [T, K] float64 distances
    were 1.4 GB for an hour against 2000 units): blocks that split silence and speech runs
    anywhere give every frame the nearest centroid of its kind, as one whole matrix does."""
    rng = np.random.default_rng(2)
    n_units, n_sil, dim = 12, 3, 8
    c = rng.normal(0, 1, (n_units, dim)).astype(np.float32)
    feats = rng.normal(0, 1, (200, dim)).astype(np.float32)
    speech = rng.random(200) < 0.6
    tok = KMeansTokenizer(TokenizerConfig(n_units=n_units, n_silence_units=n_sil, n_mels=dim),
                          c, np.zeros((n_units, 1)), threshold_db=0.0)
    d = ((feats[:, None].astype(np.float64) - c[None].astype(np.float64)) ** 2).sum(-1)
    want = np.where(speech, n_sil + d[:, n_sil:].argmin(1), d[:, :n_sil].argmin(1))
    monkeypatch.setattr(kmeans, "ASSIGN_BLOCK_FRAMES", block)
    assert tok.assign(feats, speech).tolist() == want.tolist()
    assert tok.assign(feats[:0], speech[:0]).shape == (0,)


def test_a_hubert_context_for_mel_units_is_refused() -> None:
    """``context_s`` sets HuBERT's chunk context: a mel-kmeans tokenizer has none, and
    given one it would have been trained as if the setting did nothing."""
    wave = np.zeros(16000, dtype=np.float32)
    with pytest.raises(ValueError, match=r"^train_tokenizer: context_s: only read by "
                       r"hubert-kmeans, not mel-kmeans \(allowed: None with mel-kmeans\)$"):
        train_tokenizer([(wave, 16000, None)], TokenizerConfig(n_units=4), context_s=1.0)


def test_names_moved_out_of_kmeans_are_still_importable_from_it() -> None:
    """The voice activity and HuBERT-record helpers moved to their own modules; code that
    imported them from ``duplexsim.units.kmeans`` gets the same objects."""
    from duplexsim.units import energy_vad, hubert_record

    moved = {"fill_holes": energy_vad, "otsu_threshold": energy_vad, "frame_vad": energy_vad,
             "annotated_threshold": energy_vad, "HUBERT_WEIGHTS": hubert_record,
             "hubert_fingerprint": hubert_record}
    for name, module in moved.items():
        assert getattr(kmeans, name) is getattr(module, name) and name in kmeans.__all__
