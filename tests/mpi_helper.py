"""A tiny training without dropout or augmentation, on one process or under mpiexec.

usage: python mpi_helper.py OUT [--distributed] [--kill-rank R] [--perturb-rank R] [--epochs N] [--resume]
With --kill-rank R, rank R kills itself (SIGKILL) at its second gradient step; with
--perturb-rank R, rank R's weights drift after its first step (the checksum must catch it).
"""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from zfnet import train  # noqa: E402
from conftest import tiny_config, toy_dataset  # noqa: E402

out = sys.argv[1]
cfg = tiny_config()
for spec in cfg["layers"]:
    if spec["type"] == "dropout":
        spec["p"] = 0.0  # the same randomness on 1 or N ranks: none
world = None
if "--distributed" in sys.argv:
    from zfnet.cluster.mpi import World
    world = World()
    if "--kill-rank" in sys.argv and world.rank == int(sys.argv[sys.argv.index("--kill-rank") + 1]):
        import zfnet.train as t
        real, calls = t._distributed_step, []

        def die(*a, **k):
            calls.append(1)
            if len(calls) == 2:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(*a, **k)
        t._distributed_step = die
    if "--perturb-rank" in sys.argv and world.rank == int(sys.argv[sys.argv.index("--perturb-rank") + 1]):
        import zfnet.train as t
        real_step, done = t._distributed_step, []

        def drift(trainer, *a, **k):
            out = real_step(trainer, *a, **k)
            if not done:
                p = trainer.params[0]
                p.set_value(p.get_value() + 1e-3)
                done.append(1)
            return out
        t._distributed_step = drift
epochs = int(sys.argv[sys.argv.index("--epochs") + 1]) if "--epochs" in sys.argv else 2
s = train.TrainSettings(epochs=epochs, batch_size=32, lr=0.05, val_size=40, seed=3, crop_pad=0, flip=False,
                        schedule="step", step_size=1)
train.train(cfg, toy_dataset(), s, out, progress=False, world=world, log=lambda *a: None,
            resume="--resume" in sys.argv)
