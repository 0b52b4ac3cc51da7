"""Run a tiny training in a subprocess; optionally SIGKILL itself mid-checkpoint.

usage: python train_helper.py OUT EPOCHS [--kill-at-epoch N] [--resume]
With --kill-at-epoch N the process kills itself (SIGKILL, no clean-up) after
writing the first file of epoch N's checkpoint, i.e. in the middle of it.
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zfnet import files as checkpoint, train
from ref import tiny_config, toy_dataset  # noqa: E402

out, epochs = sys.argv[1], int(sys.argv[2])
if "--kill-at-epoch" in sys.argv:
    kill_epoch = int(sys.argv[sys.argv.index("--kill-at-epoch") + 1])
    real = checkpoint.atomic_write_npz

    def write_then_die(path, arrays):
        real(path, arrays)
        if ".epoch-%03d.tmp-" % kill_epoch in path:
            os.kill(os.getpid(), signal.SIGKILL)
    checkpoint.atomic_write_npz = write_then_die

s = train.TrainSettings(epochs=epochs, batch_size=32, lr=0.05, val_size=40, seed=3,
                        schedule="step", step_size=2, keep=(1,))
train.train(tiny_config(), toy_dataset(), s, out, resume="--resume" in sys.argv, progress=False)
