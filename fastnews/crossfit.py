"""The final classifier's step, after the network's training: held-out chunks of train,
the members' scores on them, the combination (members.py), and the refit on all of train.

The first chunk is always the validation split that the main network early-stops on.
When that split is small (under SMALL_VAL documents, where one document moves accuracy
by a tenth of a point or more), more chunks of the same size are drawn from the rest of
train, disjoint and stratified, each scored by a network and linear members trained on
everything else: cross-fitting. Five chunks of a 3,000-document corpus give 1,500 held-out
documents instead of 300, for six times the network's training cost (four more networks and
the refit on all of train), which on such a corpus is seconds.
"""

from __future__ import annotations

import time

import numpy as np

from fastnews import heap, members
from fastnews.checkpoint import predict_logits, snapshot
from fastnews.corpus import Splits
from fastnews.ragged import Split
from fastnews.splitting import stratified_split

SMALL_VAL = 1000
# A multi-label chunk costs a network and a binary SVM per label: Reuters (90 labels) took
# 5.7 minutes with 5 chunks; with 3, its thresholds rest on 2,366 held-out documents (bench/RESULTS.md).
MULTI_LABEL_FOLDS = 3


def n_chunks(n_val: int, folds: int, distributed: bool, multi_label: bool = False) -> int:
    """How many held-out chunks to use: folds (at most MULTI_LABEL_FOLDS for a multi-label
    corpus) for a small validation split, else 1. Under DDP only the validation split (the
    extra networks would train on rank 0 alone)."""
    if distributed or n_val >= SMALL_VAL:
        return 1
    return max(1, min(folds, MULTI_LABEL_FOLDS) if multi_label else folds)


def held_out_chunks(s, multi_label: bool) -> int:
    """n_chunks for train.py's session s: known once train is split, used before the epochs
    (whether the texts are needed again) and after them (add_members)."""
    return n_chunks(len(s.val_index), s.cfg.folds, s.world.enabled, multi_label)


def extra_chunks(labels: np.ndarray, val_idx: np.ndarray, n: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, held) index pairs into train for chunks 2..n: each held chunk as large as the
    validation split and stratified, drawn from documents no earlier chunk holds."""
    pool = np.setdiff1d(np.arange(labels.shape[0]), val_idx)
    out = []
    for k in range(1, n):
        if pool.shape[0] < 2 * val_idx.shape[0]:
            break
        _, pick = stratified_split(labels[pool], val_idx.shape[0] / pool.shape[0], seed + k)
        held = pool[pick]
        pool = np.setdiff1d(pool, held)
        out.append((np.setdiff1d(np.arange(labels.shape[0]), held), held))
    return out


def add_members(s, state, splits: Splits, glove, fit_fold) -> dict:
    """Rank 0, after training (train.py's session s and progress state): score the network and
    the linear members on held-out chunks of train, fit_fold(s, glove, fit, held) training the
    networks of the extra chunks; choose their combination (members.py); refit the members on
    all of train (the network too when cross-fitted: with one chunk it keeps its early stop);
    fold everything into the best weights. -> its figures, for metrics.json."""
    cfg, t0, k = s.cfg, time.perf_counter(), len(s.names)
    linear = cfg.linear_members
    if splits.train.multi_label and "cnb" in linear:  # its scores rank classes against each other: no one-vs-rest
        s.log("multi-label: the cnb member is single-label only; left out")
        linear = tuple(m for m in linear if m != "cnb")
    params = {m: members.grid(m, cfg.svm_c if m == "svm" else cfg.cnb_alpha) for m in linear}
    chunks = held_out_chunks(s, splits.train.multi_label)
    s.log(f"choosing the combination of the network and {', '.join(linear) or 'no linear member'} on "
          f"{chunks} held-out chunk{'s' if chunks > 1 else ''} of train")
    if chunks == 1:  # no more networks to train: the epochs' heap can go (cross-fitted corpora are small)
        heap.release_freed_memory()
    heldout = members.Heldout()

    def score(fold) -> None:
        fit, held = fold.data["train"], fold.data["val"]
        features = members.LinearFeatures.fit(fit, fit.labels.cpu().numpy(), fold.tok.n_ids, k,
                                              cfg.svm_buckets, cfg.min_df, cfg.class_weight)
        heldout.add(held.labels.cpu().numpy(), {"net": predict_logits(fold.model, held),
                                                **members.linear_heldout(features, held, params, cfg.seed,
                                                                         fold.log, fold.progress)})
    score(s)
    extra = extra_chunks(splits.train.labels, s.val_index, chunks, cfg.seed)
    for i, (fit_idx, held_idx) in enumerate(extra, start=2):
        s.log(f"  chunk {i}/{len(extra) + 1}: a network and the linear members on the other {len(fit_idx)} documents")
        score(fit_fold(s, glove, splits.train.subset(fit_idx), splits.train.subset(held_idx)))
    combo = members.choose(heldout, linear)
    if extra:
        refit_network(s, state, glove, splits, fit_fold)
        ids, labels = s.data["train"], splits.train.labels
    else:
        ids = Split.concat([s.data["train"], s.data["val"]])
        labels = splits.train.labels[np.concatenate([s.train_index, s.val_index])]
    s.log(f"fitting the chosen linear members on all {len(labels)} training documents")
    features = members.LinearFeatures.fit(ids, labels, s.tok.n_ids, k, cfg.svm_buckets, cfg.min_df, cfg.class_weight)
    s.model = members.apply(s.model, combo, features, cfg.svm_buckets, cfg.seed, cfg.calibration == "top-label")
    state.best_state = snapshot(s.model)
    used = " + ".join(f"{w:.3g} x {m}" + (f"({members.PARAM[m]}={combo.params[m]:g})" if m in combo.params else "")
                      for m, w in combo.weights.items())
    alone = ", ".join(f"{m} {combo.member_accuracy[m]:.4f} / {combo.member_nll[m]:.4f}" for m in combo.weights)
    s.log(f"combination {used}: held-out accuracy {combo.heldout_accuracy:.4f}, cross-entropy {combo.heldout_nll:.4f} "
          f"on {combo.n_heldout} documents (alone: {alone}), {time.perf_counter() - t0:.1f}s")
    return {"weights": combo.weights, "params": combo.params, "heldout_accuracy": combo.heldout_accuracy,
            "heldout_nll": combo.heldout_nll, "member_accuracy": combo.member_accuracy, "member_nll": combo.member_nll,
            "n_heldout": combo.n_heldout, "chunks": len(extra) + 1, "top_label_map": list(combo.top_label_map),
            "seconds": time.perf_counter() - t0}


def refit_network(s, state, glove, splits: Splits, fit_fold) -> None:
    """After cross-fitting: the network retrained on all of train for the main run's best
    number of epochs, in place of the one that left the validation split out. Its vocabulary,
    idf and every encoded split replace the session's."""
    t0 = time.perf_counter()
    s.log(f"refitting the network on all {len(splits.train)} training documents for {state.best['epoch']} epochs")
    full = fit_fold(s, glove, splits.train, splits.train.subset(s.val_index), until=state.best["epoch"])
    s.tok, s.model, s.data, s.n_found = full.tok, full.model, full.data, full.n_found
    s.data["test"] = Split.encode(s.tok, splits.test.texts, splits.test.labels, s.device)
    s.log(f"refitted in {time.perf_counter() - t0:.1f}s: vocabulary {len(s.tok.vocab)} words")
