"""Dataset top-k scans on a Dask LocalCluster of 2 worker processes: the same result as one
process, bit for bit, even when a worker is killed in the middle; a clear error for a scheduler
that cannot be reached."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from zfnet.data.dataset import DATA_DIR

pytest.importorskip("dask.distributed")
pytestmark = pytest.mark.slow
LAYERS = ["conv2", "relu5"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if not os.path.exists(os.path.join(DATA_DIR, "fashion-mnist", "t10k-labels-idx1-ubyte.gz")):
        pytest.skip("Fashion-MNIST not fetched")
    from zfnet.data.fashion_mnist import load_fashion_mnist
    from zfnet.io.checkpoint import load_model, model_json, write_checkpoint
    from zfnet.nn import configs, model as modelmod
    from zfnet.vis.topk import scan_topk
    cfg = configs.get_config("small")
    net = modelmod.build(cfg)
    path = str(tmp_path_factory.mktemp("dask") / "ck")
    write_checkpoint(path, {"model.json": model_json(cfg, net, {"mean": [72.9], "std": [90.0]}, dataset="fashion-mnist"),
                            "model.npz": modelmod.get_weights(net)})
    m = load_model(path)
    x = load_fashion_mnist().x_test[:3000]
    chans = {"conv2": [0, 5, 17], "relu5": [3, 40]}
    ref = scan_topk(m, x, LAYERS, chans, k=9, progress=False)   # also warms the compile cache
    return path, chans, ref


def _cluster():
    from zfnet.cluster.scan import connect
    return connect("local:2")


def _same(got, ref):
    for l in LAYERS:
        for key in ("images", "positions", "activations"):
            np.testing.assert_array_equal(got[l][key], ref[l][key], err_msg="%s %s" % (l, key))


def test_the_distributed_scan_equals_the_single_process_scan(setup):
    from zfnet.cluster.scan import scan_topk_dask
    path, chans, ref = setup
    client, cluster = _cluster()
    try:
        got = scan_topk_dask(client, path, "fashion-mnist", "test", LAYERS, chans, k=9, limit=3000,
                             batches_per_shard=2, progress=False, n_images=3000)
        assert len(client.scheduler_info()["workers"]) == 2
    finally:
        client.close(); cluster.close()
    _same(got, ref)


def test_a_worker_killed_mid_scan_changes_nothing(setup):
    from zfnet.cluster.scan import scan_topk_dask
    path, chans, ref = setup
    client, cluster = _cluster()
    out = {}
    try:
        t = threading.Thread(target=lambda: out.update(r=scan_topk_dask(
            client, path, "fashion-mnist", "test", LAYERS, chans, k=9, limit=3000,
            batches_per_shard=1, progress=False, n_images=3000)))
        t.start()

        def states(dask_scheduler):
            busy = [ws.address for ws in dask_scheduler.workers.values() if ws.processing]
            done = sum(1 for ts in dask_scheduler.tasks.values() if ts.state == "memory")
            return done, busy
        deadline = time.time() + 120
        done, busy = client.run_on_scheduler(states)
        while not (done >= 1 and busy) and time.time() < deadline:  # some shards done, some running
            time.sleep(0.05)
            done, busy = client.run_on_scheduler(states)
        assert done >= 1 and busy, "never caught the scan in the middle"
        os.kill(client.run(os.getpid, workers=[busy[0]])[busy[0]], signal.SIGKILL)  # a busy worker
        t.join(300)
        assert not t.is_alive() and "r" in out
    finally:
        client.close(); cluster.close()
    _same(out["r"], ref)


def test_an_unreachable_scheduler_is_named_quickly():
    from zfnet.cluster.scan import connect
    t0 = time.time()
    with pytest.raises(ValueError, match=r"cannot reach the Dask scheduler at tcp://127.0.0.1:9 within 3 s"):
        connect("tcp://127.0.0.1:9", timeout=3)
    assert time.time() - t0 < 20
    with pytest.raises(ValueError, match="expected local, local:N"):
        connect("local:zero")


def test_topk_command_on_a_local_cluster_writes_what_one_process_writes(setup, tmp_path):
    import subprocess
    import sys
    path, _, _ = setup
    args = [sys.executable, "-m", "zfnet", "topk", path, "--layer", "conv2", "--channels", "0", "5",
            "--limit", "1000", "--quiet"]
    one = subprocess.run(args + ["--out", str(tmp_path / "one")], capture_output=True, text=True)
    two = subprocess.run(args + ["--out", str(tmp_path / "two"), "--scheduler", "local:2"],
                         capture_output=True, text=True)
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    a, b = np.load(str(tmp_path / "one" / "topk.npz")), np.load(str(tmp_path / "two" / "topk.npz"))
    assert sorted(a.files) == sorted(b.files)
    for key in a.files:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    bad = subprocess.run(args + ["--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:9"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in bad.stderr


def test_evaluate_and_features_on_the_cluster_match_one_process(setup, tmp_path):
    import subprocess
    import sys
    path, _, _ = setup
    base = [sys.executable, "-m", "zfnet"]
    run = lambda *a: subprocess.run(base + [str(x) for x in a], capture_output=True, text=True)
    one = run("evaluate", path, "--limit", "2000", "--quiet", "--json", tmp_path / "e1.json")
    two = run("evaluate", path, "--limit", "2000", "--quiet", "--json", tmp_path / "e2.json", "--scheduler", "local:2")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    import json
    e1, e2 = json.load(open(str(tmp_path / "e1.json"))), json.load(open(str(tmp_path / "e2.json")))
    assert e1["images"] == e2["images"] == 2000 and e1["top1"] == e2["top1"] and e1["top5"] == e2["top5"]
    assert e2["loss"] == pytest.approx(e1["loss"], rel=1e-9)
    f1 = run("features", path, "--layer", "relu5", "--layer", "fc6", "--limit", "1500", "--quiet",
             "--out", tmp_path / "f1.npz")
    f2 = run("features", path, "--layer", "relu5", "--layer", "fc6", "--limit", "1500", "--quiet",
             "--out", tmp_path / "f2.npz", "--scheduler", "local:2")
    assert f1.returncode == 0 and f2.returncode == 0, f2.stderr[-2000:]
    a, b = np.load(str(tmp_path / "f1.npz")), np.load(str(tmp_path / "f2.npz"))
    assert a["relu5"].shape == (1500, 64 * 7 * 7) and a["fc6"].shape[0] == 1500
    for key in ("relu5", "fc6", "labels"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_image_folder_shards_name_their_files(setup, tmp_path):
    """For an image folder a shard carries its files' paths (workers read only those), and the
    scan over them equals the scan of the folder loaded in one process."""
    from PIL import Image
    from zfnet.data.images import load_image_folder
    from zfnet.cluster.scan import cluster, plan, scan_topk_dask, split_size
    from zfnet.io.checkpoint import load_model
    from zfnet.vis.topk import scan_topk
    from zfnet.data.dataset import crop_batch
    path, chans, _ = setup
    rng = np.random.RandomState(0)
    for c in ("a", "b"):
        os.makedirs(str(tmp_path / "imgs" / c))
        for i in range(300):
            Image.fromarray(rng.randint(0, 256, (28, 28)).astype(np.uint8)).save(
                str(tmp_path / "imgs" / c / ("%03d.png" % i)))
    folder = str(tmp_path / "imgs")
    n = split_size(folder, "test")
    parts = plan(folder, "test", None, n, batch_size=32, batches_per_shard=2)
    assert n == 120 and len(parts) == 2 and all(len(p[0]) == p[3] - p[2] for p in parts)
    assert all(isinstance(p, str) and p.startswith(folder) for p in parts[0][0])
    m = load_model(path)
    ds = load_image_folder(folder, channels=1)
    ref = scan_topk(m, crop_batch(ds.x_test, (28, 28)), LAYERS, chans, k=9, batch_size=32, progress=False)
    with cluster("local:2") as client:
        got = scan_topk_dask(client, path, folder, "test", LAYERS, chans, k=9, batch_size=32,
                             batches_per_shard=2, progress=False, n_images=n)
    _same(got, ref)
