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
