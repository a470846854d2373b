"""Kernels: CTC loss (forward-backward in log space) and the greedy and beam decoders.

All three follow TF1's kernels (`ctc_loss_calculator.h`, `ctc_decoder_ops.cc`,
`ctc_beam_search.h`) in their input checks, error messages and edge cases:

* Labels come as a sparse int32 tensor; row b's values, in index order, are example b's labels.
  A label >= num_classes - 1 ends the sequence (a later smaller label is an error), an empty
  label sequence is an error, and a sequence longer than its input is an error -- or, with
  `ignore_longer_outputs_than_inputs`, an example with zero loss and gradient (as is an
  example of length 0).  An example no alignment can produce has loss +inf and gradient equal
  to the softmax (TF's "No valid path found").
* The forward-backward recursion runs frame by frame over the states of the extended label
  sequences l' = (blank, l1, blank, l2, ..., blank), all examples at once, in float64 and in
  log space on log-softmax probabilities (so no log of an underflowed probability, unlike
  TF1's kernel); results are rounded to the input dtype once.
* The beam search keeps TF's data structure -- a prefix tree whose beam entries carry
  (blank, label, total) log probabilities for the previous and the current frame -- and its
  candidate, eviction and ordering rules, so beam widths smaller than the number of prefixes
  prune exactly as TF1 does.

Like TF1's, these kernels run on the host (a frame-by-frame recursion over small arrays and a
beam search in Python): on every device type they read their inputs with `ctx.to_host` and move
their outputs to the device with `ctx.to_device`.
"""
from __future__ import annotations

import heapq
import itertools

import numpy as np

from ...framework import errors
from .sparse import indices_error

__all__ = ["KERNELS"]

_NEG_INF = -np.inf


# ----------------------------------------------------------------------------------------------
# CTCLoss
# ----------------------------------------------------------------------------------------------
def _labels_by_example(indices, values, batch: int) -> list[list[int]]:
    """The label sequences of a sparse [batch, max_len] int32 tensor (TF's checks)."""
    idx = np.asarray(indices, dtype=np.int64)
    vals = np.asarray(values)
    max_len = int(idx[:, 1].max()) + 1 if idx.shape[0] else 0
    msg = indices_error(idx, (batch, max_len))
    if msg:
        raise ValueError(f"label SparseTensor is not valid: {msg}")
    out: list[list[int]] = [[] for _ in range(batch)]
    for b, v in zip(idx[:, 0].tolist(), vals.tolist()):
        out[b].append(v)
    return out


def _label_prime(label: list[int], b: int, num_classes: int, collapse: bool) -> list[int]:
    """TF's PopulateLPrimes for one example: the labels before the first blank-or-above label
    (repeats merged with `collapse`), checked."""
    if not label:
        raise ValueError(f"Labels length is zero in batch {b}")
    seq, finished = [], False
    for i, v in enumerate(label):
        if i and collapse and v == label[i - 1]:
            continue
        if v >= num_classes - 1:
            finished = True
        elif finished:
            raise ValueError(f"Saw a non-null label (index >= num_classes - 1) following a null "
                             f"label, batch: {b} num_classes: {num_classes} labels: "
                             f"{','.join(map(str, label))} labels seen so far: "
                             f"{','.join(map(str, seq))}")
        else:
            seq.append(v)
    if any(v < 0 for v in seq):
        raise ValueError(f"All labels must be nonnegative integers, batch: {b} labels: "
                         f"{','.join(map(str, seq))}")
    return seq


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def ctc_forward_backward(logits: np.ndarray, lengths: np.ndarray, labels: list, blank: int,
                         merge: bool):
    """(negative log likelihoods [B], gradients w.r.t. the logits [T, B, C]) of B examples.

    `logits` [T, B, C] (float64; frames at or past an example's length are ignored),
    `lengths` [B] (each >= 1), `labels` the B label sequences.  Examples run side by side over
    the states u of their extended sequences l' (padded with blanks to the longest; padded
    states never reach the end).  alpha[t, b, u] is the log probability of the prefixes ending
    in state u at frame t (frame t emitted), beta[t, b, u] that of completing the labelling from
    state u after frame t.
    """
    T, B, C = logits.shape
    frames = np.arange(T)[:, None] < lengths[None, :]                 # [T, B]
    logp = _log_softmax(np.where(frames[..., None], logits, 0.0))
    n_states = np.array([2 * len(s) + 1 for s in labels])
    U = int(n_states.max())
    lprime = np.full((B, U), blank, dtype=np.int64)
    for b, seq in enumerate(labels):
        lprime[b, 1:2 * len(seq):2] = seq
    emit = np.where(frames[..., None], logp[:, np.arange(B)[:, None], lprime], 0.0)  # [T, B, U]
    stay = np.full((B, U), True) if merge else lprime == blank     # u -> u allowed
    skip = np.zeros((B, U), dtype=bool)                            # u - 2 -> u allowed
    skip[:, 2:] = (lprime[:, 2:] != blank) & ~(merge & (lprime[:, 2:] == lprime[:, :-2]))
    alpha = np.full((T, B, U), _NEG_INF)
    alpha[0, :, :2] = emit[0, :, :2]
    for t in range(1, T):
        prev = alpha[t - 1]
        a = np.where(stay, prev, _NEG_INF)
        a[:, 1:] = np.logaddexp(a[:, 1:], prev[:, :-1])
        a[:, 2:] = np.logaddexp(a[:, 2:], np.where(skip[:, 2:], prev[:, :-2], _NEG_INF))
        alpha[t] = a + emit[t]
    u = np.arange(U)[None, :]
    final = np.where((u == n_states[:, None] - 1) | (u == n_states[:, None] - 2), 0.0, _NEG_INF)
    beta = np.full((T, B, U), _NEG_INF)
    for t in range(T - 1, -1, -1):
        b_ = np.full((B, U), _NEG_INF)
        if t < T - 1:
            nxt = beta[t + 1] + emit[t + 1]
            b_ = np.where(stay, nxt, _NEG_INF)
            b_[:, :-1] = np.logaddexp(b_[:, :-1], nxt[:, 1:])
            b_[:, :-2] = np.logaddexp(b_[:, :-2], np.where(skip[:, 2:], nxt[:, 2:], _NEG_INF))
        beta[t] = np.where((lengths == t + 1)[:, None], final, b_)
    occ = np.where(frames[..., None] & (u < n_states[:, None])[None], alpha + beta, _NEG_INF)
    top = occ[0].max(axis=1)
    possible = top > _NEG_INF
    safe_top = np.where(possible, top, 0.0)
    total = np.exp(occ[0] - safe_top[:, None]).sum(axis=1)
    log_p = safe_top + np.log(np.where(possible, total, 1.0))
    post = np.exp(occ - np.where(possible, log_p, 0.0)[None, :, None])    # [T, B, U]
    onehot = (lprime[..., None] == np.arange(C)).astype(np.float64)       # [B, U, C]
    probs = np.exp(logp)
    grad = probs - np.matmul(post.transpose(1, 0, 2), onehot).transpose(1, 0, 2)
    grad = np.where(possible[None, :, None], grad, probs)  # no alignment: TF's softmax gradient
    return np.where(possible, -log_p, np.inf), np.where(frames[..., None], grad, 0.0)


def _check_seq_len(seq_len, batch: int, max_time: int, exc=ValueError) -> np.ndarray:
    s = np.asarray(seq_len)
    if s.ndim != 1:
        raise ValueError("sequence_length is not a vector")
    if s.shape[0] != batch:
        raise exc(f"len(sequence_length) != batch_size.  len(sequence_length):  {s.shape[0]} "
                  f"batch_size: {batch}")
    over = np.flatnonzero(s > max_time)
    if over.size:
        raise exc(f"sequence_length({int(over[0])}) <= {max_time}")
    return s


def _ctc_loss(node, ctx):
    collapse = bool(node.attr.get("preprocess_collapse_repeated", False))
    merge = bool(node.attr.get("ctc_merge_repeated", True))
    ignore_longer = bool(node.attr.get("ignore_longer_outputs_than_inputs", False))
    dt = node.out_dtypes[0].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def ctc_loss(*args):
        loss, grad = _ctc_loss_on_host(*(to_host(a) for a in args))
        return to_device(loss), to_device(grad)

    def _ctc_loss_on_host(inputs, labels_indices, labels_values, sequence_length):
        if np.ndim(inputs) != 3:
            raise ValueError("inputs is not a 3-Tensor")
        if np.ndim(labels_indices) != 2:
            raise ValueError("labels_indices is not a matrix")
        if np.ndim(labels_values) != 1:
            raise ValueError("labels_values is not a vector")
        max_time, batch, num_classes = inputs.shape
        seq_len = _check_seq_len(sequence_length, batch, max_time)
        if np.shape(labels_indices)[0] != np.shape(labels_values)[0]:
            raise ValueError(f"labels_indices and labels_values must contain the same number "
                             f"of rows, but saw shapes: {list(np.shape(labels_indices))} vs. "
                             f"{list(np.shape(labels_values))}")
        if batch == 0:
            raise ValueError("batch_size must not be 0")
        labels = _labels_by_example(labels_indices, labels_values, batch)
        neg = np.flatnonzero(seq_len < 0)
        if neg.size:
            raise ValueError(f"seq_len({int(neg[0])}) < 0")
        seqs = []
        for b in range(batch):
            seqs.append(_label_prime(labels[b], b, num_classes, collapse))
            if not ignore_longer and len(labels[b]) > seq_len[b]:
                raise ValueError(f"Not enough time for target transition sequence (required: "
                                 f"{len(labels[b])}, available: {int(seq_len[b])}){b}You can "
                                 "turn this error into a warning by using the flag "
                                 "ignore_longer_outputs_than_inputs")
        loss = np.zeros(batch, dtype=dt)
        grad = np.zeros(inputs.shape, dtype=dt)
        used = [b for b in range(batch) if seq_len[b] > 0
                and not (ignore_longer and len(labels[b]) > seq_len[b])]
        if used:
            n = int(seq_len[used].max())
            loss[used], grad[:n, used] = ctc_forward_backward(
                inputs[:n, used].astype(np.float64), seq_len[used], [seqs[b] for b in used],
                num_classes - 1, merge)
        return loss, grad
    return ctc_loss


# ----------------------------------------------------------------------------------------------
# decoders
# ----------------------------------------------------------------------------------------------
def _check_decoder_inputs(inputs, sequence_length) -> np.ndarray:
    if np.ndim(inputs) != 3:
        raise ValueError("inputs is not a 3-Tensor")
    if np.size(inputs) == 0:
        raise ValueError("inputs must not be empty")
    max_time, batch, _ = inputs.shape
    return _check_seq_len(sequence_length, batch, max_time,
                          exc=lambda m: errors.FailedPreconditionError(None, None, m))


def _sparse_outputs(seqs: list[list[int]]):
    """(indices [N, 2], values [N], shape [2]) of one decoded path per example."""
    n = sum(len(s) for s in seqs)
    indices = np.zeros((n, 2), dtype=np.int64)
    values = np.zeros(n, dtype=np.int64)
    k = 0
    for b, s in enumerate(seqs):
        indices[k:k + len(s), 0] = b
        indices[k:k + len(s), 1] = np.arange(len(s))
        values[k:k + len(s)] = s
        k += len(s)
    shape = np.array([len(seqs), max((len(s) for s in seqs), default=0)], dtype=np.int64)
    return indices, values, shape


def _ctc_greedy_decoder(node, ctx):
    merge = bool(node.attr.get("merge_repeated", True))
    blank_attr = int(node.attr.get("blank_index", -1))
    dt = node.out_dtypes[3].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def ctc_greedy_decoder(inputs, sequence_length):
        out = _greedy_on_host(to_host(inputs), to_host(sequence_length))
        return tuple(to_device(v) for v in out)

    def _greedy_on_host(inputs, sequence_length):
        seq_len = _check_decoder_inputs(inputs, sequence_length)
        _, batch, num_classes = inputs.shape
        blank = blank_attr + num_classes if blank_attr < 0 else blank_attr
        if not 0 <= blank < num_classes:
            raise ValueError(f"blank_index expected to be between {-num_classes} and "
                             f"{num_classes - 1} but was {blank_attr}")
        best = np.argmax(inputs, axis=2)     # the first maximum, as TF's RowMax
        top = np.max(inputs, axis=2)
        seqs, log_prob = [], np.zeros((batch, 1), dtype=dt)
        for b in range(batch):
            n = max(int(seq_len[b]), 0)
            cls = best[:n, b]
            keep = cls != blank
            if merge and n:
                keep[1:] &= cls[1:] != cls[:-1]
            seqs.append(cls[keep].tolist())
            log_prob[b, 0] = -np.sum(top[:n, b], dtype=np.float64)
        return (*_sparse_outputs(seqs), log_prob)
    return ctc_greedy_decoder


class _Entry:
    """A node of TF's beam-search prefix tree: the prefix ending in `label` below `parent`.

    `old_*` and `new_*` are the log probabilities at the previous and the current frame of the
    prefix with the last frame a blank (`b`), its last label (`l`), and both (`t`); an entry is
    in the beam ("active") while `new_t` > -inf.
    """

    __slots__ = ("parent", "label", "children", "old_b", "old_l", "old_t", "new_b", "new_l",
                 "new_t")

    def __init__(self, parent, label: int):
        self.parent = parent
        self.label = label
        self.children: dict = {}
        self.old_b = self.old_l = self.old_t = _NEG_INF
        self.new_b = self.new_l = self.new_t = _NEG_INF

    def child(self, label: int) -> _Entry:
        c = self.children.get(label)
        if c is None:
            c = self.children[label] = _Entry(self, label)
        return c

    def labels(self, merge_repeated: bool) -> list[int]:
        out, prev, e = [], -1, self
        while e.parent is not None:
            if not merge_repeated or e.label != prev:
                out.append(e.label)
            prev = e.label
            e = e.parent
        return out[::-1]


class _Beam:
    """The beam: at most `width` entries, the lowest `new_t` evicted first (TF's TopN)."""

    def __init__(self, width: int):
        self.width = width
        self.heap: list = []  # (new_t, sequence number, entry); an entry's new_t is fixed here
        self._seq = itertools.count()

    def __len__(self):
        return len(self.heap)

    def push(self, e: _Entry) -> None:
        heapq.heappush(self.heap, (e.new_t, next(self._seq), e))

    def bottom(self) -> float:
        return self.heap[0][0]

    def evict_bottom(self) -> None:
        e = heapq.heappop(self.heap)[2]
        e.new_b = e.new_l = e.new_t = _NEG_INF

    def extract(self) -> list[_Entry]:
        """All entries, best first; the beam is left empty."""
        out = [e for _, _, e in sorted(self.heap, key=lambda x: (-x[0], x[1]))]
        self.heap = []
        return out

    def candidate(self, total: float) -> bool:
        return total > _NEG_INF and (len(self.heap) < self.width or total > self.heap[0][0])


def _beam_search_one(frames: np.ndarray, width: int, top_paths: int, merge: bool):
    """TF's CTCBeamSearchDecoder on the [T, C] logits of one example: (paths, log probs)."""
    blank = frames.shape[1] - 1
    root = _Entry(None, -1)
    root.new_t = root.new_b = 0.0
    beam = _Beam(width)
    beam.push(root)
    labels = np.arange(blank)
    for x in _log_softmax(frames):
        branches = beam.extract()
        for e in branches:
            e.old_b, e.old_l, e.old_t = e.new_b, e.new_l, e.new_t
        for e in branches:
            if e.parent is not None:
                p = e.parent
                if p.new_t > _NEG_INF:
                    prev = p.old_b if e.label == p.label else p.old_t
                    e.new_l = np.logaddexp(e.new_l, prev)
                e.new_l += x[e.label]
            e.new_b = e.old_t + x[blank]
            e.new_t = np.logaddexp(e.new_b, e.new_l)
            beam.push(e)
        for e in branches:
            if not beam.candidate(e.old_t):
                continue
            scores = x[:blank] + np.where(labels == e.label, e.old_b, e.old_t)
            for k in np.flatnonzero(scores > _NEG_INF).tolist():
                c = e.child(k)
                if c.new_t > _NEG_INF:       # already in the beam
                    continue
                c.new_b = _NEG_INF
                c.new_l = c.new_t = float(scores[k])
                if beam.candidate(c.new_t):
                    if len(beam) == width:
                        beam.evict_bottom()
                    beam.push(c)
                else:
                    c.old_b = c.old_l = c.old_t = _NEG_INF
                    c.new_b = c.new_l = c.new_t = _NEG_INF
    if top_paths > width:
        raise ValueError("requested more paths than the beam width.")
    if top_paths > len(beam):
        raise ValueError("Less leaves in the beam search than requested.")
    best = beam.extract()[:top_paths]
    return [e.labels(merge) for e in best], [e.new_t for e in best]


def _ctc_beam_search_decoder(node, ctx):
    width = int(node.attr["beam_width"])
    top_paths = int(node.attr["top_paths"])
    merge = bool(node.attr.get("merge_repeated", True))
    dt = node.out_dtypes[-1].np
    to_host, to_device = ctx.to_host, ctx.to_device

    def ctc_beam_search_decoder(inputs, sequence_length):
        out = _beam_on_host(to_host(inputs), to_host(sequence_length))
        return tuple(to_device(v) for v in out)

    def _beam_on_host(inputs, sequence_length):
        seq_len = _check_decoder_inputs(inputs, sequence_length)
        batch = inputs.shape[1]
        paths = [[] for _ in range(top_paths)]
        log_prob = np.zeros((batch, top_paths), dtype=dt)
        for b in range(batch):
            n = max(int(seq_len[b]), 0)
            best, scores = _beam_search_one(inputs[:n, b, :].astype(np.float64), width,
                                            top_paths, merge)
            for p in range(top_paths):
                paths[p].append(best[p])
            log_prob[b] = scores
        outs = [_sparse_outputs(paths[p]) for p in range(top_paths)]
        return (*[o[0] for o in outs], *[o[1] for o in outs], *[o[2] for o in outs], log_prob)
    return ctc_beam_search_decoder


KERNELS = {
    "CTCLoss": _ctc_loss,
    "CTCGreedyDecoder": _ctc_greedy_decoder,
    "CTCBeamSearchDecoder": _ctc_beam_search_decoder,
}
