"""Dataset scans spread over a Dask cluster: the dataset top-k of feature maps (Fig. 2).

``--scheduler local[:N]`` starts a :class:`dask.distributed.LocalCluster` of N worker
processes on this machine; ``--scheduler tcp://HOST:PORT`` uses an existing scheduler (a
user's ``dask-scheduler``/``dask-worker``, dask-jobqueue on SLURM, Kubernetes). The split is
cut into shards of whole batches; each task names its shard by index range and carries no
pixels: every worker loads the checkpoint, the dataset and its compiled function once per
process (not per task) and scans its shards. A tree of pairwise merges
(:func:`zfnet.vis.topk.merge_topk`, ties broken by image index) gives the same result, bit
for bit, as the scan in one process: the shards are the same batches, so the float32 activations
are the same numbers. A worker that dies has its shards recomputed by Dask elsewhere. The bits are the same when
the workers' BLAS uses as many threads as this process (a local cluster is started so; on a
cluster of your own, set ``OMP_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` alike): a
multi-threaded GEMM blocks its sums differently.

The checkpoint and the dataset must be at paths every worker sees (a shared file system), or
the dataset a known name (``fashion-mnist``) fetched on every worker.
"""
import os

import numpy as np

from ..errors import UsageError

_CACHE = {}   # per worker process: what was loaded and compiled, by (checkpoint, dataset, layers)


def connect(scheduler, timeout=5):
    """A Dask client for ``scheduler`` (``local``, ``local:N`` or ``tcp://HOST:PORT``);
    returns ``(client, cluster)``, the cluster None for an external scheduler. An address that
    cannot be reached is a :class:`~zfnet.errors.UsageError` naming it, within ``timeout`` s."""
    from dask.distributed import Client, LocalCluster
    if scheduler == "local" or scheduler.startswith("local:"):
        n = scheduler.partition(":")[2]
        if n and not n.isdigit() or n == "0":
            raise UsageError("--scheduler %r: expected local, local:N (N >= 1 worker processes) or "
                             "tcp://HOST:PORT" % scheduler)
        # Dask's nanny starts workers with 1 BLAS/OpenMP thread; keep this process's count, so a
        # worker's GEMMs are blocked as here and its float32 numbers are the same bits
        threads = os.environ.get("OMP_NUM_THREADS") or str(os.cpu_count() or 1)
        env = {v: os.environ.get(v, threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
        cluster = LocalCluster(n_workers=int(n or 2), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40, env=env)
        return Client(cluster), cluster
    if not scheduler.startswith("tcp://"):
        raise UsageError("--scheduler %r: expected local, local:N or tcp://HOST:PORT" % scheduler)
    try:
        return Client(scheduler, timeout="%ds" % timeout), None
    except (OSError, TimeoutError) as e:
        raise UsageError("cannot reach the Dask scheduler at %s within %d s (%s); start one with "
                         "`dask-scheduler` and workers with `dask-worker %s`"
                         % (scheduler, timeout, type(e).__name__, scheduler))


class cluster(object):
    """``with cluster(scheduler) as client:`` a client of :func:`connect`, closed (with its
    local cluster) on exit."""

    def __init__(self, scheduler, timeout=5):
        self.scheduler, self.timeout = scheduler, timeout

    def __enter__(self):
        self.client, self.local = connect(self.scheduler, self.timeout)
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        if self.local is not None:
            self.local.close()


def split_size(dataset, split, limit=None):
    """How many images the scan of ``split`` covers, read the cheapest way (an image folder is
    listed, not loaded)."""
    if _is_image_folder(dataset):
        from ..data.images import folder_files
        n = len(folder_files(dataset)[0][split][0])
    else:
        from ..data import load_dataset
        ds = load_dataset(dataset)
        n = len(ds.x_test if split == "test" else ds.x_train)
    return min(n, limit) if limit else n


def shards(n, batch_size, batches_per_shard):
    """Index ranges ``[(start, stop)]`` covering ``n`` images in whole batches."""
    step = batch_size * max(1, int(batches_per_shard))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _is_image_folder(dataset):
    return os.path.isdir(dataset) and not os.path.isfile(os.path.join(dataset, "train")) and not any(
        os.path.exists(os.path.join(dataset, f)) for f in ("data_batch_1", "test_batch"))


def plan(dataset, split, limit, n_images, batch_size=256, batches_per_shard=4):
    """The shards of a scan: ``(paths, labels, start, stop)``, with ``paths``/``labels`` the
    shard's files for an image folder (workers read only those) and None otherwise (workers
    load the dataset once and take ``start:stop``)."""
    ranges = shards(n_images, batch_size, batches_per_shard)
    if not _is_image_folder(dataset):
        return [(None, None, s, e) for s, e in ranges]
    from ..data.images import folder_files
    paths, labels = folder_files(dataset)[0][split]
    paths, labels = (paths[:limit], labels[:limit]) if limit else (paths, labels)
    return [(paths[s:e], labels[s:e], s, e) for s, e in ranges]


def _model(checkpoint):
    key = ("model", os.path.abspath(checkpoint))
    if key not in _CACHE:
        from ..io.checkpoint import load_model
        _CACHE[key] = load_model(checkpoint)
    return _CACHE[key]


def _compiled(checkpoint, kind, layers=()):
    """A compiled function of the worker's model, built once per process."""
    key = (kind, os.path.abspath(checkpoint), tuple(layers))
    if key not in _CACHE:
        net = _model(checkpoint).net
        if kind == "maxima":
            from ..vis.topk import layer_maxima_function
            _CACHE[key] = layer_maxima_function(net, layers)
        elif kind == "logits":
            from ..evaluate import logits_function
            _CACHE[key] = logits_function(net)
        else:
            from ..evaluate import features_function
            _CACHE[key] = features_function(net, layers)
    return _CACHE[key]


def _images(checkpoint, dataset, split, limit, shard):
    """A shard's uint8 images at the model's input size, and their labels."""
    from ..data.dataset import crop_batch
    model = _model(checkpoint)
    paths, labels, start, stop = shard
    if paths is not None:
        from ..data.images import folder_files, folder_format, load_files
        key = ("format", dataset, split)
        if key not in _CACHE:  # the whole folder's format, as load_image_folder reads it
            splits = folder_files(dataset)[0]
            _CACHE[key] = folder_format(splits["train"][0] + splits["test"][0],
                                        channels=model.input_shape[0])[:2]
        size, channels = _CACHE[key]
        x = load_files(paths, size, channels)
        return crop_batch(x, model.input_shape[1:]), np.asarray(labels)
    key = ("data", os.path.abspath(checkpoint), dataset, split, limit)
    if key not in _CACHE:
        from ..data import load_dataset
        ds = load_dataset(dataset)
        x, y = (ds.x_test, ds.y_test) if split == "test" else (ds.x_train, ds.y_train)
        x, y = (x[:limit], y[:limit]) if limit else (x, y)
        _CACHE[key] = (crop_batch(x, model.input_shape[1:]), y)
    x, y = _CACHE[key]
    return x[start:stop], y[start:stop]


def scan_shard(checkpoint, dataset, split, limit, layers, channels, k, batch_size, shard):
    """One task: the top-``k`` of one shard of the split (global image indices)."""
    from ..vis.topk import scan_topk
    x, _ = _images(checkpoint, dataset, split, limit, shard)
    return scan_topk(_model(checkpoint), x, layers, channels, k, batch_size, progress=False,
                     fn=_compiled(checkpoint, "maxima", layers), offset=shard[2])


def evaluate_shard(checkpoint, dataset, split, limit, batch_size, shard):
    """One task: (images, summed loss, top-1 errors, top-5 errors) of one shard."""
    from ..evaluate import evaluate_logits
    model = _model(checkpoint)
    x, y = _images(checkpoint, dataset, split, limit, shard)
    pre = model.preprocessing
    loss, top1, top5 = evaluate_logits(_compiled(checkpoint, "logits"), x, y, pre["mean"], pre["std"],
                                       model.input_shape[1:], batch_size)
    n = len(x)
    return np.array([n, loss * n, round(top1 * n), round(top5 * n)], np.float64)


def features_shard(checkpoint, dataset, split, limit, layers, batch_size, shard):
    """One task: each layer's flattened output (n, D) for one shard, and its labels."""
    from ..evaluate import batched
    model = _model(checkpoint)
    x, y = _images(checkpoint, dataset, split, limit, shard)
    return batched(_compiled(checkpoint, "features", layers), x, batch_size, prepare=model.preprocess), y


def _submit_all(client, fn, args, parts, progress, desc):
    from dask.distributed import as_completed
    from ..report import progress_bar
    futures = [client.submit(fn, *(args + (p,)), pure=False, retries=2) for p in parts]
    bar = progress_bar(progress, total=len(futures), desc=desc, unit="shard", leave=False)
    for _ in as_completed(futures):
        bar.update(1)
    bar.close()
    return futures


def merge(a, b, k):
    """Merge two shard results (every layer)."""
    from ..vis.topk import merge_topk
    return {l: merge_topk(a[l], b[l], k) for l in a}


def scan_topk_dask(client, checkpoint, dataset, split, layers, channels, k=9, batch_size=256,
                   limit=None, batches_per_shard=4, progress=True, n_images=None):
    """:func:`zfnet.vis.topk.scan_topk` over a Dask cluster: shards of whole batches scanned
    on the workers, merged pairwise in a tree. ``dataset``: a name or a path the workers see;
    ``n_images``: the split's size (as this process sees it)."""
    parts = plan(dataset, split, limit, n_images, batch_size, batches_per_shard)
    futures = _submit_all(client, scan_shard, (checkpoint, dataset, split, limit, list(layers), channels,
                                               k, batch_size), parts, progress, "shards")
    while len(futures) > 1:  # a tree of pairwise merges, on the workers
        nxt = [client.submit(merge, futures[i], futures[i + 1], k, pure=False)
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0].result()


def evaluate_dask(client, checkpoint, dataset, split="test", limit=None, n_images=None, batch_size=256,
                  batches_per_shard=4, progress=True):
    """Loss, top-1 and top-5 error of a checkpoint on a split, evaluated on a Dask cluster (the
    same numbers as :func:`zfnet.evaluate.evaluate_checkpoint` up to the order of the sums)."""
    parts = plan(dataset, split, limit, n_images, batch_size, batches_per_shard)
    futures = _submit_all(client, evaluate_shard, (checkpoint, dataset, split, limit, batch_size), parts,
                          progress, "evaluate")
    n, loss, top1, top5 = np.sum(client.gather(futures), axis=0)
    return {"dataset": dataset, "split": split, "images": int(n), "loss": loss / n, "top1": top1 / n,
            "top5": top5 / n, "checkpoint": os.path.abspath(checkpoint)}


def features_dask(client, checkpoint, dataset, split, layers, limit=None, n_images=None, batch_size=256,
                  batches_per_shard=4, progress=True):
    """Each layer's flattened output for every image of a split, computed on a Dask cluster:
    ``([(n, D) per layer], labels)`` in the split's order (the linear probes of Table 7)."""
    parts = plan(dataset, split, limit, n_images, batch_size, batches_per_shard)
    futures = _submit_all(client, features_shard, (checkpoint, dataset, split, limit, list(layers),
                                                   batch_size), parts, progress, "features")
    results = client.gather(futures)
    feats = [np.concatenate([r[0][i] for r in results]) for i in range(len(layers))]
    return feats, np.concatenate([r[1] for r in results])


def cluster_scanner(scheduler, checkpoint, dataset):
    """A ``scan`` for :func:`zfnet.vis.figures.topk` that runs on the Dask cluster at
    ``scheduler``: ``checkpoint`` a folder and ``dataset`` a name or folder the workers can
    open (None: the checkpoint's own dataset, if it is a known name)."""
    from ..data import dataset_name

    def scan(model, x, layers, channels, k, split, limit, progress):
        from ..vis.topk import layer_maxima_function
        spec = dataset_name(dataset, model.dataset, "--scheduler")
        layer_maxima_function(model.net, layers)  # compile once here: the workers find it cached
        with cluster(scheduler) as client:
            return scan_topk_dask(client, checkpoint, spec, split, layers, channels, k, limit=limit,
                                  progress=progress, n_images=len(x))
    return scan
