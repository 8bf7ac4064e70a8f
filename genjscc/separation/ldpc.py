r"""A practical link: 5G NR LDPC + QAM (Sionna) through genjscc's own channels.

Chain per image, for one MCS (modulation order ``m`` bits/symbol, code rate ``r``)::

    file bytes ─► [length field | file | zero fill] ─► scramble ─► 5G NR LDPC (rate-matched,
    interleaved) ─► BPSK / QPSK / 16-QAM / 64-QAM (unit average power) ─► channel
    (AWGN, block / fast Rayleigh, Rician, OFDM) ─► equalise with CSI ─► APP soft demapping ─►
    BP decoding (20 flooding iterations) ─► descramble ─► file

* **Budget**: the ``k`` complex channel uses of an image are split into ``C`` equal
  codewords of ``s = floor(k / C)`` symbols, ``C`` the fewest that keep the information
  block within 5G's 8448 bits; each carries ``K = floor(s m r)`` information bits. The
  payload is a length field of ``ceil(log2(budget + 1))`` bits followed by the file and
  zero fill, so every image occupies the same ``C s`` channel uses and the per-image power
  constraint holds on average (QAM points have unit mean power). An MCS with ``K < 12``
  (5G's minimum) carries nothing.
* **Receiver**: the channel's :meth:`~genjscc.channel.Channel.receive_soft` hands the
  demapper unbiased symbol estimates and their noise variance per symbol. With a flat fade
  ``h`` that is ``y / h = x + w / h`` (ZF; the bias-removed LMMSE estimate is the same) with
  ``sigma^2 / |h|^2`` (``sigma^2 = P / 10^(SNR/10)``); over OFDM it is ``Y / H^`` per resource
  element with ``(sigma^2 + e P) / |H^|^2``, ``e`` the channel estimate's error variance. The
  LDPC link needs a coherent receiver: ``csi="none"`` and channels that state no variance are refused.
* **Errors**: an image arrives only if every information bit of every codeword is right
  (a genie check standing in for the CRC of a real system); otherwise it is lost.
* **MCS**: rates 1/3, 1/2, 2/3 with BPSK, QPSK, 16-QAM, 64-QAM (:data:`MCS_TABLE`).
  ``mcs="best"`` offers all twelve and the scheme keeps the one with the best realised
  mean PSNR at each SNR (every MCS sees the same fading and noise seed): an oracle choice,
  as in the literature's "best MCS per SNR" curves.
* **Shortcuts** (decoding is the cost: ``benchmarks/README.md``, ``separation_link.py``):
  (1) converse pruning: a codeword whose rate ``m r`` exceeds the capacity of the image's
  realised channel as the receiver sees it, ``mean_j log2(1 + (P / v_j) 10^(margin/10))`` with
  ``v_j`` the symbol's noise variance (``P / v_j = |h_j|^2 S`` with perfect CSI) and a
  ``prune_margin_db`` = 1 dB head-room, is counted as failed without decoding (with perfect CSI
  no code achieves that; with estimated CSI it is the rate the mismatched receiver's noise
  allows; the head-room covers lucky noise draws at these block lengths; both tested);
  ``prune_margin_db=None`` decodes everything. (2) :attr:`LDPCLink.stop_when_all_arrive`:
  options are tried in order of decreasing budget, and once an MCS delivers every file it
  carried, lower-rate MCSs (smaller files, same or fewer images) are skipped (the scheme's
  per-batch choice; its per-image choice, ``select="image"``, skips by a bound instead, see
  :mod:`genjscc.schemes.separation`). (3) ``decode``: :meth:`LDPCLink.deliver` decodes only the
  images it is asked to (every image still goes through the channel, so the others' noise
  does not change), and sends nothing through the channel when none is asked for.
  (4) First failure stops an image (exact): an image is lost as soon as one of its codewords
  fails, so its codewords are decoded in waves of 1, 1, 2, 4, 8, ... per image and an image
  leaves after the wave where one failed; a lost image at native size costs one or two
  codewords' 20 iterations instead of all of them (``first_failure_stops=False`` decodes every
  codeword; both give the same outcome, tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import torch
from torch import Tensor

from genjscc.channel import Channel
from genjscc.separation.link import Link, LinkOption

__all__ = ["MCS", "MCS_TABLE", "LDPCLink", "parse_mcs", "codeword_layout"]

MAX_INFO_BITS = 8448  # 5G NR base graph 1 maximum information block
MIN_INFO_BITS = 12  # smallest block Sionna's 5G encoder accepts
BG2_MAX_INFO_BITS = 3824  # above this (at rate > 1/4) 5G uses base graph 1, whose lowest rate is 1/3
NUM_ITER = 20
_MODULATIONS = {1: "bpsk", 2: "qpsk", 4: "16qam", 6: "64qam"}


@dataclass(frozen=True)
class MCS:
    bits_per_symbol: int  # 1 (BPSK), 2 (QPSK), 4 (16-QAM), 6 (64-QAM)
    code_rate: Fraction  # LDPC rate K/N

    @property
    def name(self) -> str:
        return f"{_MODULATIONS[self.bits_per_symbol]}-r{self.code_rate}"

    @property
    def rate(self) -> float:
        """Information bits per channel use."""
        return self.bits_per_symbol * float(self.code_rate)


MCS_TABLE: tuple[MCS, ...] = tuple(
    MCS(m, Fraction(r)) for m in (1, 2, 4, 6) for r in ("1/3", "1/2", "2/3")
)


def parse_mcs(text: str) -> MCS:
    """``"16qam-r1/2"`` (also ``16qam-1/2``) -> :class:`MCS`."""
    key = text.lower().strip().replace("-r", "-")
    for mcs in MCS_TABLE:
        if mcs.name.replace("-r", "-") == key:
            return mcs
    raise ValueError(f"unknown MCS {text!r}; choose 'best' or one of {', '.join(m.name for m in MCS_TABLE)}")


def codeword_layout(k: int, mcs: MCS) -> tuple[int, int, int]:
    """``(C, s, K)``: codewords per image, symbols per codeword, information bits per codeword.

    ``K = 0`` when the MCS carries nothing in ``k`` channel uses. A codeword long enough for 5G's base
    graph 1 (``K > 3824``) must have rate ``K / (s m) >= 1/3`` (below it 5G repeats bits, which
    Sionna's encoder refuses); where flooring ``K`` puts a rate-1/3 MCS just below, the codeword
    drops the one or two symbols that make ``s m`` a multiple of 3 (native-size images; the
    short codewords of small images never get there, so their layout is unchanged).
    """
    total_info = math.floor(k * mcs.bits_per_symbol * mcs.code_rate)
    count = max(1, math.ceil(total_info / MAX_INFO_BITS))
    symbols = k // count
    info = math.floor(symbols * mcs.bits_per_symbol * mcs.code_rate)
    while info > BG2_MAX_INFO_BITS and 3 * info < symbols * mcs.bits_per_symbol:
        symbols -= 1
        info = math.floor(symbols * mcs.bits_per_symbol * mcs.code_rate)
    if info < MIN_INFO_BITS:
        return count, symbols, 0
    return count, symbols, info


def _length_bits(budget_bytes: int) -> int:
    return max(1, math.ceil(math.log2(budget_bytes + 1)))


def budget_bytes(k: int, mcs: MCS) -> int:
    """Largest file (bytes) one image's ``k`` channel uses carry with ``mcs``, length field included."""
    count, _, info = codeword_layout(k, mcs)
    payload = count * info
    size = max(0, payload // 8)
    while size > 0 and 8 * size + _length_bits(size) > payload:
        size -= 1
    return size


class LDPCLink(Link):
    """5G NR LDPC + QAM over genjscc channels (see module docstring).

    mcs: ``"best"`` (all of :data:`MCS_TABLE`) or one MCS name such as ``"16qam-r1/2"``.
    """

    name = "ldpc"
    stop_when_all_arrive = True  # the scheme skips lower-budget options once one delivers every file

    def __init__(self, mcs: str = "best", num_iter: int = NUM_ITER, prune_margin_db: float | None = 1.0,
                 first_failure_stops: bool = True):
        self.mcs = list(MCS_TABLE) if mcs == "best" else [parse_mcs(mcs)]
        self.mcs_spec = mcs
        self.num_iter = num_iter
        self.prune_margin_db = prune_margin_db
        self.first_failure_stops = first_failure_stops
        self._blocks: dict[tuple, tuple] = {}
        # decoding work done so far (benchmarks read it): codewords entering BP, codewords x BP iterations
        self.work = {"codewords": 0, "codeword_iterations": 0}

    def options(self, k, channel, snr_db):
        options = [LinkOption(m.name, budget_bytes(k, m), m.rate, None) for m in self.mcs]
        return sorted(options, key=lambda o: (-o.budget_bytes, -o.rate))

    def deliver(self, option, files, k, channel, snr_db, *, generator=None, decode=None):
        """``[B]`` bool, which files arrive; ``decode [B]`` bool (default: every file): the images to
        decode, the others count as not arrived (every image goes through the channel all the same)."""
        mcs = parse_mcs(option.label)
        batch = len(files)
        sent = torch.tensor([f is not None for f in files], dtype=torch.bool)
        if decode is not None:
            sent = sent & decode.cpu().bool()
        count, symbols, info = codeword_layout(k, mcs)
        if info == 0 or not sent.any():
            return torch.zeros(batch, dtype=torch.bool)
        # every image goes through the channel (an empty payload where no file fitted), so image i's
        # fading and noise do not depend on which other images fitted or were pruned
        bits = torch.stack([self._payload(f or b"", count * info, option.budget_bytes) for f in files])
        return self._transmit(bits.view(batch, count, info), mcs, symbols, channel, snr_db, sent, generator)

    def beyond_capacity(self, mcs: MCS, snr: Tensor) -> Tensor:
        """``[B]`` bool: rate above ``mean_j log2(1 + snr_j 10^(margin/10))``, ``snr [B, n]`` linear per symbol."""
        head_room = 10.0 ** (self.prune_margin_db / 10.0)
        return torch.log2(1.0 + snr.double() * head_room).mean(dim=1) < mcs.rate

    # ------------------------------------------------------------------ bits

    @staticmethod
    def _payload(data: bytes, total_bits: int, budget: int) -> Tensor:
        """``[total_bits]`` float bits: length field, file, zero fill, then scrambled."""
        nbits = _length_bits(budget)
        if len(data) > budget:
            raise ValueError(f"file of {len(data)} bytes exceeds the MCS budget of {budget} bytes")
        length = np.array([(len(data) >> (nbits - 1 - j)) & 1 for j in range(nbits)], dtype=np.uint8)
        body = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        bits = np.zeros(total_bits, dtype=np.uint8)
        bits[:nbits] = length
        bits[nbits : nbits + body.size] = body
        return torch.from_numpy(bits ^ _scrambler(total_bits)).float()

    # ------------------------------------------------------------------ link

    def _blocks_for(self, info: int, coded: int, m: int):
        key = (info, coded, m)
        if key not in self._blocks:
            from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder
            from sionna.phy.mapping import Constellation, Demapper, Mapper

            encoder = LDPC5GEncoder(info, coded, num_bits_per_symbol=m, device="cpu")
            decoder = LDPC5GDecoder(encoder, num_iter=self.num_iter, hard_out=True, return_infobits=True,
                                    return_state=True, device="cpu")
            constellation = Constellation("pam" if m == 1 else "qam", m, device="cpu")
            mapper = Mapper(constellation=constellation, device="cpu")
            demapper = Demapper("app", constellation=constellation, device="cpu")
            self._blocks[key] = (encoder, decoder, mapper, demapper)
        return self._blocks[key]

    def _transmit(self, bits: Tensor, mcs: MCS, symbols: int, channel: Channel, snr_db: float,
                  decode: Tensor, generator) -> Tensor:
        """Send bits ``[B, C, K]``; decode the images where ``decode [B]`` (less those pruned);
        ``[B]`` bool: all bits right."""
        batch, count, info = bits.shape
        m = mcs.bits_per_symbol
        encoder, decoder, mapper, demapper = self._blocks_for(info, symbols * m, m)
        with torch.no_grad():
            codewords = encoder(bits)  # [B, C, s m]
            x = mapper(codewords).reshape(batch, count * symbols)  # [B, C s] complex, unit mean power
            power = channel.power
            received = channel.receive_soft((x * math.sqrt(power)).to(torch.complex64), snr_db, generator=generator)
            no = (received.noise_variance.cpu() / power).float()  # per complex symbol, unit-power constellation
            if self.prune_margin_db is not None:
                decode = decode & ~self.beyond_capacity(mcs, 1.0 / no.clamp_min(1e-12))
            ok = torch.zeros(batch, dtype=torch.bool)
            if not decode.any():
                return ok
            rows = decode.nonzero().flatten()  # demap and decode only these images
            y = (received.symbols.cpu() / math.sqrt(power)).reshape(batch, count, symbols)[rows].to(x.dtype)
            llr = demapper(y, no.reshape(batch, count, symbols)[rows])
            llr = llr.clamp(-50.0, 50.0)  # deep fades give huge LLRs; the decoder clips at 20 anyway
            ok[rows] = self._decode_images(decoder, llr, bits[rows])
        return ok

    def _decode_images(self, decoder, llr: Tensor, bits: Tensor) -> Tensor:
        """``llr [R, C, n]``, ``bits [R, C, K]`` -> ``[R]`` bool: every codeword of the image decoded right.

        With :attr:`first_failure_stops`, codewords go in waves of 1, 1, 2, 4, ... per image and an
        image leaves once one of its codewords failed (its outcome is then known)."""
        images, count, info = bits.shape
        if not self.first_failure_stops:
            decoded = self._decode(decoder, llr.reshape(images * count, -1), bits.reshape(images * count, info))
            return (decoded.view(images, count, info) == bits).flatten(1).all(dim=1)
        ok = torch.ones(images, dtype=torch.bool)
        start, wave = 0, 1
        while start < count and ok.any():
            alive = ok.nonzero().flatten()
            stop = min(count, start + wave)
            width = stop - start
            sent = bits[alive, start:stop].reshape(len(alive) * width, info)
            decoded = self._decode(decoder, llr[alive, start:stop].reshape(len(alive) * width, -1), sent)
            ok[alive] = (decoded == sent).view(len(alive), width * info).all(dim=1)
            start, wave = stop, (wave if start == 0 else 2 * wave)
        return ok

    def _decode(self, decoder, llr: Tensor, sent: Tensor) -> Tensor:
        """Flooding BP in rounds of 2, 3, 5, 10, ... iterations (``num_iter`` in all); a codeword
        leaves the batch once its information bits are right (genie early stopping, which a
        real receiver gets from its syndrome/CRC check). Returns ``[N, K]`` hard decisions."""
        out = torch.zeros_like(sent)
        active = torch.arange(llr.shape[0])
        state, done = None, 0
        self.work["codewords"] += llr.shape[0]
        for step in _rounds(self.num_iter):
            u_hat, state = decoder(llr[active], num_iter=step, msg_v2c=state)
            done += step
            self.work["codeword_iterations"] += len(active) * step
            out[active] = u_hat.to(out.dtype)
            still = (u_hat.to(sent.dtype) != sent[active]).any(dim=1)
            if not still.any() or done >= self.num_iter:
                break
            active, state = active[still], state[still]
        return out

    def describe(self):
        return f"ldpc(mcs={self.mcs_spec}, iter={self.num_iter})"


def _rounds(total: int) -> list[int]:
    """Iteration counts per round: 2, 3, 5, then 10s, summing to ``total``."""
    steps, done = [], 0
    for step in (2, 3, 5):
        if done + step > total:
            break
        steps.append(step)
        done += step
    while done < total:
        steps.append(min(10, total - done))
        done += steps[-1]
    return steps


_SCRAMBLER: dict[int, np.ndarray] = {}


def _scrambler(length: int) -> np.ndarray:
    """A fixed pseudo-random bit sequence (known to both ends) that whitens the file bits."""
    if length not in _SCRAMBLER:
        _SCRAMBLER[length] = np.random.default_rng(0x5EED).integers(0, 2, length, dtype=np.uint8)
    return _SCRAMBLER[length]
