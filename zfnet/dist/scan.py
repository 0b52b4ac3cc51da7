"""Dataset scans spread over a Dask cluster: the dataset top-k of feature maps (Fig. 2).

``--scheduler local[:N]`` starts a :class:`dask.distributed.LocalCluster` of N worker
processes on this machine; ``--scheduler tcp://HOST:PORT`` uses an existing scheduler (a
user's ``dask-scheduler``/``dask-worker``, dask-jobqueue on SLURM, Kubernetes). The split is
cut into shards of whole batches; each task names its shard by index range and carries no
pixels: every worker loads the checkpoint, the dataset and its compiled function once per
process (not per task) and scans its shards. A tree of pairwise merges
(:func:`zfnet.vis.figures.merge_topk`, ties broken by image index) gives the same result, bit
for bit, as the scan in one process: the shards are the same batches, so the float32 activations
are the same numbers. A worker that dies has its shards recomputed by Dask elsewhere.

The checkpoint and the dataset must be at paths every worker sees (a shared file system), or
the dataset a known name (``fashion-mnist``) fetched on every worker.
"""
import os


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
        cluster = LocalCluster(n_workers=int(n or 2), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        return Client(cluster), cluster
    if not scheduler.startswith("tcp://"):
        raise UsageError("--scheduler %r: expected local, local:N or tcp://HOST:PORT" % scheduler)
    try:
        return Client(scheduler, timeout="%ds" % timeout), None
    except (OSError, TimeoutError) as e:
        raise UsageError("cannot reach the Dask scheduler at %s within %d s (%s); start one with "
                         "`dask-scheduler` and workers with `dask-worker %s`"
                         % (scheduler, timeout, type(e).__name__, scheduler))


def shards(n, batch_size, batches_per_shard):
    """Index ranges ``[(start, stop)]`` covering ``n`` images in whole batches."""
    step = batch_size * max(1, int(batches_per_shard))
    return [(s, min(s + step, n)) for s in range(0, n, step)]


def _worker_state(checkpoint, dataset, split, limit, layers):
    """Load (once per worker process) the model, the split's images at its input size, and the
    compiled per-channel maxima of ``layers``."""
    key = (os.path.abspath(checkpoint), dataset, split, limit, tuple(layers))
    if key not in _CACHE:
        from ..data import load_dataset
        from ..data.dataset import crop_batch
        from ..io.checkpoint import load_model
        from ..vis.figures import layer_maxima_function
        model = load_model(checkpoint)
        ds = load_dataset(dataset)
        x = ds.x_test if split == "test" else ds.x_train
        x = x[:limit] if limit else x
        x = crop_batch(x, model.input_shape[1:])
        _CACHE[key] = (model, x, layer_maxima_function(model.net, layers))
    return _CACHE[key]


def scan_shard(checkpoint, dataset, split, limit, layers, channels, k, batch_size, start, stop):
    """One task: the top-``k`` of images ``start:stop`` of the split (global indices)."""
    from ..vis.figures import scan_topk
    model, x, fn = _worker_state(checkpoint, dataset, split, limit, layers)
    return scan_topk(model, x[start:stop], layers, channels, k, batch_size, progress=False, fn=fn,
                     offset=start)


def merge(a, b, k):
    """Merge two shard results (every layer)."""
    from ..vis.figures import merge_topk
    return {l: merge_topk(a[l], b[l], k) for l in a}


def scan_topk_dask(client, checkpoint, dataset, split, layers, channels, k=9, batch_size=256,
                   limit=None, batches_per_shard=4, progress=True, n_images=None):
    """:func:`zfnet.vis.figures.scan_topk` over a Dask cluster: shards of whole batches scanned
    on the workers, merged pairwise in a tree. ``dataset``: a name or a path the workers see;
    ``n_images``: the split's size (as this process sees it)."""
    from dask.distributed import as_completed
    from ..report import progress_bar
    parts = shards(n_images, batch_size, batches_per_shard)
    futures = [client.submit(scan_shard, checkpoint, dataset, split, limit, list(layers), channels, k,
                             batch_size, s, e, pure=False, retries=2) for s, e in parts]
    bar = progress_bar(progress, total=len(futures), desc="shards", unit="shard", leave=False)
    for _ in as_completed(futures):
        bar.update(1)
    bar.close()
    while len(futures) > 1:  # a tree of pairwise merges, on the workers
        nxt = [client.submit(merge, futures[i], futures[i + 1], k, pure=False)
               for i in range(0, len(futures) - 1, 2)]
        if len(futures) % 2:
            nxt.append(futures[-1])
        futures = nxt
    return futures[0].result()


def cluster_scanner(scheduler, checkpoint, dataset):
    """A ``scan`` for :func:`zfnet.vis.figures.topk` that runs on the Dask cluster at
    ``scheduler``: ``checkpoint`` a folder and ``dataset`` a name or folder the workers can
    open (None: the checkpoint's own dataset, if it is a known name)."""
    from ..data import DATASET_NAMES

    def scan(model, x, layers, channels, k, split, limit, progress):
        from ..vis.figures import layer_maxima_function
        spec = dataset if dataset is not None else model.dataset
        if spec is None or (dataset is None and spec not in DATASET_NAMES):
            raise UsageError("--scheduler needs --dataset: a name or a folder the workers can open")
        layer_maxima_function(model.net, layers)  # compile once here: the workers find it cached
        client, cluster = connect(scheduler)
        try:
            return scan_topk_dask(client, checkpoint, spec, split, layers, channels, k, limit=limit,
                                  progress=progress, n_images=len(x))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return scan
