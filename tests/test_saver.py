"""Saver and checkpoints: round trips, names, max_to_keep, the state file, crash safety, corrupt
files, missing variables and shape mismatches, readers, meta graphs."""
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorweave as tw
from tensorweave.train import checkpoint_format


def _model():
    w = tw.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    b = tw.Variable(np.array([1.5, -2.5]), name="b")  # float64
    n = tw.Variable(np.int64(7), name="n")
    return w, b, n


def test_save_restore_round_trip_all_dtypes(tmp_path):
    vals = {
        "f16": np.array([1.5, -2.0], np.float16), "f32": np.arange(12, dtype=np.float32),
        "f64": np.array([[np.pi]]), "i8": np.array([-128, 127], np.int8),
        "u8": np.array([0, 255], np.uint8), "i32": np.array([-5, 2**31 - 1], np.int32),
        "i64": np.array(2**40, np.int64), "bool": np.array([True, False]),
        "c64": np.array([1 + 2j], np.complex64), "c128": np.array([3 - 4j]),
        "str": np.array([b"ab", b"", b"\x00\xff"], dtype=object),
        "empty": np.zeros((0, 3), np.float32),
    }
    variables = {k: tw.Variable(v, name=k) for k, v in vals.items()}
    saver = tw.train.Saver()
    zero = [v.assign(tw.zeros_like(v)) for k, v in variables.items() if k != "str"]
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "model"))
        assert path == str(tmp_path / "model")
        assert os.path.isfile(path + ".index") and os.path.isfile(path + ".meta")
        sess.run(zero)
        saver.restore(sess, path)
        for k, v in variables.items():
            got = sess.run(v)
            assert np.asarray(got).dtype == vals[k].dtype, k
            np.testing.assert_array_equal(got, vals[k], err_msg=k)
    for k, v in vals.items():
        np.testing.assert_array_equal(tw.train.load_variable(path, k), v)


def test_restore_into_a_fresh_session_and_graph(tmp_path):
    w, b, n = _model()
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(w.assign(w * 2.0))
        path = saver.save(sess, str(tmp_path / "m"), global_step=3)
    assert path == str(tmp_path / "m-3")
    g = tw.Graph()
    with g.as_default():
        w2, b2, n2 = _model()
        saver2 = tw.train.Saver()
        with tw.Session() as sess:
            saver2.restore(sess, path)  # no initializer needed
            got = sess.run([w2, b2, n2])
    np.testing.assert_array_equal(got[0], np.arange(6, dtype=np.float32).reshape(2, 3) * 2)
    np.testing.assert_array_equal(got[1], [1.5, -2.5])
    assert got[2] == 7


def test_saver_graph_ops_are_built_once_under_save_scope():
    _model()
    saver = tw.train.Saver()
    ops = [o for o in tw.get_default_graph().get_operations() if o.name.startswith("save/")]
    assert saver.saver_def.restore_op_name == "save/restore_all"
    assert {o.type for o in ops} == {"Placeholder", "Assign", "NoOp"}
    assert sum(o.type == "Assign" for o in ops) == 3
    for o in ops:
        if o.type == "Assign":
            assert o.colocation_groups() == [f"loc:@{o.inputs[0].op.name}".encode()]
    init = tw.global_variables_initializer()
    n_before = len(tw.get_default_graph().get_operations())
    with tw.Session() as sess:
        sess.run(init)
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for i in range(3):
                saver.restore(sess, saver.save(sess, os.path.join(d, "x"), global_step=i,
                                               write_meta_graph=False))
    assert len(tw.get_default_graph().get_operations()) == n_before
    tw.train.Saver(name="other")
    assert tw.get_default_graph().get_operation_by_name("other/restore_all").type == "NoOp"


def test_var_list_as_list_and_dict(tmp_path):
    w, b, n = _model()
    s_list = tw.train.Saver([w, n])
    s_dict = tw.train.Saver({"weights": w, "count": n})
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        p1 = s_list.save(sess, str(tmp_path / "list"))
        p2 = s_dict.save(sess, str(tmp_path / "dict"))
    assert tw.train.list_variables(p1) == [("n", []), ("w", [2, 3])]
    assert tw.train.list_variables(p2) == [("count", []), ("weights", [2, 3])]
    reader = tw.train.NewCheckpointReader(p2)
    assert reader.has_tensor("weights") and not reader.has_tensor("w")
    assert reader.get_variable_to_dtype_map() == {"count": tw.int64, "weights": tw.float32}
    with tw.Session() as sess:  # restore through the dict names into other variables
        s_dict.restore(sess, p2)
        np.testing.assert_array_equal(sess.run(w), np.arange(6).reshape(2, 3))


def test_max_to_keep_deletes_the_oldest_and_state_file_is_tf1_text(tmp_path):
    w, _, _ = _model()
    gs = tw.train.get_or_create_global_step()
    inc = tw.assign_add(gs, 1)
    saver = tw.train.Saver(max_to_keep=2)
    prefix = str(tmp_path / "model.ckpt")
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        paths = []
        for _ in range(4):
            sess.run(inc)
            paths.append(saver.save(sess, prefix, global_step=gs))
    assert paths == [f"{prefix}-{i}" for i in range(1, 5)]
    assert saver.last_checkpoints == paths[-2:]
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["checkpoint", "model.ckpt-3.index", "model.ckpt-3.meta", "model.ckpt-4.index",
         "model.ckpt-4.meta"])
    text = (tmp_path / "checkpoint").read_text()
    assert text == (f'model_checkpoint_path: "{prefix}-4"\n'
                    f'all_model_checkpoint_paths: "{prefix}-3"\n'
                    f'all_model_checkpoint_paths: "{prefix}-4"\n')
    assert tw.train.latest_checkpoint(str(tmp_path)) == paths[-1]
    st = tw.train.get_checkpoint_state(str(tmp_path))
    assert st.model_checkpoint_path == paths[-1]
    assert st.all_model_checkpoint_paths == paths[-2:]
    assert tw.train.checkpoint_exists(paths[-1]) and not tw.train.checkpoint_exists(paths[0])


def test_max_to_keep_none_keeps_everything_and_pad_step_number(tmp_path):
    _model()
    saver = tw.train.Saver(max_to_keep=None, pad_step_number=True)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for i in range(7):
            last = saver.save(sess, str(tmp_path / "m"), global_step=i, write_meta_graph=False)
    assert last == str(tmp_path / "m-00000006")
    assert len([f for f in os.listdir(tmp_path) if f.endswith(".index")]) == 7
    assert saver.last_checkpoints == []


def test_relative_paths_in_state_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    os.mkdir("ckpts")
    _model()
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        p = saver.save(sess, "ckpts/model", global_step=5)
    assert p == "ckpts/model-5"
    assert (tmp_path / "ckpts" / "checkpoint").read_text().startswith(
        'model_checkpoint_path: "model-5"\n')
    assert tw.train.latest_checkpoint("ckpts") == os.path.join("ckpts", "model-5")
    with tw.Session() as sess:
        saver.restore(sess, tw.train.latest_checkpoint("ckpts"))


def test_state_file_escapes_and_parses_odd_names(tmp_path):
    d = tmp_path / 'dir "quoted" é'
    d.mkdir()
    tw.train.update_checkpoint_state(str(d), str(d / "m-1"))
    assert tw.train.get_checkpoint_state(str(d)).model_checkpoint_path == str(d / "m-1")
    (d / "checkpoint").write_bytes(b"\xff\xfe garbage")
    with pytest.warns(UserWarning):
        assert tw.train.get_checkpoint_state(str(d)) is None
    assert tw.train.get_checkpoint_state(str(tmp_path)) is None
    assert tw.train.latest_checkpoint(str(tmp_path)) is None


def test_crash_mid_save_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    w, _, _ = _model()
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        good = saver.save(sess, str(tmp_path / "m"), global_step=1)
        sess.run(w.assign(w + 100.0))
        calls = []

        def failing_write(f, data):
            calls.append(len(data))
            if len(calls) == 2:
                f.write(bytes(data)[: len(data) // 2])
                raise OSError("disk full")
            f.write(data)
        monkeypatch.setattr(checkpoint_format, "_write_chunk", failing_write)
        with pytest.raises(OSError, match="disk full"):
            saver.save(sess, str(tmp_path / "m"), global_step=2)
        calls.clear()
        with pytest.raises(OSError, match="disk full"):
            saver.save(sess, str(tmp_path / "m"), global_step=1)  # overwriting the good one
        monkeypatch.undo()
        assert sorted(os.listdir(tmp_path)) == ["checkpoint", "m-1.index", "m-1.meta"]
        assert tw.train.latest_checkpoint(str(tmp_path)) == good
        saver.restore(sess, good)
        np.testing.assert_array_equal(sess.run(w), np.arange(6).reshape(2, 3))


@pytest.mark.parametrize("damage", ["truncate_header", "truncate_data", "flip_data",
                                    "flip_header", "garbage", "empty", "bad_magic"])
def test_corrupt_checkpoint_raises_data_loss_naming_the_file(tmp_path, damage):
    w, _, _ = _model()
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        path = saver.save(sess, str(tmp_path / "m"))
        f = path + ".index"
        data = bytearray(open(f, "rb").read())
        if damage == "truncate_header":
            data = data[:30]
        elif damage == "truncate_data":
            data = data[:-5]
        elif damage == "flip_data":
            data[-3] ^= 0xFF
        elif damage == "flip_header":
            data[30] ^= 0x01
        elif damage == "garbage":
            data = bytearray(np.random.RandomState(0).bytes(500))
        elif damage == "empty":
            data = bytearray()
        elif damage == "bad_magic":
            data[1:3] = b"XX"
        open(f, "wb").write(bytes(data))
        with pytest.raises(tw.errors.DataLossError, match=f.replace(".", r"\.")):
            saver.restore(sess, path)
        with pytest.raises(tw.errors.DataLossError):
            tw.train.load_variable(path, "w")


def test_missing_variable_is_not_found_naming_it(tmp_path):
    w, b, n = _model()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        path = tw.train.Saver([w]).save(sess, str(tmp_path / "m"))
        with pytest.raises(tw.errors.NotFoundError, match="Key b not found in checkpoint"):
            tw.train.Saver([w, b]).restore(sess, path)
    with pytest.raises(tw.errors.NotFoundError, match="Key nope not found"):
        tw.train.load_variable(path, "nope")
    with pytest.raises(ValueError, match="not a valid checkpoint"):
        with tw.Session() as sess:
            tw.train.Saver([w]).restore(sess, str(tmp_path / "does-not-exist"))
    with pytest.raises(ValueError, match="None"):
        tw.train.Saver([w]).restore(None, None)


def test_shape_and_dtype_mismatch_are_invalid_argument(tmp_path):
    tw.Variable(np.zeros((2, 3), np.float32), name="w")
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        path = tw.train.Saver().save(sess, str(tmp_path / "m"))
    g = tw.Graph()
    with g.as_default():
        tw.Variable(np.zeros((3, 2), np.float32), name="w")
        saver = tw.train.Saver()
        with tw.Session() as sess:
            with pytest.raises(tw.errors.InvalidArgumentError,
                               match=r"variable w .*lhs shape= \[3, 2\] rhs shape= \[2, 3\]"):
                saver.restore(sess, path)
        with tw.Session() as sess:  # reshape=True accepts the same number of elements
            tw.train.Saver(reshape=True).restore(sess, path)
    g = tw.Graph()
    with g.as_default():
        tw.Variable(np.zeros((2, 3), np.float64), name="w")
        with tw.Session() as sess:
            with pytest.raises(tw.errors.InvalidArgumentError, match="expected dtype float64"):
                tw.train.Saver().restore(sess, path)


def test_constructor_and_save_argument_errors(tmp_path):
    with pytest.raises(ValueError, match="No variables to save"):
        tw.train.Saver()
    empty = tw.train.Saver(allow_empty=True)
    with tw.Session() as sess:
        assert empty.save(sess, str(tmp_path / "e")) is None
    w, _, _ = _model()
    with pytest.raises(ValueError, match="same name"):
        tw.train.Saver([w, w])
    with pytest.raises(TypeError, match="not a Variable"):
        tw.train.Saver([w.value()])
    with pytest.raises(ValueError, match="cannot be deferred"):
        tw.train.Saver([w], defer_build=True)
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        with pytest.raises(ValueError, match="Parent directory"):
            saver.save(sess, str(tmp_path / "nodir" / "m"))
        with pytest.raises(ValueError, match="path components"):
            saver.save(sess, str(tmp_path / "m"), latest_filename="a/b")
        with pytest.raises(TypeError, match="must be a Session"):
            saver.save("sess", str(tmp_path / "m"))


def test_deferred_build_and_saveable_ref_tensor(tmp_path):
    w, _, _ = _model()
    saver = tw.train.Saver(defer_build=True)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        with pytest.raises(RuntimeError, match="build"):
            saver.save(sess, str(tmp_path / "m"))
        saver.build()
        path = saver.save(sess, str(tmp_path / "m"))
        assert tw.train.list_variables(path) == [("b", [2]), ("n", []), ("w", [2, 3])]
        p2 = tw.train.Saver({"ref": w._ref()}).save(sess, str(tmp_path / "r"))
        assert tw.train.list_variables(p2) == [("ref", [2, 3])]


def test_saver_restores_optimizer_slots_and_global_step(tmp_path):
    w = tw.Variable([1.0, -1.0], name="w")
    gs = tw.train.get_or_create_global_step()
    train = tw.train.AdamOptimizer(0.1).minimize(tw.reduce_sum(w * w), global_step=gs)
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(train)
        path = saver.save(sess, str(tmp_path / "m"), global_step=gs)
        sess.run(train)
        want = sess.run(w)
    assert path.endswith("m-1")
    names = [n for n, _ in tw.train.list_variables(path)]
    assert names == ["beta1_power", "beta2_power", "global_step", "w", "w/Adam", "w/Adam_1"]
    with tw.Session() as sess:
        saver.restore(sess, path)
        sess.run(train)
        np.testing.assert_allclose(sess.run(w), want, rtol=1e-6)
        assert tw.train.global_step(sess, gs) == 2


def test_meta_graph_export_and_import(tmp_path):
    w, b, _ = _model()
    tw.add_to_collection("my_tensors", w.value())
    tw.add_to_collection("notes", "hello")
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        sess.run(w.assign(w + 1.0))
        path = saver.save(sess, str(tmp_path / "m"))
    g = tw.Graph()
    with g.as_default():
        saver2 = tw.train.import_meta_graph(path + ".meta")
        names = [v.name for v in tw.global_variables()]
        assert names == ["w:0", "b:0", "n:0"]
        assert [v.name for v in tw.trainable_variables()] == names
        assert tw.get_collection("notes") == ["hello"]
        assert tw.get_collection("my_tensors")[0].name == "w/read:0"
        with tw.Session() as sess:
            saver2.restore(sess, path)
            np.testing.assert_array_equal(sess.run("w:0"), np.arange(6).reshape(2, 3) + 1)
            sess.run(tw.global_variables_initializer())
            np.testing.assert_array_equal(sess.run("w:0"), np.arange(6).reshape(2, 3))
    with open(tmp_path / "bad.meta", "wb") as f:
        f.write(b"\x93garbage")
    with pytest.raises(ValueError, match="MetaGraphDef"):
        tw.train.import_meta_graph(str(tmp_path / "bad.meta"))


def test_checkpoint_reader_on_a_directory_and_missing_files(tmp_path):
    _model()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        tw.train.Saver().save(sess, str(tmp_path / "m"), global_step=9)
    assert tw.train.list_variables(str(tmp_path))[0] == ("b", [2])
    np.testing.assert_array_equal(tw.train.load_variable(str(tmp_path), "b:0"), [1.5, -2.5])
    os.mkdir(tmp_path / "empty_dir")
    with pytest.raises(ValueError, match="Couldn't find 'checkpoint' file"):
        tw.train.list_variables(str(tmp_path / "empty_dir"))
    with pytest.raises(tw.errors.NotFoundError, match="Failed to find any matching files"):
        tw.train.NewCheckpointReader(str(tmp_path / "nothing"))


def test_keep_checkpoint_every_n_hours_preserves_old_checkpoints(tmp_path):
    _model()
    saver = tw.train.Saver(max_to_keep=1, keep_checkpoint_every_n_hours=1e-9)
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        for i in range(3):
            saver.save(sess, str(tmp_path / "m"), global_step=i, write_meta_graph=False)
    assert saver.last_checkpoints == [str(tmp_path / "m-2")]
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".index")) == [
        "m-0.index", "m-1.index", "m-2.index"]


def test_import_meta_graph_under_a_scope_and_recover_last_checkpoints(tmp_path):
    w, _, _ = _model()
    saver = tw.train.Saver()
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        paths = [saver.save(sess, str(tmp_path / "m"), global_step=i) for i in range(2)]
    g = tw.Graph()
    with g.as_default():
        saver2 = tw.train.import_meta_graph(paths[-1] + ".meta", import_scope="imported")
        assert [v.name for v in tw.global_variables()] == [
            "imported/w:0", "imported/b:0", "imported/n:0"]
        with tw.Session() as sess:
            saver2.restore(sess, paths[-1])
            np.testing.assert_array_equal(sess.run("imported/w:0"), np.arange(6).reshape(2, 3))
        saver2.recover_last_checkpoints(paths + [str(tmp_path / "gone")])
        assert saver2.last_checkpoints == paths


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import tensorweave as tw
    from tensorweave.train import checkpoint_format
    w = tw.Variable(np.zeros(1000, np.float32), name="w")
    def stuck(f, data):
        f.write(data)
        f.flush()
        print("writing", flush=True)
        time.sleep(600)                        # killed here, half-way through its save
    checkpoint_format._write_chunk = stuck
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        tw.train.Saver().save(sess, sys.argv[1], global_step=2)
""")


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(30)
    return p.pid


def test_a_save_removes_the_temp_files_of_killed_saves_and_keeps_live_ones(tmp_path):
    w, _, _ = _model()
    saver = tw.train.Saver()
    prefix = str(tmp_path / "m")
    p = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, prefix], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline() == "writing\n"
        p.send_signal(signal.SIGKILL)
        p.wait(30)
    finally:
        p.kill()
        p.wait()
        p.stdout.close()
    killed = [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    assert len(killed) == 1 and killed[0].startswith("m-2.index.tmp-") \
        and f"-{p.pid}-" in killed[0]                  # named after its writer
    host = checkpoint_format._host_tag()
    dead = _dead_pid()
    planted = {
        "dead": f"checkpoint.tmp-{host}-{dead}-abcdefgh",
        "live": f"m-1.index.tmp-{host}-{os.getppid()}-abcdefgh",   # a save still running
        "mine": f"m-1.index.tmp-{host}-{os.getpid()}-abcdefgh",    # another thread's save
        "other_host": f"m-1.index.tmp-{host}x-{dead}-abcdefgh",  # a writer elsewhere (NFS)
        "old_style": "m-1.index.tmpabcdefgh",                    # no writer named: kept
    }
    for name in planted.values():
        (tmp_path / name).write_bytes(b"partial")
    with tw.Session() as sess:
        sess.run(tw.global_variables_initializer())
        path = saver.save(sess, prefix, global_step=1)
        left = sorted(os.listdir(tmp_path))
        assert left == sorted(["checkpoint", "m-1.index", "m-1.meta", planted["live"],
                               planted["mine"], planted["other_host"], planted["old_style"]])
        sess.run(w.assign(w + 1.0))
        saver.restore(sess, path)
        np.testing.assert_array_equal(sess.run(w), np.arange(6).reshape(2, 3))
    assert tw.train.latest_checkpoint(str(tmp_path)) == path
