"""Weight files of real layouts with random weights: stand-ins for downloads that cannot be had.

``write_keras_vgg16`` writes a Keras 2 HDF5 file with VGG16's layer names, shapes and
layout; ``write_zfnet512_onnx`` the ZFNet-512 ONNX graph from the ``onnx`` wheel with
its placeholders replaced by stored random weights. The benchmarks time the importers
on them and the tests check the importers against onnxruntime and a numpy Keras.
"""
import os

import numpy as np


def write_keras_vgg16(path, include_top=True, seed=0):
    """A Keras 2 weights file with VGG16's layer names, shapes and layout (``kernel:0``
    ``(h, w, in, out)``, channels-last flatten before ``fc1``) and random He-scale weights: the
    size and structure of ``vgg16_weights_tf_dim_ordering_tf_kernels[_notop].h5``."""
    import h5py
    from zfnet.nn import configs
    cfg = configs.get_config("vgg16" if include_top else "vgg16-notop")
    rng = np.random.default_rng(seed)
    c, h, w = cfg["input_shape"]
    with h5py.File(path, "w") as f:
        names = ["input_1"]
        f.create_group("input_1").attrs["weight_names"] = []
        hw = h
        for spec in cfg["layers"]:
            if spec["type"] == "maxpool":
                hw //= 2
            if spec["type"] not in ("conv", "fc"):
                continue
            n = spec["name"]
            if spec["type"] == "conv":
                k = (3, 3, c, spec["num_filters"]); c = spec["num_filters"]
            else:
                k = ((hw * hw * c) if n == "fc1" else c, spec["num_units"]); c = spec["num_units"]
            g = f.create_group(n)
            g.attrs["weight_names"] = [("%s/kernel:0" % n).encode(), ("%s/bias:0" % n).encode()]
            fan_in = int(np.prod(k[:-1]))   # He scale, so activations neither vanish nor explode
            g.create_dataset("%s/kernel:0" % n, data=rng.standard_normal(k, np.float32) * np.float32(np.sqrt(2.0 / fan_in)))
            g.create_dataset("%s/bias:0" % n, data=np.zeros(k[-1], np.float32))
            names.append(n)
        f.attrs["layer_names"] = [x.encode() for x in names]
    return path


def light_zfnet512_path():
    """``light_zfnet512.onnx`` in the installed ``onnx`` wheel (ZFNet-512's graph, placeholder weights)."""
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_zfnet512.onnx")


def write_zfnet512_onnx(path, seed=0):
    """ZFNet-512's graph from the onnx wheel with its ``ConstantOfShape`` placeholders
    replaced by initializers of random weights (He scale; biases 0.01 normal): the layout of the model zoo's
    ``zfnet512-*.onnx`` (weights stored in the file), at its size."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(light_zfnet512_path())
    g = m.graph
    shapes = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    rng = np.random.default_rng(seed)
    keep, inits = [], []
    for node in g.node:
        if node.op_type == "ConstantOfShape":
            shape = tuple(int(s) for s in shapes[node.input[0]])
            fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 0  # conv (out, in, h, w); Gemm (out, in), transB
            a = rng.standard_normal(shape, np.float32) * np.float32(np.sqrt(2.0 / fan_in) if fan_in else 0.01)
            inits.append(numpy_helper.from_array(a, node.output[0]))
        else:
            keep.append(node)
    del g.node[:]
    g.node.extend(keep)
    used = {i for n in keep for i in n.input}
    rest = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(rest + inits)
    inputs = [i for i in g.input if i.name in used]   # drop the placeholders' shape inputs
    del g.input[:]
    g.input.extend(inputs)
    onnx.save(m, path)
    return path
