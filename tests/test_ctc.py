"""CTC: tw.nn.ctc_loss against a brute-force sum over every alignment (all merge/collapse
options, repeated labels, varying sequence and label lengths), Graves' reference values (TF1's
test data), its gradient against float64 central differences, TF1's edge cases and errors;
ctc_greedy_decoder against a hand computation; ctc_beam_search_decoder against exhaustive
enumeration of labellings and TF1's reference values."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.test import check_gradients


def run(fetches, feed=None):
    with tw.Session() as s:
        return s.run(fetches, feed)


def log_softmax(x):
    z = x - x.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def collapse(path, blank, merge=True):
    """A path's labelling: repeats merged (when `merge`), then blanks removed."""
    out, prev = [], None
    for c in path:
        if c != blank and not (merge and c == prev):
            out.append(c)
        prev = c
    return tuple(out)


def labelling_log_probs(logits, merge=True):
    """{labelling: log sum of its paths' probabilities} for logits [T, C], by enumeration."""
    T, C = logits.shape
    lp = log_softmax(logits.astype(np.float64))
    sums: dict = {}
    for path in itertools.product(range(C), repeat=T):
        key = collapse(path, C - 1, merge)
        sums.setdefault(key, []).append(sum(lp[t, c] for t, c in enumerate(path)))
    return {k: float(np.logaddexp.reduce(v)) for k, v in sums.items()}


def brute_force_nll(logits, label, merge=True):
    return -labelling_log_probs(logits, merge).get(tuple(label), -np.inf)


def sparse_labels(seqs):
    ix = [[b, i] for b, s in enumerate(seqs) for i in range(len(s))]
    vals = [v for s in seqs for v in s]
    width = max(len(s) for s in seqs)
    return tw.SparseTensor(np.array(ix, np.int64).reshape(-1, 2), tw.constant(vals, tw.int32),
                           [len(seqs), width])


# ----------------------------------------------------------------------------------------------
# ctc_loss: values
# ----------------------------------------------------------------------------------------------
CASES = [  # (T, classes incl. blank, labels per example, sequence lengths)
    (4, 3, [[0, 1], [1]], [4, 3]),
    (5, 4, [[1, 1], [2, 0, 2]], [5, 4]),          # a repeated label needs a blank between
    (5, 3, [[0, 0, 0], [1, 0]], [5, 2]),
    (3, 4, [[2], [0, 2, 1]], [1, 3]),
    (5, 2, [[0, 0], [0]], [3, 5]),
]


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("merge", [True, False])
def test_ctc_loss_equals_the_sum_over_all_alignments(case, merge):
    T, C, labels, seq_len = CASES[case]
    rng = np.random.RandomState(case)
    x = rng.randn(T, len(labels), C) * 1.5
    loss = tw.nn.ctc_loss(sparse_labels(labels), tw.constant(x), seq_len,
                          ctc_merge_repeated=merge)
    assert loss.op.type == "CTCLoss" and loss.op.name == "CTCLoss"
    assert loss.dtype is tw.float64 and loss.shape.as_list() == [len(labels)]
    want = [brute_force_nll(x[:n, b], labels[b], merge) for b, n in enumerate(seq_len)]
    np.testing.assert_allclose(run(loss), want, rtol=1e-10)


def test_preprocess_collapse_repeated_merges_labels_first():
    rng = np.random.RandomState(11)
    x = rng.randn(4, 2, 4)
    labels = [[0, 0, 1], [2, 2]]
    loss = tw.nn.ctc_loss(sparse_labels(labels), tw.constant(x), [4, 3],
                          preprocess_collapse_repeated=True)
    want = [brute_force_nll(x[:4, 0], [0, 1]), brute_force_nll(x[:3, 1], [2])]
    np.testing.assert_allclose(run(loss), want, rtol=1e-10)


def test_impossible_alignment_gives_inf_loss_and_softmax_gradient():
    x = np.random.RandomState(2).randn(2, 2, 3)      # "0 0" needs three frames
    inp = tw.constant(x)
    loss = tw.nn.ctc_loss(sparse_labels([[0, 0], [1]]), inp, [2, 2])
    grad = tw.gradients(loss, inp)[0]
    lv, gv = run([loss, grad])
    assert np.isinf(lv[0]) and lv[0] > 0
    np.testing.assert_allclose(lv[1], brute_force_nll(x[:, 1], [1]), rtol=1e-10)
    np.testing.assert_allclose(gv[:, 0], np.exp(log_softmax(x[:, 0])), rtol=1e-12)
    assert np.isfinite(gv[:, 1]).all()


def test_float32_logits_large_values_stay_finite():
    x = np.zeros((6, 1, 3), np.float32)
    x[:, 0, 2] = 200.0  # the blank dominates: softmax of the labels underflows in float32
    loss = tw.nn.ctc_loss(sparse_labels([[0]]), tw.constant(x), [6])
    v = run(loss)
    assert v.dtype == np.float32 and np.isfinite(v).all()
    np.testing.assert_allclose(v[0], 200.0 - np.log(6.0), rtol=1e-5)


def test_time_major_false_and_logits_argument():
    rng = np.random.RandomState(4)
    x = rng.randn(3, 2, 3)
    labels = sparse_labels([[0, 1], [1]])
    a = tw.nn.ctc_loss(labels, tw.constant(x), [3, 3])
    b = tw.nn.ctc_loss(labels, None, [3, 3], time_major=False,
                       logits=tw.constant(x.transpose(1, 0, 2)))
    va, vb = run([a, b])
    np.testing.assert_array_equal(va, vb)


# TF1's test data (from Alex Graves' implementation): log-probability inputs, 2 examples.
GRAVES_P0 = [[0.633766, 0.221185, 0.0917319, 0.0129757, 0.0142857, 0.0260553],
             [0.111121, 0.588392, 0.278779, 0.0055756, 0.00569609, 0.010436],
             [0.0357786, 0.633813, 0.321418, 0.00249248, 0.00272882, 0.0037688],
             [0.0663296, 0.643849, 0.280111, 0.00283995, 0.0035545, 0.00331533],
             [0.458235, 0.396634, 0.123377, 0.00648837, 0.00903441, 0.00623107]]
GRAVES_P1 = [[0.30176, 0.28562, 0.0831517, 0.0862751, 0.0816851, 0.161508],
             [0.24082, 0.397533, 0.0557226, 0.0546814, 0.0557528, 0.19549],
             [0.230246, 0.450868, 0.0389607, 0.038309, 0.0391602, 0.202456],
             [0.280884, 0.429522, 0.0326593, 0.0339046, 0.0326856, 0.190345],
             [0.423286, 0.315517, 0.0338439, 0.0393744, 0.0339315, 0.154046]]
GRAVES_G0 = [[-0.366234, 0.221185, 0.0917319, 0.0129757, 0.0142857, 0.0260553],
             [0.111121, -0.411608, 0.278779, 0.0055756, 0.00569609, 0.010436],
             [0.0357786, 0.633813, -0.678582, 0.00249248, 0.00272882, 0.0037688],
             [0.0663296, -0.356151, 0.280111, 0.00283995, 0.0035545, 0.00331533],
             [-0.541765, 0.396634, 0.123377, 0.00648837, 0.00903441, 0.00623107]]
GRAVES_G1 = [[-0.69824, 0.28562, 0.0831517, 0.0862751, 0.0816851, 0.161508],
             [0.24082, -0.602467, 0.0557226, 0.0546814, 0.0557528, 0.19549],
             [0.230246, 0.450868, 0.0389607, 0.038309, 0.0391602, -0.797544],
             [0.280884, -0.570478, 0.0326593, 0.0339046, 0.0326856, 0.190345],
             [-0.576714, 0.315517, 0.0338439, 0.0393744, 0.0339315, 0.154046]]


def test_ctc_loss_and_gradient_match_graves_reference():
    x = np.log(np.stack([GRAVES_P0, GRAVES_P1], 1)).astype(np.float32)
    x = np.concatenate([x, np.full((2, 2, 6), np.nan, np.float32)])  # frames past seq_len
    inp = tw.constant(x)
    loss = tw.nn.ctc_loss(sparse_labels([[0, 1, 2, 1, 0], [0, 1, 1, 0]]), inp, [5, 5])
    grad = tw.gradients(loss, inp)[0]
    lv, gv = run([loss, grad])
    np.testing.assert_allclose(lv, [3.34211, 5.42262], atol=1e-5)
    want = np.concatenate([np.stack([GRAVES_G0, GRAVES_G1], 1), np.zeros((2, 2, 6))])
    np.testing.assert_allclose(gv, want, atol=1e-5)


# ----------------------------------------------------------------------------------------------
# ctc_loss: gradient
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("merge", [True, False])
def test_ctc_loss_gradient_against_central_differences(merge):
    labels_py = [[1, 1, 0], [2]]
    x = np.random.RandomState(5).randn(5, 2, 4)

    def loss(logits):
        return tw.nn.ctc_loss(sparse_labels(labels_py), logits, [5, 3], ctc_merge_repeated=merge)
    check_gradients(loss, [x], name=f"ctc_loss(merge={merge})", delta=1e-5, rtol=1e-6,
                    atol=1e-8)


def test_second_derivative_is_disabled():
    inp = tw.constant(np.random.RandomState(0).randn(2, 2, 3))
    loss = tw.nn.ctc_loss(sparse_labels([[0, 1], [1, 0]]), inp, [2, 2])
    g = tw.gradients(loss, inp)[0]
    with pytest.raises(LookupError, match="explicitly disabled"):
        tw.gradients(tw.reduce_sum(g * g), inp)


# ----------------------------------------------------------------------------------------------
# ctc_loss: TF1's edge cases and errors
# ----------------------------------------------------------------------------------------------
def test_labels_longer_than_input():
    x = tw.constant(np.random.RandomState(1).randn(3, 2, 3))
    labels = sparse_labels([[0, 1, 0, 1], [1]])
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match=r"Not enough time for target transition sequence \(required: 4, "
                             r"available: 3\)"):
        run(tw.nn.ctc_loss(labels, x, [3, 3]))
    loss = tw.nn.ctc_loss(labels, x, [3, 3], ignore_longer_outputs_than_inputs=True)
    grad = tw.gradients(loss, x)[0]
    lv, gv = run([loss, grad])
    assert lv[0] == 0 and not gv[:, 0].any() and lv[1] > 0 and gv[:, 1].any()


def test_ctc_loss_errors():
    x = tw.constant(np.zeros((3, 2, 3)))
    with pytest.raises(TypeError, match="SparseTensor"):
        tw.nn.ctc_loss([[0], [1]], x, [3, 3])
    with pytest.raises(TypeError, match="labels_values"):
        tw.nn.ctc_loss(tw.SparseTensor([[0, 0], [1, 0]], tw.constant([0, 1], tw.int64), [2, 1]),
                       x, [3, 3])
    with pytest.raises(ValueError, match="rank 3"):
        tw.nn.ctc_loss(sparse_labels([[0], [1]]), tw.constant(np.zeros((3, 3))), [3, 3])
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        tw.nn.ctc_loss(sparse_labels([[0], [1]]), x, [3, 3, 3])
    with pytest.raises(tw.errors.InvalidArgumentError, match="Labels length is zero in batch 1"):
        run(tw.nn.ctc_loss(tw.SparseTensor([[0, 0]], tw.constant([1], tw.int32), [2, 1]), x,
                           [3, 3]))
    with pytest.raises(tw.errors.InvalidArgumentError, match=r"sequence_length\(1\) <= 3"):
        run(tw.nn.ctc_loss(sparse_labels([[0], [1]]), x, [3, 4]))
    with pytest.raises(tw.errors.InvalidArgumentError, match="label SparseTensor is not valid"):
        run(tw.nn.ctc_loss(tw.SparseTensor([[1, 0], [0, 0]], tw.constant([0, 1], tw.int32),
                                           [2, 1]), x, [3, 3]))
    with pytest.raises(tw.errors.InvalidArgumentError, match="non-null label"):
        run(tw.nn.ctc_loss(sparse_labels([[2, 0], [1]]), x, [3, 3]))


def test_ctc_loss_fed_through_sparse_placeholder():
    labels = tw.sparse_placeholder(tw.int32, name="labels")
    logits = tw.placeholder(tw.float64, [4, 2, 3])
    loss = tw.nn.ctc_loss(labels, logits, [4, 4])
    x = np.random.RandomState(9).randn(4, 2, 3)
    value = tw.SparseTensorValue([[0, 0], [0, 1], [1, 0]], [1, 0, 1], [2, 2])
    want = [brute_force_nll(x[:, 0], [1, 0]), brute_force_nll(x[:, 1], [1])]
    np.testing.assert_allclose(run(loss, {labels: value, logits: x}), want, rtol=1e-10)


# ----------------------------------------------------------------------------------------------
# greedy decoder
# ----------------------------------------------------------------------------------------------
def test_greedy_decoder_hand_computed():
    # frames' argmax: example 0: 0 2 2 1 (blank=3) ... example 1: 1 1 3 1 0
    p0 = [[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.6, 0.4], [0.0, 0.0, 0.6, 0.4],
          [0.0, 0.9, 0.1, 0.0], [0, 0, 0, 0], [0, 0, 0, 0]]
    p1 = [[0.1, 0.9, 0.0, 0.0], [0.0, 0.9, 0.1, 0.0], [0.0, 0.0, 0.1, 0.9],
          [0.0, 0.9, 0.1, 0.1], [0.9, 0.1, 0.0, 0.0], [0, 0, 0, 0]]
    x = np.stack([p0, p1], 1).astype(np.float32)
    (dec,), neg_sum = tw.nn.ctc_greedy_decoder(x, [4, 5])
    assert dec.indices.shape.as_list() == [None, 2] and neg_sum.shape.as_list() == [2, 1]
    v, ns = run([dec, neg_sum])
    np.testing.assert_array_equal(v.indices, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])
    np.testing.assert_array_equal(v.values, [0, 2, 1, 1, 1, 0])   # "1 1" merged, "1 _ 1" kept
    np.testing.assert_array_equal(v.dense_shape, [2, 3])
    np.testing.assert_allclose(ns[:, 0], [-(1.0 + 0.6 + 0.6 + 0.9), -(0.9 * 5)], rtol=1e-6)
    (raw,), _ = tw.nn.ctc_greedy_decoder(x, [4, 5], merge_repeated=False)
    np.testing.assert_array_equal(run(raw).values, [0, 2, 2, 1, 1, 1, 1, 0])
    (b0,), _ = tw.nn.ctc_greedy_decoder(x, [4, 5], blank_index=0)
    np.testing.assert_array_equal(run(b0).values, [2, 1, 1, 3, 1])


def test_decoder_input_errors():
    x = np.zeros((2, 1, 3), np.float32)
    with pytest.raises(tw.errors.FailedPreconditionError, match=r"sequence_length\(0\) <= 2"):
        run(tw.nn.ctc_greedy_decoder(x, [3])[1])
    with pytest.raises(ValueError, match="rank 3"):
        tw.nn.ctc_beam_search_decoder(np.zeros((2, 3), np.float32), [2])
    with pytest.raises(ValueError, match="less than minimum 1"):
        tw.nn.ctc_beam_search_decoder(x, [2], beam_width=0)


# ----------------------------------------------------------------------------------------------
# beam search decoder
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_beam_search_finds_the_most_probable_labellings(seed):
    rng = np.random.RandomState(seed)
    T, C, top = 4, 3 + seed % 2, 3
    x = rng.randn(T, 2, C) * 2.0
    seq_len = [T, T - seed % 2]
    decoded, log_probs = tw.nn.ctc_beam_search_decoder(x, seq_len, beam_width=100,
                                                       top_paths=top, merge_repeated=False)
    assert len(decoded) == top and log_probs.shape.as_list() == [2, top]
    vals, lp = run([decoded, log_probs])
    for b in range(2):
        ranked = sorted(labelling_log_probs(x[:seq_len[b], b]).items(), key=lambda kv: -kv[1])
        for p in range(top):
            got = tuple(vals[p].values[vals[p].indices[:, 0] == b].tolist())
            assert got == ranked[p][0], (b, p, got, ranked[:top])
            np.testing.assert_allclose(lp[b, p], ranked[p][1], rtol=1e-9)


def test_beam_search_merge_repeated_merges_equal_neighbours_of_the_result():
    a, blank = 0, 2
    x = np.full((3, 1, 3), -5.0)
    for t, c in enumerate([a, blank, a]):  # the prefix "a a" (through a blank) dominates
        x[t, 0, c] = 5.0
    (merged,), _ = tw.nn.ctc_beam_search_decoder(x, [3], beam_width=10)
    (kept,), lp = tw.nn.ctc_beam_search_decoder(x, [3], beam_width=10, merge_repeated=False)
    m, k, lpv = run([merged, kept, lp])
    assert m.values.tolist() == [a] and k.values.tolist() == [a, a]
    np.testing.assert_allclose(lpv[0, 0], labelling_log_probs(x[:, 0])[(a, a)], rtol=1e-9)


def test_beam_search_matches_tf1_reference_with_a_narrow_beam():
    # TF1's test: probabilities plus an offset used as logits, beam_width 2, two paths.
    p = np.array([[0.30999, 0.309938, 0.0679938, 0.0673362, 0.0708352, 0.173908],
                  [0.215136, 0.439699, 0.0370931, 0.0393967, 0.0381581, 0.230517],
                  [0.199959, 0.489485, 0.0233221, 0.0251417, 0.0233289, 0.238763],
                  [0.279611, 0.452966, 0.0204795, 0.0209126, 0.0194803, 0.20655],
                  [0.51286, 0.288951, 0.0243026, 0.0220788, 0.0219297, 0.129878]],
                 np.float32) + 2.0
    x = np.concatenate([p, np.zeros((2, 6), np.float32)])[:, None, :]
    decoded, log_probs = tw.nn.ctc_beam_search_decoder(x, [5], beam_width=2, top_paths=2)
    d0, d1, lp = run([decoded[0], decoded[1], log_probs])
    assert d0.values.tolist() == [1, 0] and d0.dense_shape.tolist() == [1, 2]
    assert d1.values.tolist() == [1] and d1.dense_shape.tolist() == [1, 1]
    np.testing.assert_allclose(lp, [[-5.811451, -6.63339]], atol=1e-5)
    too_many = tw.nn.ctc_beam_search_decoder(x, [5], beam_width=2, top_paths=3)[1]
    with pytest.raises(tw.errors.InvalidArgumentError,
                       match="requested more paths than the beam width"):
        run(too_many)
