"""Run a tiny training in a subprocess; optionally SIGKILL itself in a chosen window.

usage: python train_helper.py OUT EPOCHS [--kill-at-epoch N] [--kill-window W] [--resume]
With --kill-at-epoch N the process kills itself (SIGKILL, no clean-up) after
writing the first file of epoch N's checkpoint, i.e. in the middle of it.
With --kill-window W it kills itself in the last epoch's writes after its checkpoint:
``latest`` (after latest.json), ``logs`` (after log.json) or ``final`` (in the middle of
writing final/, after its model.json).
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zfnet import files, train  # noqa: E402
from conftest import tiny_config, toy_dataset  # noqa: E402

out, epochs = sys.argv[1], int(sys.argv[2])
real_npz, real_bytes = files.atomic_write_npz, files.atomic_write_bytes
if "--kill-at-epoch" in sys.argv:
    kill_epoch = int(sys.argv[sys.argv.index("--kill-at-epoch") + 1])

    def write_then_die(path, arrays):
        real_npz(path, arrays)
        if ".epoch-%03d.tmp-" % kill_epoch in path:
            os.kill(os.getpid(), signal.SIGKILL)
    files.atomic_write_npz = write_then_die
if "--kill-window" in sys.argv:
    window = sys.argv[sys.argv.index("--kill-window") + 1]
    last = os.path.join(out, "checkpoints", "epoch-%03d" % epochs)

    def write_bytes_then_die(path, data):
        real_bytes(path, data)
        if not os.path.isdir(last):
            return  # not the last epoch yet
        name = os.path.basename(path)
        if (window == "latest" and name == "latest.json") or (window == "logs" and name == "log.json") \
                or (window == "final" and ".final.tmp-" in path and name == "model.json"):
            os.kill(os.getpid(), signal.SIGKILL)
    files.atomic_write_bytes = write_bytes_then_die

s = train.TrainSettings(epochs=epochs, batch_size=32, lr=0.05, val_size=40, seed=3,
                        schedule="step", step_size=2, keep=(1,))
train.train(tiny_config(), toy_dataset(), s, out, resume="--resume" in sys.argv, progress=False)
