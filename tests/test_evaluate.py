import numpy as np

from zfnet.io import checkpoint as ckpt
from zfnet.data import dataset as data
from zfnet.nn import model
from zfnet.evaluate import evaluate_checkpoint, logits_function
from ref import forward, softmax
from conftest import tiny_config, toy_dataset


def test_metrics_match_a_numpy_evaluation(tmp_path):
    cfg = tiny_config()
    net = model.build(cfg)
    rng = np.random.RandomState(0)
    arrays = {k: (rng.randn(*v.shape) * 0.3).astype("float32") for k, v in model.get_weights(net).items()}
    model.set_weights(net, arrays)
    pre = {"mean": [40.0], "std": [70.0], "units": "pixel values 0-255"}
    path = str(tmp_path / "ck")
    ckpt.write_checkpoint(path, {"model.json": ckpt.model_json(cfg, net, pre, ["a", "b", "c"]),
                                 "model.npz": model.get_weights(net)})
    ds = toy_dataset(n_train=10, n_test=50)
    r = evaluate_checkpoint(path, ds, progress=False, batch_size=16)
    x = data.normalize(ds.x_test, pre["mean"], pre["std"])
    p = forward(cfg, arrays, x)["prob"][:, :, 0, 0]
    y = ds.y_test
    assert r["images"] == 50
    np.testing.assert_allclose(r["loss"], -np.log(p[np.arange(50), y]).mean(), rtol=1e-4)
    assert r["top1"] == np.mean(p.argmax(axis=1) != y)
    assert r["top5"] == 0.0  # three classes
    np.testing.assert_allclose(softmax(logits_function(net)(x)), p, rtol=1e-4, atol=1e-6)
