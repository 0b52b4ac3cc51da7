"""The explorer's computations without HTTP: answers as dicts, the project's errors for bad input."""
import numpy as np
import pytest

from zfnet.errors import NotFound, UsageError
from ref import forward, softmax
from conftest import tiny_config, write_tiny_checkpoint


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    from zfnet.app.explorer import Explorer
    path, ds, pre = write_tiny_checkpoint(tmp_path_factory.mktemp("ex") / "final", tiny_config())
    ex = Explorer(path, dataset=ds)
    yield ex, ds, pre
    ex.close()


def test_answers_without_http(explorer):
    from zfnet.io.checkpoint import read_checkpoint
    ex, ds, pre = explorer
    d = ex.describe()
    assert d["name"] == "tiny" and d["methods"] == ["deconvnet", "guided", "gradient", "smoothgrad", "lrp"]
    sid = ex.sample_ids[0]
    px = ex.image(sid)["pixels"]
    _, arrays = read_checkpoint(ex.checkpoint)
    x = (px[None].astype(np.float64) - pre["mean"][0]) / pre["std"][0]
    p = softmax(forward(tiny_config(), arrays, x)["fc8"].reshape(1, -1))[0]
    top = ex.predict(sid, k=2)
    assert [t["index"] for t in top] == np.argsort(-p)[:2].tolist()
    assert top[0]["probability"] == pytest.approx(p.max(), rel=1e-4)
    occ = ex.occlusion(sid, size=4, stride=4)
    assert np.asarray(occ["probabilities"]).shape == (3, 3) and occ["p_unoccluded"] == pytest.approx(p.max(), rel=1e-4)


def test_bad_input_raises_lookup_and_value_errors(explorer):
    ex, _, _ = explorer
    sid = ex.sample_ids[0]
    with pytest.raises(LookupError, match="unknown image 'nope'"):
        ex.predict("nope")
    with pytest.raises(NotFound, match="unknown layer 'conv9': valid layers are conv1, relu1"):
        ex.features(sid, "conv9")
    with pytest.raises(LookupError, match=r"channel 9 of conv1 does not exist: valid channels are 0..3"):
        ex.project(sid, "conv1", 9, "deconvnet")
    with pytest.raises(ValueError, match="unknown method 'excitation': expected one of deconvnet"):
        ex.project(sid, "conv1", 0, "excitation")
    with pytest.raises(UsageError, match="empty upload"):
        ex.add_upload(b"")



def test_topk_without_the_dataset_says_how_to_compute_it(tmp_path):
    from zfnet.app.explorer import Explorer
    path, _, _ = write_tiny_checkpoint(tmp_path / "final", tiny_config())   # names dataset 'toy'
    ex = Explorer(path)
    assert ex.dataset is None and ex.describe()["topk_on_demand"] is False
    with pytest.raises(LookupError, match="no dataset top-9 for conv1 channel 0, and the dataset is not "
                                          "here") as e:
        ex.topk("conv1", 0)
    assert "CHECKPOINT/topk" in str(e.value) and str(tmp_path) not in str(e.value)
