"""The package's shape: no import cycles, and the Theano-free modules stay Theano-free."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

THEANO_FREE = ["zfnet.errors", "zfnet.files", "zfnet.data", "zfnet.data.dataset", "zfnet.data.images",
               "zfnet.data.fashion_mnist", "zfnet.data.cifar", "zfnet.data.photos", "zfnet.data.classes",
               "zfnet.data.digits", "zfnet.nn.configs", "zfnet.nn.shapes", "zfnet.nn.flops", "zfnet.io.checkpoint",
               "zfnet.io.onnx", "zfnet.vis.render", "zfnet.vis.plots",
               "zfnet.vis.methods", "zfnet.vis.occlusion", "zfnet.repro.analysis", "zfnet.cluster.scan",
               "zfnet.report", "zfnet.cli"]


def test_no_import_cycles_and_wings_import_downwards():
    import import_graph
    known = import_graph.modules()
    graph = {m: import_graph.imports_of(m, p, known) for m, p in known.items()}
    assert "zfnet.nn.model" in graph and "zfnet.app.explorer" in graph
    # the wings below never import the ones above (nn < io, data < vis < app, repro), and the
    # top-level modules have their ranks too: training never enters through the reproduction
    # wing, the library never imports the command line or the benchmarks
    order = {"errors": -4, "files": -3, "report": -3, "theano_config": -3, "compat": -2.5, "memory": -3,
             "backend": -2, "nn": 0, "data": 0, "io": 1, "evaluate": 1.5, "vis": 2, "train": 2.5,
             "app": 3, "repro": 3, "cluster": 3, "cli": 5, "__main__": 6}
    for m, deps in graph.items():
        wing = m.split(".")[1] if m.count(".") >= 1 else None
        for d in deps:
            dw = d.split(".")[1] if d.count(".") >= 1 else None
            if wing in order and dw in order and wing != dw:
                assert order[dw] < order[wing], (m, d)
    r = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "import_graph.py")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and "cycles: 0" in r.stdout, r.stdout


def test_theano_free_modules_do_not_import_theano():
    code = "import sys\n" + "".join("import %s\n" % m for m in THEANO_FREE) + \
        "assert 'theano' not in sys.modules, [m for m in sys.modules if 'theano' in m][:3]\nprint('ok')"
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
