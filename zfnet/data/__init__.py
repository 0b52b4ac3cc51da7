"""Datasets and images: obtain, verify, read.

=================  ==========================================================
``dataset``        :class:`Dataset` (uint8 images + labels), normalisation, crops
``fashion_mnist``  Fashion-MNIST from Debian's package, SHA-256 checked
``cifar``          CIFAR-10/100 python batches
``images``         image files and image-folder trees
``photos``         natural photos from two PyPI wheels
``natural``        Tiny ImageNet and Caltech-101 from their official downloads
``classes``        ImageNet class names
``digits``         scikit-learn's digits, drawn like MNIST
=================  ==========================================================

:func:`load_dataset` takes a name or a folder. No Theano in this wing.
"""
import os

from ..errors import DataNotFound, UsageError

# The datasets known by name. A checkpoint's ``dataset`` field is followed only when it is
# one of these: a path written in a checkpoint (a file from elsewhere) is never opened.
DATASET_NAMES = ("fashion-mnist", "fashion_mnist", "fmnist", "imagenet-photos", "tiny-imagenet",
                 "caltech101")


def dataset_name(given, stored, what="this command"):
    """The dataset name or folder to open: ``given`` (the user's), else ``stored`` (a
    checkpoint's) if it is a known name (:data:`DATASET_NAMES`); never a path read from a
    checkpoint. ``what`` names the command in the error."""
    if given is not None:
        return given
    if stored in DATASET_NAMES:
        return stored
    raise UsageError("%s needs --dataset: the checkpoint names the dataset %r, which is not one of "
                     "the known names (%s), and a path stored in a checkpoint is never followed"
                     % (what, stored, ", ".join(DATASET_NAMES)))


def dataset_for(model, dataset=None, what="this command"):
    """The dataset a command should use: ``dataset`` (a name or path the user gave, or a
    :class:`~zfnet.data.dataset.Dataset`) if given, else the one the checkpoint names if it
    is a known name (:func:`dataset_name`)."""
    if dataset is not None and not isinstance(dataset, str):
        return dataset
    return load_dataset(dataset_name(dataset, model.dataset, what), channels=model.input_shape[0])


def load_dataset(name, channels="auto"):
    """``fashion-mnist``, ``imagenet-photos`` (foolbox's 20 labelled ImageNet validation photos,
    test split only; ``data fetch photos``), ``tiny-imagenet`` (train / official val as test),
    ``caltech101`` (30 training and up to 50 test images per class, split 0), or a path: a CIFAR batch folder or an image-folder tree.
    ``channels``: how an image folder is read: "auto" (grey images as 1 channel, others as
    RGB) or a model's channel count (1 or 3)."""
    if name in ("fashion-mnist", "fashion_mnist", "fmnist"):
        from .fashion_mnist import load_fashion_mnist
        return load_fashion_mnist()
    if name == "tiny-imagenet":
        from .natural import load_tiny_imagenet
        return load_tiny_imagenet()
    if name == "caltech101":
        from .natural import load_caltech101
        return load_caltech101()
    if name == "imagenet-photos":
        from .photos import load_imagenet_photos
        return load_imagenet_photos()
    if os.path.isdir(name):
        if any(os.path.exists(os.path.join(name, f)) for f in ("data_batch_1", "test_batch")) \
                or os.path.isfile(os.path.join(name, "train")):
            from .cifar import load_cifar
            return load_cifar(name)
        from .images import load_image_folder
        from ..report import info
        return load_image_folder(name, channels=channels, log=info)
    raise DataNotFound("Unknown dataset %r: expected 'fashion-mnist', 'imagenet-photos', 'tiny-imagenet', "
                       "'caltech101' or a folder with CIFAR "
                    "python batches or one sub-folder of images per class" % (name,))


