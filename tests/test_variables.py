"""Variables, `get_variable` and `variable_scope`: names, sharing and its errors, scope defaults,
collections, initialization and the Variable methods, as TF1 (`tf.compat.v1`) behaves."""
import numpy as np
import pytest

import tensorweave as tw


def _names():
    return [o.name for o in tw.get_default_graph().get_operations()]


# ----------------------------------------------------------------------------------------------
# tw.Variable
# ----------------------------------------------------------------------------------------------
def test_variable_nodes_and_names():
    v = tw.Variable(1.0, name="v")
    assert v.name == "v:0" and v.op.name == "v" and v.op.type == "VariableV2"
    assert _names() == ["v/initial_value", "v", "v/Assign", "v/read"]
    assert v.initializer.name == "v/Assign" and v.value().name == "v/read:0"
    assert v.dtype is tw.float32 and v.shape.as_list() == []
    assert tw.Variable(2.0, name="v").name == "v_1:0"
    with tw.name_scope("ns"):
        assert tw.Variable(3.0).name == "ns/Variable:0"
    assert tw.Variable([1, 2]).dtype is tw.int32
    assert tw.Variable(1, dtype=tw.float64).dtype is tw.float64


def test_variable_from_callable_builds_under_initializer_scope():
    v = tw.Variable(lambda: tw.zeros([2, 3]), name="z")
    assert v.shape.as_list() == [2, 3]
    assert any(n.startswith("z/Initializer/") for n in _names())


def test_variable_shape_must_be_known_unless_not_validated():
    p = tw.placeholder(tw.float32, [None])
    with pytest.raises(ValueError, match="initial_value must have a shape specified"):
        tw.Variable(p)
    v = tw.Variable(p, validate_shape=False)
    assert v.shape.ndims is None
    with tw.Session() as s:
        s.run(v.initializer, {p: [1.0, 2.0, 3.0]})
        np.testing.assert_array_equal(s.run(v), [1.0, 2.0, 3.0])


def test_variable_operators_and_conversion():
    v = tw.Variable([1.0, 2.0])
    y = v * 2.0 + v
    assert tw.convert_to_tensor(v).name == "Variable/read:0"
    with tw.Session() as s:
        s.run(v.initializer)
        np.testing.assert_array_equal(s.run(y), [3.0, 6.0])


def test_assign_assign_add_assign_sub():
    v = tw.Variable([1.0, 2.0], name="v")
    a = v.assign([5.0, 6.0])
    add = v.assign_add([1.0, 1.0])
    sub = tw.assign_sub(v, [0.5, 0.5])
    with tw.Session() as s:
        s.run(v.initializer)
        np.testing.assert_array_equal(s.run(a), [5.0, 6.0])
        np.testing.assert_array_equal(s.run(add), [6.0, 7.0])
        np.testing.assert_array_equal(s.run(add), [7.0, 8.0])
        np.testing.assert_array_equal(s.run(sub), [6.5, 7.5])
        np.testing.assert_array_equal(s.run(v), [6.5, 7.5])
    assert a.op.type == "Assign" and add.op.type == "AssignAdd"
    assert v.assign([0.0, 0.0], read_value=False).type == "Assign"
    with pytest.raises(ValueError):
        v.assign([1.0, 2.0, 3.0])
    with pytest.raises((TypeError, ValueError)):
        v.assign(["a", "b"])


def test_fetched_value_is_a_copy():
    v = tw.Variable([1.0, 2.0])
    with tw.Session() as s:
        s.run(v.initializer)
        got = s.run(v)
        got[0] = 100.0
        np.testing.assert_array_equal(s.run(v), [1.0, 2.0])


def test_load_and_eval():
    v = tw.Variable([1.0, 2.0], name="v")
    with tw.Session() as s:
        s.run(v.initializer)
        v.load([3.0, 4.0], s)
        np.testing.assert_array_equal(v.eval(session=s), [3.0, 4.0])
        with s.as_default():
            v.load([5.0, 6.0])
            np.testing.assert_array_equal(v.eval(), [5.0, 6.0])
    with pytest.raises(ValueError, match="session"):
        v.load([1.0, 1.0])


def test_each_session_has_its_own_variable_values():
    v = tw.Variable(1.0)
    inc = v.assign_add(1.0)
    with tw.Session() as s1, tw.Session() as s2:
        s1.run(v.initializer)
        s2.run(v.initializer)
        s1.run(inc)
        assert s1.run(v) == 2.0 and s2.run(v) == 1.0


def test_uninitialized_read_names_the_variable():
    v = tw.Variable([1.0], name="weights")
    y = v + 1.0
    with tw.Session() as s:
        for fetch in (v, v.value(), y):
            with pytest.raises(tw.errors.FailedPreconditionError,
                               match="Attempting to use uninitialized value weights"):
                s.run(fetch)


def test_uninitialized_update_names_the_variable():
    v = tw.Variable([1.0], name="counter")
    with tw.Session() as s:
        with pytest.raises(tw.errors.FailedPreconditionError, match="counter"):
            s.run(v.assign_add([1.0]))


def test_is_variable_initialized_and_report_uninitialized():
    a = tw.Variable(1.0, name="a")
    b = tw.get_variable("b", [2])
    with tw.variable_scope("s"):
        tw.get_local_variable("c", [1])
    report = tw.report_uninitialized_variables()
    only_b = tw.report_uninitialized_variables([b])
    with tw.Session() as s:
        assert s.run(report).tolist() == [b"a", b"b", b"s/c"]
        assert not s.run(tw.is_variable_initialized(a))
        s.run(a.initializer)
        assert s.run(tw.is_variable_initialized(a))
        assert s.run(report).tolist() == [b"b", b"s/c"]
        s.run(tw.global_variables_initializer())
        assert s.run(report).tolist() == [b"s/c"]
        assert s.run(only_b).tolist() == []
        s.run(tw.local_variables_initializer())
        r = s.run(report)
        assert r.shape == (0,) and r.dtype == object
    assert report.dtype is tw.string and report.op.name == "report_uninitialized_variables"


def test_initialized_value_does_not_depend_on_init_order():
    v1 = tw.Variable(3.0, name="v1")
    v2 = tw.Variable(v1.initialized_value() * 2.0, name="v2")
    with tw.Session() as s:
        s.run(v2.initializer)  # v1 is not initialized: its initial value is used
        assert s.run(v2) == 6.0
        s.run(v1.initializer)
        s.run(v1.assign(10.0))
        s.run(v2.initializer)  # now v1 is initialized: its current value is used
        assert s.run(v2) == 20.0
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        assert s.run([v1, v2]) == [3.0, 6.0]


# ----------------------------------------------------------------------------------------------
# get_variable and variable_scope: names and sharing
# ----------------------------------------------------------------------------------------------
def test_get_variable_names_in_nested_scopes():
    with tw.variable_scope("scope"):
        w = tw.get_variable("w", [2, 3])
        with tw.variable_scope("inner"):
            b = tw.get_variable("b", [3])
    assert w.name == "scope/w:0" and b.name == "scope/inner/b:0"
    assert w.shape.as_list() == [2, 3] and w.dtype is tw.float32
    assert isinstance(w, tw.Variable)


def test_existing_variable_without_reuse_is_an_error():
    with tw.variable_scope("foo"):
        tw.get_variable("w", [1])
    with pytest.raises(ValueError, match=r"Variable foo/w already exists, disallowed\. Did you "
                                         r"mean to set reuse=True or reuse=\w+\.AUTO_REUSE in "
                                         r"VarScope\?"):
        with tw.variable_scope("foo"):
            tw.get_variable("w", [1])


def test_missing_variable_with_reuse_is_an_error():
    with pytest.raises(ValueError, match=r"Variable foo/v does not exist, or was not created "
                                         r"with \w+\.get_variable\(\)\. Did you mean to set "
                                         r"reuse=\w+\.AUTO_REUSE in VarScope\?"):
        with tw.variable_scope("foo", reuse=True):
            tw.get_variable("v", [1])


def test_reuse_true_returns_the_same_variable():
    with tw.variable_scope("foo"):
        v = tw.get_variable("v", [1])
    with tw.variable_scope("foo", reuse=True):
        assert tw.get_variable("v", [1]) is v
        assert tw.get_variable("v") is v  # shape may be omitted when reusing
    with tw.variable_scope("foo") as scope:
        scope.reuse_variables()
        assert scope.reuse and tw.get_variable("v") is v
    assert len(tw.global_variables()) == 1


def test_reuse_through_the_scope_object():
    with tw.variable_scope("foo") as foo:
        v = tw.get_variable("v", [1])
    with tw.variable_scope("bar"):
        with tw.variable_scope(foo, reuse=True) as again:
            assert again.name == "foo" and tw.get_variable("v") is v
            assert tw.get_variable_scope().name == "foo"


def test_auto_reuse_creates_then_reuses():
    def layer():
        with tw.variable_scope("layer", reuse=tw.AUTO_REUSE):
            return tw.get_variable("w", [2])
    a, b = layer(), layer()
    assert a is b and a.name == "layer/w:0"
    assert len(tw.trainable_variables()) == 1


def test_reuse_is_inherited_and_false_does_not_reset_it():
    with tw.variable_scope("a", reuse=True):
        with tw.variable_scope("b"):
            assert tw.get_variable_scope().reuse is True
        with tw.variable_scope("c", reuse=False):
            assert tw.get_variable_scope().reuse is True
    with tw.variable_scope("d", reuse=tw.AUTO_REUSE):
        with tw.variable_scope("e"):
            assert tw.get_variable_scope().reuse is tw.AUTO_REUSE
    assert tw.get_variable_scope().reuse is False


def test_shape_and_dtype_mismatch_on_reuse():
    with tw.variable_scope("foo"):
        tw.get_variable("w", [2])
    with tw.variable_scope("foo", reuse=True):
        with pytest.raises(ValueError, match=r"Trying to share variable foo/w, but specified "
                                             r"shape \(3,\) and found shape \(2,\)\."):
            tw.get_variable("w", [3])
        with pytest.raises(ValueError, match=r"Trying to share variable foo/w, but specified "
                                             r"dtype float64 and found dtype float32"):
            tw.get_variable("w", [2], dtype=tw.float64)
        assert tw.get_variable("w", [None]).name == "foo/w:0"  # compatible partial shape


def test_new_variable_needs_a_full_shape():
    with pytest.raises(ValueError, match=r"Shape of a new variable \(w\) must be fully defined"):
        tw.get_variable("w")
    with pytest.raises(ValueError, match=r"Shape of a new variable \(x\) must be fully defined"):
        tw.get_variable("x", [None, 2])


def test_reentered_scope_uniquifies_op_names_but_not_variable_names():
    with tw.variable_scope("foo"):
        x = tw.constant(1.0, name="x")
    with tw.variable_scope("foo"):
        y = tw.constant(1.0, name="x")
        w = tw.get_variable("w", [1])
        z = tw.identity(w, name="z")
    with tw.variable_scope("foo", reuse=True):
        assert tw.get_variable("w") is w
        u = tw.constant(1.0, name="x")
    assert (x.name, y.name, u.name) == ("foo/x:0", "foo_1/x:0", "foo_2/x:0")
    assert w.name == "foo/w:0" and z.name == "foo_1/z:0"
    assert "foo/w/Initializer/random_uniform" in _names()


def test_name_scope_does_not_change_variable_names():
    with tw.name_scope("ns"):
        with tw.variable_scope("vs"):
            v = tw.get_variable("v", [1])
            d = tw.constant(1.0, name="d")
        w = tw.get_variable("w", [1])
    assert (v.name, d.name, w.name) == ("vs/v:0", "ns/vs/d:0", "w:0")


def test_default_name_uniquification():
    names = []
    for _ in range(3):
        with tw.variable_scope(None, default_name="layer") as sc:
            names.append((sc.name, tw.get_variable("w", [1]).name))
    assert names == [("layer", "layer/w:0"), ("layer_1", "layer_1/w:0"),
                     ("layer_2", "layer_2/w:0")]
    with tw.variable_scope("model"):
        with tw.variable_scope(None, default_name="layer") as sc:
            assert sc.name == "model/layer"
    with tw.variable_scope("model", reuse=True):
        # default names count afresh in a re-opened scope, so the same variables are found
        with tw.variable_scope(None, default_name="layer") as sc:
            assert sc.name == "model/layer"
    with tw.variable_scope("given", default_name="ignored") as sc:
        assert sc.name == "given"


def test_variable_scope_argument_errors():
    with pytest.raises(TypeError, match="If default_name is None then name_or_scope is required"):
        with tw.variable_scope(None):
            pass
    with pytest.raises(ValueError, match="reuse=True cannot be used without a name_or_scope"):
        with tw.variable_scope(None, default_name="x", reuse=True):
            pass
    with pytest.raises(TypeError):
        with tw.variable_scope(3):
            pass


def test_original_name_scope():
    with tw.variable_scope("foo") as foo:
        assert foo.original_name_scope == "foo/"
    with tw.name_scope("outer"):
        with tw.variable_scope("bar") as bar:
            assert bar.name == "bar" and bar.original_name_scope == "outer/bar/"


def test_reentering_a_scope_object_opens_a_new_name_scope():
    with tw.variable_scope("scope1") as sp:
        tw.constant(1.0, name="a")
    with tw.variable_scope("scope2"):
        with tw.variable_scope(sp) as sp1:
            v3 = tw.get_variable("v3", [1])
            b = tw.constant(1.0, name="a")
    assert sp1.name == "scope1" and v3.name == "scope1/v3:0"
    assert sp1.original_name_scope == "scope1/"
    # TF1 opens name_scope(last component of the scope name) under the current name scope
    assert b.name == "scope2/scope1/a:0"


# ----------------------------------------------------------------------------------------------
# scope defaults: initializer, dtype, regularizer, custom getter
# ----------------------------------------------------------------------------------------------
def test_initializer_is_inherited_from_the_scope():
    with tw.variable_scope("s", initializer=tw.constant_initializer(0.4)) as scope:
        a = tw.get_variable("a", [2])
        with tw.variable_scope("inner"):
            b = tw.get_variable("b", [2])
        c = tw.get_variable("c", [2], initializer=tw.constant_initializer(0.7))
        with tw.variable_scope("other", initializer=tw.ones_initializer()):
            d = tw.get_variable("d", [2])
    with tw.variable_scope(scope, reuse=True) as again:  # the scope object keeps its defaults
        assert again.initializer is scope.initializer and tw.get_variable("a") is a
    with tw.variable_scope("s", reuse=True) as by_name:  # a name starts from the parent's
        assert by_name.initializer is None
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        va, vb, vc, vd = sess.run([a, b, c, d])
    np.testing.assert_allclose([va, vb, vc, vd], [[0.4] * 2, [0.4] * 2, [0.7] * 2, [1.0] * 2])


def test_set_initializer_on_the_current_scope():
    with tw.variable_scope("s") as s:
        s.set_initializer(tw.zeros_initializer())
        z = tw.get_variable("z", [3])
    with tw.Session() as sess:
        sess.run(z.initializer)
        assert sess.run(z).tolist() == [0.0] * 3


def test_dtype_is_inherited_from_the_scope():
    with tw.variable_scope("s", dtype=tw.float64):
        v = tw.get_variable("v", [2])
        with tw.variable_scope("inner"):
            w = tw.get_variable("w", [2])
        i = tw.get_variable("i", [2], dtype=tw.int32)
    assert (v.dtype, w.dtype, i.dtype) == (tw.float64, tw.float64, tw.int32)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        assert sess.run(v).dtype == np.float64 and sess.run(i).tolist() == [0, 0]


def test_get_variable_from_a_constant_tensor_initializer():
    v = tw.get_variable("v", initializer=tw.constant([1.0, 2.0]))
    assert v.shape.as_list() == [2]
    with pytest.raises(ValueError, match="If initializer is a constant, do not specify shape"):
        tw.get_variable("w", [2], initializer=tw.constant([1.0, 2.0]))
    with tw.Session() as s:
        s.run(v.initializer)
        assert s.run(v).tolist() == [1.0, 2.0]


def test_regularizer_adds_a_loss_under_the_variable_name():
    with tw.variable_scope("s", regularizer=lambda w: tw.reduce_sum(w) * 0.5):
        v = tw.get_variable("v", [3], initializer=tw.ones_initializer())
        tw.get_variable("u", [3], regularizer=tw.no_regularizer)
    losses = tw.get_collection(tw.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == 1 and losses[0].op.name.startswith("s/v/Regularizer/")
    with tw.Session() as s:
        s.run(v.initializer)
        assert s.run(losses[0]) == 1.5


def test_custom_getter_sees_every_request():
    seen = []

    def getter(next_getter, name, *args, **kwargs):
        seen.append(name)
        return next_getter(name, *args, **kwargs)
    with tw.variable_scope("s", custom_getter=getter):
        v = tw.get_variable("v", [1])
    assert seen == ["s/v"] and v.name == "s/v:0"


# ----------------------------------------------------------------------------------------------
# collections
# ----------------------------------------------------------------------------------------------
def test_trainable_and_local_collections():
    a = tw.get_variable("a", [1])
    b = tw.get_variable("b", [1], trainable=False)
    c = tw.get_local_variable("c", [1])
    d = tw.Variable(1.0, trainable=False, name="d")
    e = tw.Variable(1.0, collections=[tw.GraphKeys.LOCAL_VARIABLES], name="e")
    f = tw.get_variable("f", [1], collections=["mine"])
    assert tw.global_variables() == [a, b, d]
    # as in TF1, explicit collections replace GLOBAL_VARIABLES but trainable still defaults to
    # True, so e and f are trainable
    assert tw.trainable_variables() == [a, e, f]
    assert tw.local_variables() == [c, e]
    assert tw.get_collection("mine") == [f]
    assert not c.trainable and a.trainable


def test_collection_scope_filter_and_scope_collections():
    with tw.variable_scope("enc") as enc:
        w = tw.get_variable("w", [1])
    with tw.variable_scope("encoder"):
        x = tw.get_variable("w", [1])
    with tw.variable_scope("dec"):
        y = tw.get_variable("w", [1])
    assert tw.global_variables("enc") == [w, x]  # a regex match on the name, as in TF1
    assert tw.trainable_variables("dec") == [y]
    assert enc.global_variables() == [w] and enc.trainable_variables() == [w]


def test_global_and_local_initializers():
    g = tw.get_variable("g", [2], initializer=tw.ones_initializer())
    loc = tw.get_local_variable("l", [2], initializer=tw.ones_initializer())
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        assert s.run(tw.is_variable_initialized(g)) and not s.run(tw.is_variable_initialized(loc))
        s.run(tw.local_variables_initializer())
        assert s.run(loc).tolist() == [1.0, 1.0]
    assert tw.variables_initializer([]).type == "NoOp"


# ----------------------------------------------------------------------------------------------
# more TF1 patterns
# ----------------------------------------------------------------------------------------------
def test_get_variable_initialized_from_another_variable():
    v1 = tw.get_variable("v1", [2, 2])
    v2 = tw.get_variable("v2", initializer=v1.initialized_value())
    n = tw.get_variable("n", initializer=np.arange(3, dtype=np.float64))
    assert v2.shape.as_list() == [2, 2] and n.dtype is tw.float64
    with tw.Session() as s:
        s.run(tw.global_variables_initializer())
        a, b, c = s.run([v1, v2, n])
    np.testing.assert_array_equal(a, b)
    assert c.tolist() == [0.0, 1.0, 2.0]


def test_assign_without_shape_validation_changes_the_shape():
    v = tw.Variable([1.0, 2.0], name="v")
    grow = tw.assign(v, [1.0, 2.0, 3.0], validate_shape=False)
    with tw.Session() as s:
        s.run(v.initializer)
        s.run(grow)
        assert s.run(v).tolist() == [1.0, 2.0, 3.0]


def test_count_up_to():
    c = tw.Variable(0, name="c")
    up = c.count_up_to(2)
    with tw.Session() as s:
        s.run(c.initializer)
        assert [s.run(up), s.run(up)] == [0, 1]
        with pytest.raises(tw.errors.OutOfRangeError, match="Reached limit of 2"):
            s.run(up)


def test_string_variable_needs_an_initializer():
    with pytest.raises(ValueError, match="An initializer for variable s of string is required"):
        tw.get_variable("s", [2], dtype=tw.string)


@pytest.mark.parametrize("n_updates", [3, 40])
@pytest.mark.parametrize("op, ufunc", [("scatter_add", np.add), ("scatter_sub", np.subtract)])
def test_scatter_add_sub_sum_repeated_indices(op, ufunc, n_updates):
    rng = np.random.RandomState(n_updates)
    init = rng.rand(6, 3).astype(np.float32)
    idx = rng.randint(0, 6, n_updates).astype(np.int32)
    upd = rng.rand(n_updates, 3).astype(np.float32)
    v = tw.Variable(init)
    r = getattr(tw, op)(v, idx, upd)
    expected = init.copy()
    ufunc.at(expected, idx, upd)
    with tw.Session() as s:
        s.run(v.initializer)
        np.testing.assert_allclose(s.run(r), expected, rtol=1e-5)
        with pytest.raises(tw.errors.InvalidArgumentError, match="not in"):
            s.run(getattr(tw, op)(v, [7], np.ones((1, 3), np.float32)))


def test_report_uninitialized_variables_of_a_graph_without_variables_is_empty():
    # (and an empty list of strings is a string constant, as in TF)
    with tw.Graph().as_default():
        r = tw.report_uninitialized_variables()
        c = tw.constant([], dtype=tw.string)
        assert c.shape.as_list() == [0] and c.dtype == tw.string
        with tw.Session() as sess:
            got, empty = sess.run([r, c])
    assert got.shape == (0,) and empty.shape == (0,)
