"""scikit-learn's 1,797 handwritten digits, drawn like MNIST (a far-transfer dataset)."""
import numpy as np


def digits_as_fashion_mnist():
    """scikit-learn's 1,797 8x8 digits as 28x28 uint8 images (N, 1, 28, 28), like MNIST:
    values 0-16 scaled to 0-255, the 8x8 image resized to 20x20 (bilinear) and centred
    on a 28x28 black canvas. Returns (images, labels)."""
    from PIL import Image
    try:
        from sklearn.datasets import load_digits
    except ImportError:  # pragma: no cover - requirements.txt has it
        raise ImportError("the digits experiments need scikit-learn (pip install -r requirements.txt)")
    d = load_digits()
    imgs = np.clip(d.images * (255.0 / 16.0), 0, 255).round().astype(np.uint8)
    out = np.zeros((len(imgs), 1, 28, 28), np.uint8)
    for i, im in enumerate(imgs):
        out[i, 0, 4:24, 4:24] = np.asarray(Image.fromarray(im).resize((20, 20), Image.BILINEAR))
    return out, d.target.astype(np.int32)
