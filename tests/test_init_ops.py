"""Initializers: TF1 defaults, configs, node names under `<var>/Initializer/`, and the numbers
(bounds, standard deviations from the fan formulas, orthogonality) on large samples."""
import math

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.ops import init_ops

TRUNC_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2]


def _init_value(init, shape, dtype=tw.float32):
    with tw.Session() as s:
        return s.run(init(shape, dtype=dtype))


def _var_value(*args, **kwargs):
    v = tw.get_variable(*args, **kwargs)
    with tw.Session() as s:
        s.run(v.initializer)
        return s.run(v)


# ----------------------------------------------------------------------------------------------
# names, namespaces, configs
# ----------------------------------------------------------------------------------------------
def test_tf1_names_and_namespace():
    assert tw.zeros_initializer is init_ops.Zeros
    assert tw.glorot_uniform_initializer is init_ops.GlorotUniform
    assert tw.initializers.zeros is tw.zeros_initializer
    assert tw.initializers.glorot_uniform is tw.glorot_uniform_initializer
    assert tw.initializers.variance_scaling is tw.variance_scaling_initializer
    assert tw.initializers.global_variables is tw.global_variables_initializer
    for name in ("ones", "constant", "random_normal", "random_uniform", "truncated_normal",
                 "orthogonal", "identity", "glorot_normal", "uniform_unit_scaling", "he_normal",
                 "he_uniform", "lecun_normal", "lecun_uniform", "local_variables", "variables"):
        assert callable(getattr(tw.initializers, name)), name
    for name in ("constant_initializer", "ones_initializer", "random_normal_initializer",
                 "random_uniform_initializer", "truncated_normal_initializer",
                 "uniform_unit_scaling_initializer", "variance_scaling_initializer",
                 "glorot_normal_initializer", "orthogonal_initializer"):
        assert issubclass(getattr(tw, name), init_ops.Initializer), name


@pytest.mark.parametrize("init, config", [
    (tw.zeros_initializer(), {"dtype": "float32"}),
    (tw.ones_initializer(tw.int32), {"dtype": "int32"}),
    (tw.constant_initializer([1, 2]), {"value": [1, 2], "dtype": "float32"}),
    (tw.random_uniform_initializer(), {"minval": 0, "maxval": None, "seed": None,
                                       "dtype": "float32"}),
    (tw.random_normal_initializer(seed=3), {"mean": 0.0, "stddev": 1.0, "seed": 3,
                                            "dtype": "float32"}),
    (tw.truncated_normal_initializer(1.0, 2.0), {"mean": 1.0, "stddev": 2.0, "seed": None,
                                                 "dtype": "float32"}),
    (tw.variance_scaling_initializer(), {"scale": 1.0, "mode": "fan_in",
                                         "distribution": "truncated_normal", "seed": None,
                                         "dtype": "float32"}),
    (tw.glorot_uniform_initializer(seed=1), {"seed": 1, "dtype": "float32"}),
    (tw.glorot_normal_initializer(), {"seed": None, "dtype": "float32"}),
    (tw.orthogonal_initializer(2.0), {"gain": 2.0, "seed": None, "dtype": "float32"}),
    (tw.initializers.identity(), {"gain": 1.0, "dtype": "float32"}),
    (tw.uniform_unit_scaling_initializer(), {"factor": 1.0, "seed": None, "dtype": "float32"}),
])
def test_get_config_round_trips(init, config):
    assert init.get_config() == config
    again = type(init).from_config(init.get_config())
    assert type(again) is type(init) and again.get_config() == config


def test_helper_functions_are_variance_scaling():
    cases = {tw.initializers.he_normal: (2.0, "fan_in", "truncated_normal"),
             tw.initializers.he_uniform: (2.0, "fan_in", "uniform"),
             tw.initializers.lecun_normal: (1.0, "fan_in", "truncated_normal"),
             tw.initializers.lecun_uniform: (1.0, "fan_in", "uniform")}
    for fn, (scale, mode, dist) in cases.items():
        init = fn(seed=4)
        assert isinstance(init, tw.variance_scaling_initializer)
        assert (init.scale, init.mode, init.distribution, init.seed) == (scale, mode, dist, 4)


def test_constructor_errors():
    for cls in (tw.random_normal_initializer, tw.truncated_normal_initializer,
                tw.variance_scaling_initializer, tw.glorot_uniform_initializer,
                tw.orthogonal_initializer, tw.uniform_unit_scaling_initializer):
        with pytest.raises(ValueError, match="Expected floating point type"):
            cls(dtype=tw.int32)
    with pytest.raises(ValueError, match="`scale` must be positive"):
        tw.variance_scaling_initializer(scale=0.0)
    with pytest.raises(ValueError, match="Invalid `mode` argument"):
        tw.variance_scaling_initializer(mode="fan")
    with pytest.raises(ValueError, match="Invalid `distribution` argument"):
        tw.variance_scaling_initializer(distribution="cauchy")
    with pytest.raises(TypeError, match="Invalid type for initial value"):
        tw.constant_initializer({"a": 1})
    with pytest.raises(ValueError, match="at least two-dimensional"):
        tw.orthogonal_initializer()([3])
    with pytest.raises(ValueError, match="only be used for 2D matrices"):
        tw.initializers.identity()([2, 2, 2])


def test_get_variable_default_initializer_nodes_match_tf1():
    tw.get_variable("w", [3, 4])
    names = [o.name for o in tw.get_default_graph().get_operations()]
    assert names == ["w/Initializer/random_uniform/shape", "w/Initializer/random_uniform/min",
                     "w/Initializer/random_uniform/max",
                     "w/Initializer/random_uniform/RandomUniform",
                     "w/Initializer/random_uniform/sub", "w/Initializer/random_uniform/mul",
                     "w/Initializer/random_uniform", "w", "w/Assign", "w/read"]


def test_initializer_nodes_under_a_variable_scope():
    with tw.variable_scope("layer"):
        tw.get_variable("b", [3], initializer=tw.truncated_normal_initializer(stddev=0.1))
    ops = tw.get_default_graph().get_operations()
    assert "layer/b/Initializer/truncated_normal/TruncatedNormal" in [o.name for o in ops]


# ----------------------------------------------------------------------------------------------
# values
# ----------------------------------------------------------------------------------------------
def test_shape_tensor_for_initializers_that_take_one():
    x = tw.placeholder(tw.float32, [None, 3])
    inits = [tw.zeros_initializer(), tw.ones_initializer(), tw.random_uniform_initializer(),
             tw.random_normal_initializer(), tw.truncated_normal_initializer()]
    outs = [init(tw.shape(x)) for init in inits]
    with tw.Session() as s:
        vals = s.run(outs, {x: np.zeros((4, 3))})
    assert [v.shape for v in vals] == [(4, 3)] * 5
    assert vals[0].sum() == 0 and vals[1].sum() == 12


def test_zeros_and_ones():
    z = _init_value(tw.zeros_initializer(), [2, 3])
    o = _init_value(tw.ones_initializer(), [4], dtype=tw.int64)
    np.testing.assert_array_equal(z, np.zeros((2, 3), np.float32))
    assert z.dtype == np.float32 and o.dtype == np.int64 and o.tolist() == [1] * 4
    assert _init_value(tw.zeros_initializer(dtype=tw.float64), [1], dtype=None).dtype == \
        np.float64


def test_zeros_initializer_class_and_integer_default():
    assert _var_value("z", [2], initializer=tw.zeros_initializer).tolist() == [0.0, 0.0]
    v = _var_value("i", [3], dtype=tw.int32)  # integers default to zeros, as in TF1
    assert v.dtype == np.int32 and v.tolist() == [0, 0, 0]


def test_constant_initializer_scalar_list_padding_and_verify_shape():
    np.testing.assert_array_equal(_init_value(tw.constant_initializer(7), [2, 2]),
                                  np.full((2, 2), 7, np.float32))
    np.testing.assert_array_equal(_init_value(tw.constant_initializer([1, 2, 3, 4, 5, 6]), [2, 3]),
                                  np.arange(1, 7, dtype=np.float32).reshape(2, 3))
    np.testing.assert_array_equal(_init_value(tw.constant_initializer([1, 2]), [2, 2]),
                                  np.array([[1, 2], [2, 2]], np.float32))
    np.testing.assert_array_equal(
        _init_value(tw.constant_initializer(np.array([[1, 2], [3, 4]])), [2, 2], tw.int32),
        np.array([[1, 2], [3, 4]], np.int32))
    with pytest.raises(TypeError, match="Expected Tensor's shape"):
        tw.constant_initializer([1, 2], verify_shape=True)([2, 2])
    v = _var_value("c", [3], initializer=tw.constant_initializer(0.5), dtype=tw.float64)
    assert v.dtype == np.float64 and v.tolist() == [0.5] * 3


def test_random_uniform_initializer_float_and_int():
    v = _init_value(tw.random_uniform_initializer(-1.0, 3.0, seed=1), [300, 300])
    assert v.min() >= -1.0 and v.max() < 3.0 and abs(v.mean() - 1.0) < 0.02
    i = _init_value(tw.random_uniform_initializer(0, 5, seed=1), [1000], tw.int32)
    assert i.dtype == np.int32 and set(i.tolist()) == {0, 1, 2, 3, 4}


def test_random_normal_and_truncated_normal_initializers():
    v = _init_value(tw.random_normal_initializer(2.0, 0.5, seed=1), [300, 300]).astype(float)
    assert abs(v.mean() - 2.0) < 0.01 and abs(v.std() - 0.5) < 0.005
    t = _init_value(tw.truncated_normal_initializer(0.0, 0.5, seed=1), [300, 300]).astype(float)
    assert np.abs(t).max() <= 1.0 + 1e-6 and abs(t.std() - 0.5 * TRUNC_STD) < 0.005


def _fans(shape):
    if len(shape) == 2:
        return shape[0], shape[1]
    rf = int(np.prod(shape[:-2]))
    return shape[-2] * rf, shape[-1] * rf


@pytest.mark.parametrize("shape", [[300, 200], [3, 3, 64, 128], [5, 40, 30]])
@pytest.mark.parametrize("mode", ["fan_in", "fan_out", "fan_avg"])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "untruncated_normal",
                                          "uniform"])
def test_variance_scaling_std(shape, mode, distribution):
    fan_in, fan_out = _fans(shape)
    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(2.5 / n)
    init = tw.variance_scaling_initializer(2.5, mode, distribution, seed=3)
    v = _init_value(init, shape).astype(np.float64)
    assert v.shape == tuple(shape)
    assert abs(v.mean()) < 5 * std / math.sqrt(v.size)
    assert abs(v.std() / std - 1) < 0.02
    if distribution == "uniform":
        assert np.abs(v).max() <= math.sqrt(3) * std * (1 + 1e-6)
    elif distribution != "untruncated_normal":  # truncated at 2 stddev of the uncorrected normal
        assert np.abs(v).max() <= 2 * std / TRUNC_STD * (1 + 1e-6)
    else:
        assert np.abs(v).max() > 2 * std / TRUNC_STD


def test_variance_scaling_small_shapes_use_fan_of_at_least_one():
    v = _init_value(tw.variance_scaling_initializer(distribution="uniform", seed=1), [])
    assert abs(float(v)) <= math.sqrt(3)
    v1 = _init_value(tw.variance_scaling_initializer(distribution="uniform", seed=1), [4000])
    assert np.abs(v1).max() <= math.sqrt(3 / 4000) * (1 + 1e-6)


def test_variance_scaling_uses_the_full_shape_of_a_partition():
    class PartitionInfo:
        full_shape = [1000, 20]
        var_offset = [0, 0]
    v = _init_value(lambda s, dtype: tw.variance_scaling_initializer(
        distribution="uniform", seed=2)(s, dtype, partition_info=PartitionInfo()), [100, 20])
    assert v.shape == (100, 20) and np.abs(v).max() <= math.sqrt(3 / 1000) * (1 + 1e-6)


def test_get_variable_default_is_glorot_uniform():
    shape = [400, 600]
    v = _var_value("w", shape)
    assert v.dtype == np.float32
    v = v.astype(np.float64)
    limit = math.sqrt(6 / (400 + 600))
    assert np.abs(v).max() <= limit * (1 + 1e-6)
    assert np.abs(v).max() > 0.99 * limit
    assert abs(v.std() - limit / math.sqrt(3)) < 0.01 * limit


def test_glorot_on_a_conv_kernel():
    shape = [5, 5, 16, 32]
    u = _init_value(tw.glorot_uniform_initializer(seed=1), shape)
    limit = math.sqrt(6 / (25 * 16 + 25 * 32))
    assert np.abs(u).max() <= limit * (1 + 1e-6) and np.abs(u).max() > 0.99 * limit
    n = _init_value(tw.glorot_normal_initializer(seed=1), shape).astype(np.float64)
    assert abs(n.std() / math.sqrt(2 / (25 * 16 + 25 * 32)) - 1) < 0.02


def test_he_and_lecun():
    he = _init_value(tw.initializers.he_normal(seed=1), [500, 100]).astype(np.float64)
    assert abs(he.std() / math.sqrt(2 / 500) - 1) < 0.02
    le = _init_value(tw.initializers.lecun_uniform(seed=1), [500, 100])
    assert np.abs(le).max() <= math.sqrt(3 / 500) * (1 + 1e-6)


def test_uniform_unit_scaling_bound():
    v = _init_value(tw.uniform_unit_scaling_initializer(factor=1.5, seed=1), [3, 4, 50])
    bound = 1.5 * math.sqrt(3 / 12)
    assert np.abs(v).max() <= bound * (1 + 1e-6) and np.abs(v).max() > 0.98 * bound


@pytest.mark.parametrize("shape", [[6, 4], [4, 6], [5, 5], [3, 3, 4, 8], [2, 3, 40]])
@pytest.mark.parametrize("dtype", [tw.float32, tw.float64])
def test_orthogonal(shape, dtype):
    v = _init_value(tw.orthogonal_initializer(gain=1.5, seed=5), shape, dtype)
    assert v.shape == tuple(shape) and v.dtype == dtype.np
    m = v.reshape(-1, shape[-1]).astype(np.float64) / 1.5
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, np.eye(min(rows, cols)), atol=1e-5)


def test_orthogonal_is_uniformly_distributed():
    # Haar-distributed 2x2 rotations/reflections: the angle of the first column is uniform
    init = tw.orthogonal_initializer(seed=1)
    x = init([2, 2])
    with tw.Session() as s:
        angles = np.array([np.arctan2(*s.run(x)[:, 0]) for _ in range(4000)])
    hist = np.histogram(angles, bins=8, range=(-np.pi, np.pi))[0] / 4000
    np.testing.assert_allclose(hist, 1 / 8, atol=0.025)


def test_identity_initializer():
    np.testing.assert_array_equal(_init_value(tw.initializers.identity(2.0), [2, 3]),
                                  2 * np.eye(2, 3, dtype=np.float32))


# ----------------------------------------------------------------------------------------------
# seeds through initializers
# ----------------------------------------------------------------------------------------------
def _build_model(graph_seed, init_seed=None):
    g = tw.Graph()
    with g.as_default():
        if graph_seed is not None:
            tw.set_random_seed(graph_seed)
        a = tw.get_variable("a", [4, 3])
        b = tw.get_variable("b", [4, 3], initializer=tw.truncated_normal_initializer(
            seed=init_seed))
        init = tw.global_variables_initializer()
    with tw.Session(graph=g) as s:
        s.run(init)
        return s.run([a, b])


def test_graph_seed_makes_initial_values_repeatable():
    x, y = _build_model(11), _build_model(11)
    for u, v in zip(x, y):
        np.testing.assert_array_equal(u, v)
    z = _build_model(12)
    assert not np.array_equal(x[0], z[0])


def test_initializer_seed_without_graph_seed_is_repeatable():
    x, y = _build_model(None, 5), _build_model(None, 5)
    np.testing.assert_array_equal(x[1], y[1])  # the seeded initializer repeats
    assert not np.array_equal(x[0], y[0])      # the unseeded default does not
