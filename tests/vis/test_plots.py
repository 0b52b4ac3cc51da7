import numpy as np

from zfnet.vis import plots


def test_filter_grid_common_scale_by_hand():
    W = np.zeros((2, 1, 2, 2)); W[0, 0, 0, 0] = 2.0; W[1, 0, 1, 1] = -1.0
    g = plots.filter_grid(W, pad=1)
    assert g.shape == (1 * 3 + 1, 2 * 3 + 1)  # 2 filters side by side, 1 pixel borders
    assert g[1, 1] == 1.0          # the largest weight -> white
    assert g[2, 5] == 0.25         # -1 with a common factor of 2 -> 0.5 - 0.25
    assert g[1, 2] == 0.5          # zero -> mid-grey
    each = plots.filter_grid(W, pad=1, scale="each")
    assert each[2, 5] == 0.0       # stretched on its own


def test_curves_png(tmp_path):
    h = [dict(epoch=e, train_loss=1.0 / e, val_loss=1.1 / e, test_loss=1.2 / e, train_err=0.3 / e,
              val_top1=0.3 / e, test_top1=0.3 / e, test_top5=0.01) for e in (1, 2, 3)]
    p = plots.plot_curves(h, str(tmp_path / "c.png"))
    from PIL import Image
    assert Image.open(p).size[0] > 500


def test_filters_png_says_what_it_shows(tmp_path):
    from PIL import Image
    W = np.random.RandomState(0).randn(6, 32, 3, 3)
    assert plots.filters_caption(W, "conv2") == "conv2: 6 filters 3x3, each shown in the mean over its 32 input channels"
    assert plots.filters_caption(W[:, :3], "conv1") == "conv1: 6 filters 3x3, each shown in colour (RGB)"
    path = plots.save_filters_png(W, str(tmp_path / "f.png"), layer="conv2")
    img = np.asarray(Image.open(path).convert("L"))
    caption, grid = img[:18], img[18:]
    assert (caption < 128).any()                    # text is drawn
    want = (np.clip(plots.filter_grid(W), 0, 1) * 255).round()
    np.testing.assert_array_equal(grid[:want.shape[0] * 8:8, :want.shape[1] * 8:8], want)
