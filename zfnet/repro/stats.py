"""The statistics the verdicts use: effects over seeds, splits or images, and the words."""
import numpy as np

from ..errors import UsageError


def fmt_pct(x, digits=1):
    """A fraction as a percentage string (0.123 -> '12.3%')."""
    return ("%." + str(digits) + "f%%") % (100.0 * x)


def effect(a, b, claim=">", paired=True, level=0.95):
    """The effect ``a - b`` over repeated measurements (training seeds, data splits), tested
    with Student's t at ``level`` two-sided: **paired** over matched measurements (``a[i]``
    and ``b[i]`` from the same seed or split), else **Welch's** test (unequal variances, the
    Welch-Satterthwaite degrees of freedom) for arms that are different things.

    ``claim``: the direction the paper claims, ``">"`` (a above b) or ``"<"``. The outcome is
    one of three: ``holds`` (the confidence interval lies wholly on the claimed side),
    ``contradicted`` (wholly on the other side), ``not shown`` (it covers 0: neither; with few
    measurements this is not evidence of no effect). Returns the mean, its standard error,
    the degrees of freedom, the critical t, the interval and the outcome."""
    from scipy import stats
    if claim not in (">", "<"):
        raise UsageError("claim %r: expected '>' or '<'" % (claim,))
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    if paired:
        if a.shape != b.shape or len(a) < 2:
            raise UsageError("a paired effect needs two equally long lists of at least 2 values, got "
                             "%d and %d" % (len(a), len(b)))
        d = a - b
        mean, n = float(d.mean()), len(d)
        se, df = float(d.std(ddof=1) / np.sqrt(n)), n - 1
        test = "paired t"
    else:
        if len(a) < 2 or len(b) < 2:
            raise UsageError("Welch's test needs at least 2 values per arm, got %d and %d" % (len(a), len(b)))
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        mean, se = float(a.mean() - b.mean()), float(np.sqrt(va + vb))
        df = float((va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))) if va + vb > 0 else float(len(a) + len(b) - 2)
        test = "Welch t"
    t = float(stats.t.ppf(0.5 + level / 2.0, df))
    lo, hi = mean - t * se, mean + t * se
    above, below = lo > 0, hi < 0
    if claim == "<":
        above, below = below, above
    outcome = "holds" if above else ("contradicted" if below else "not shown")
    return {"test": test, "level": level, "claim": "a %s b" % claim, "mean": mean, "se": se, "df": df,
            "t_critical": t, "ci": [lo, hi], "outcome": outcome,
            "a": a.tolist(), "b": b.tolist()}


def equivalence(a, b, margin, paired=True, level=0.95):
    """A claim that ``a - b`` is *small*: within ``+-margin``. The interval of :func:`effect`
    at ``level``; ``holds`` when it lies wholly inside (-margin, margin), ``contradicted``
    when wholly outside it (the difference is larger than the margin, either way), ``not
    shown`` otherwise (with few measurements, the usual answer)."""
    if not margin > 0:
        raise UsageError("equivalence margin must be > 0, got %r" % (margin,))
    e = effect(a, b, ">", paired=paired, level=level)
    lo, hi = e["ci"]
    inside, outside = -margin < lo and hi < margin, lo > margin or hi < -margin
    return dict(e, claim="|a - b| < %g" % margin, margin=margin,
                outcome="holds" if inside else ("contradicted" if outside else "not shown"))


def combine_outcomes(outcomes):
    """One part of a claim tested in several settings (e.g. two occluder sizes): ``holds`` when
    it holds in every one, ``contradicted`` when it is contradicted in every one, ``partly``
    when it holds in some, ``not shown`` otherwise (and when there are none)."""
    outcomes = list(outcomes)
    for o in outcomes:
        if o not in OUTCOMES:
            raise UsageError("outcome %r: expected one of %s" % (o, ", ".join(OUTCOMES)))
    if outcomes and all(o == "holds" for o in outcomes):
        return "holds"
    if outcomes and all(o == "contradicted" for o in outcomes):
        return "contradicted"
    return "partly" if "holds" in outcomes else "not shown"


OUTCOMES = ("holds", "contradicted", "not shown", "partly")


def verdict_of(outcomes):
    """A row's verdict from the outcomes of the parts of its claim: ``yes`` when every part
    holds, ``partly`` when some hold (or hold in part), ``no`` when none does and some are
    contradicted, ``not shown`` otherwise."""
    outcomes = list(outcomes)
    if outcomes and all(o == "holds" for o in outcomes):
        return "yes"
    if any(o in ("holds", "partly") for o in outcomes):
        return "partly"
    if any(o == "contradicted" for o in outcomes):
        return "no"
    return "not shown"
