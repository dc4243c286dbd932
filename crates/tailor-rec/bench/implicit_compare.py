#!/usr/bin/env python3
"""Train the `implicit` library's models on the splits Tailor wrote and print the same metrics.

Usage:  python3 bench/implicit_compare.py [--splits target/rec-eval/splits] [--threads 2]

The Rust example `cargo run --release -p tailor-rec --example eval_datasets` writes one
folder per dataset/protocol with train.tsv, test.tsv, split.json and params.json (see
crates/tailor-rec/src/eval/export.rs for the format). This script creates its own venv under
bench/.venv on first use, installs implicit, numpy and scipy from PyPI, and re-runs itself
there. Models: implicit ALS (conjugate gradient, same factors, iterations, regularization,
confidence and threads as Tailor's ALS), BPR and CosineRecommender (item-item, K=100).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import time
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv"
PACKAGES = ["implicit==0.7.3", "numpy", "scipy"]
MAX_K = 50


def ensure_venv():
    """Re-exec inside bench/.venv, creating it and installing the packages if needed."""
    py = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not py.exists():
        print(f"==> creating {VENV}", flush=True)
        venv.create(VENV, with_pip=True)
    probe = subprocess.run([str(py), "-c", "import implicit, numpy, scipy"], capture_output=True)
    if probe.returncode != 0:
        print(f"==> pip install {' '.join(PACKAGES)}", flush=True)
        subprocess.check_call([str(py), "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", *PACKAGES])
    env = dict(os.environ)
    # implicit runs its own threads; BLAS threads would oversubscribe the cores.
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    os.execve(str(py), [str(py), __file__, *sys.argv[1:]], env)


def read_tsv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return header, rows


def metrics_for(lists, targets, protocol, catalog, item_users, n_users):
    """Same definitions as crates/tailor-rec/src/eval/metrics.rs."""
    n = max(len(lists), 1)

    def mean(fn):
        return sum(fn(l, t) for l, t in zip(lists, targets)) / n

    def first_hit(l, t, k):
        for p, i in enumerate(l[:k]):
            if i in t:
                return p + 1
        return None

    def hr(k):
        return mean(lambda l, t: 1.0 if first_hit(l, t, k) else 0.0)

    def mrr(k):
        return mean(lambda l, t: 1.0 / first_hit(l, t, k) if first_hit(l, t, k) else 0.0)

    def ndcg(k):
        def one(l, t):
            dcg = sum(1.0 / math.log2(p + 2) for p, i in enumerate(l[:k]) if i in t)
            ideal = sum(1.0 / math.log2(p + 2) for p in range(min(len(t), k)))
            return dcg / ideal if ideal else 0.0
        return mean(one)

    def recall(k):
        return mean(lambda l, t: sum(1 for i in l[:k] if i in t) / len(t))

    lk = 20 if protocol == "session" else 10
    seen = set()
    nov, cnt = 0.0, 0
    for l in lists:
        for i in l[:lk]:
            seen.add(i)
            nov += -math.log2(max(item_users[i], 1) / n_users)
            cnt += 1
    out = {}
    if protocol == "session":
        out["HR@20"] = hr(20)
        out["MRR@20"] = mrr(20)
    else:
        out["HR@10"] = hr(10)
        out["NDCG@10"] = ndcg(10)
        out["Recall@20"] = recall(20)
        out["MRR@20"] = mrr(20)
    out[f"Cov@{lk}"] = len(seen) / catalog
    out[f"Nov@{lk}"] = nov / max(cnt, 1)
    first = next(iter(out.values()))
    out["_se"] = math.sqrt(first * (1 - first) / n)
    return out


def run_split(folder, threads):
    import numpy as np
    import scipy.sparse as sp
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    meta = json.loads((folder / "split.json").read_text())
    params = json.loads((folder / "params.json").read_text())
    protocol = meta["protocol"]["protocol"]
    weights = meta["kind_weights"]
    n_users, n_items = meta["n_users"], meta["n_items"]
    _, train = read_tsv(folder / "train.tsv")
    agg = {}
    users_of = [set() for _ in range(n_items)]
    for u, i, kind, _ts in train:
        u, i = int(u), int(i)
        agg[(u, i)] = agg.get((u, i), 0.0) + weights[kind]
        users_of[i].add(u)
    item_users = [len(s) for s in users_of]
    alpha = params["alpha"]

    def csr(entries, shape, value):
        keys = list(entries)
        r = np.array([k[0] for k in keys], dtype=np.int32)
        c = np.array([k[1] for k in keys], dtype=np.int32)
        v = np.array([value(entries[k]) for k in keys], dtype=np.float32)
        return sp.csr_matrix((v, (r, c)), shape=shape).tocsr()

    # implicit's confidence is alpha * value; passing 1 + alpha * w with its alpha = 1 gives
    # Tailor's c = 1 + alpha * w. Item-item and BPR see the summed weights.
    conf = csr(agg, (n_users, n_items), lambda w: 1.0 + alpha * w)
    weighted = csr(agg, (n_users, n_items), lambda w: w)

    _, test = read_tsv(folder / "test.tsv")
    if protocol == "temporal":
        by_user = {}
        for u, i in test:
            by_user.setdefault(int(u), set()).add(int(i))
        case_users = sorted(by_user)
        targets = [by_user[u] for u in case_users]
        ctx_conf = conf[case_users]
        ctx_weighted = weighted[case_users]
    else:
        sessions = {}
        order = []
        for s, i, _ts in test:
            if s not in sessions:
                sessions[s] = []
                order.append(s)
            sessions[s].append(int(i))
        prefixes, targets = [], []
        for s in order:
            items = sessions[s]
            for p in range(1, len(items)):
                prefixes.append(items[:p])
                targets.append({items[p]})
        rows = {}
        for r, pre in enumerate(prefixes):
            for i in pre:
                rows[(r, i)] = rows.get((r, i), 0.0) + weights["view"]
        ctx_weighted = csr(rows, (len(prefixes), n_items), lambda w: w)
        ctx_conf = csr(rows, (len(prefixes), n_items), lambda w: 1.0 + alpha * w)
        case_users = list(range(len(prefixes)))
    filter_liked = protocol == "temporal"
    results = []

    def evaluate(name, recommend, fit_secs, per_iter):
        t = time.perf_counter()
        ids = recommend()
        eval_secs = time.perf_counter() - t
        lists = [list(map(int, row)) for row in ids]
        m = metrics_for(lists, targets, protocol, n_items, item_users, n_users)
        results.append((name, fit_secs, per_iter, eval_secs, m))

    als = AlternatingLeastSquares(factors=params["factors"], regularization=params["regularization"],
                                  alpha=1.0, iterations=params["iterations"], use_cg=True,
                                  num_threads=threads, random_state=42)
    ticks = [time.perf_counter()]
    t = ticks[0]
    try:
        als.fit(conf, show_progress=False, callback=lambda *_: ticks.append(time.perf_counter()))
    except TypeError:  # an implicit without the callback argument
        als.fit(conf, show_progress=False)
    fit = time.perf_counter() - t
    iters = sorted(b - a for a, b in zip(ticks, ticks[1:]))
    if iters:
        print(f"implicit-als s/iteration: mean {sum(iters) / len(iters):.4f}, "
              f"median {iters[len(iters) // 2]:.4f}, min {iters[0]:.4f}", flush=True)
    if protocol == "temporal":
        rec = lambda: als.recommend(np.array(case_users), ctx_conf, N=MAX_K,
                                    filter_already_liked_items=True)[0]
    else:
        rec = lambda: als.recommend(np.array(case_users), ctx_conf, N=MAX_K,
                                    filter_already_liked_items=False, recalculate_user=True)[0]
    evaluate("implicit-als", rec, fit, fit / params["iterations"])

    bpr = BayesianPersonalizedRanking(factors=params["factors"], iterations=100,
                                      num_threads=threads, random_state=42)
    t = time.perf_counter()
    bpr.fit(weighted, show_progress=False)
    fit = time.perf_counter() - t
    if protocol == "temporal":
        rec = lambda: bpr.recommend(np.array(case_users), ctx_weighted, N=MAX_K,
                                    filter_already_liked_items=True)[0]
    else:
        # BPR cannot fold in a new user: use the mean of the prefix's item factors.
        def rec():
            f = bpr.item_factors
            f = f.to_numpy() if hasattr(f, "to_numpy") else f
            out = []
            for pre in prefixes:
                u = f[pre].mean(axis=0)
                scores = f @ u
                out.append(np.argsort(-scores)[:MAX_K])
            return out
    evaluate("implicit-bpr", rec, fit, fit / 100)

    cos = CosineRecommender(K=100, num_threads=threads)
    t = time.perf_counter()
    cos.fit(weighted, show_progress=False)
    fit = time.perf_counter() - t
    rec = lambda: cos.recommend(np.array(case_users), ctx_weighted, N=MAX_K,
                                filter_already_liked_items=filter_liked)[0]
    evaluate("implicit-cosine", rec, fit, None)

    print(f"\n{meta['dataset']} — {protocol} protocol (implicit {__import__('implicit').__version__}, "
          f"{threads} threads): {len(train)} train rows, {len(targets)} test cases, "
          f"catalog {n_items}")
    names = [k for k in results[0][4] if k != "_se"]
    print(f"{'model':<22} {'train s':>9} {'s/iter':>8} {'eval s':>8}" + "".join(f" {n:>12}" for n in names))
    for name, fit, per, ev, m in results:
        per_s = f"{per:.3f}" if per is not None else "-"
        cells = []
        for j, n in enumerate(names):
            cells.append(f" {m[n]:.4f}±{m['_se']:.4f}".rjust(13) if j == 0 else f" {m[n]:>12.4f}")
        print(f"{name:<22} {fit:>9.2f} {per_s:>8} {ev:>8.2f}" + "".join(cells))
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--splits", default=str(HERE.parent.parent.parent / "target" / "rec-eval" / "splits"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default=None, help="run only split folders whose name contains this")
    args = ap.parse_args()
    ensure_venv()
    folders = sorted(p for p in Path(args.splits).iterdir() if (p / "split.json").exists())
    if not folders:
        sys.exit(f"no splits under {args.splits}: run the eval_datasets example first")
    for folder in folders:
        if args.only and args.only not in folder.name:
            continue
        run_split(folder, args.threads)


if __name__ == "__main__":
    main()
