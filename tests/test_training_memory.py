"""Training memory grows with the corpus's words, not with documents x max_len.

Two default runs (--epochs 1) on corpora of real paragraphs (bench/scale.py builds them from
20news and Reuters: the same paragraphs, copied with their words shuffled), each in a fresh
process that reports its own peak resident set (VmHWM). What each added document costs at the peak must let the smaller run
grow to the 1M-document target: (6 GB - its peak) / (1M - its size), about 4.6 KB. The
padded layout held a (n, 1000) int32 row per document: 4 KB before any feature.

The children run with glibc's mmap threshold fixed, so that the figure is what the run holds:
by default glibc's heap keeps the freed activations of a run's batches, fragmented, and that
grows with the batches run (bench/RESULTS.md), hiding the data's own slope at these sizes.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SHARED

# Paragraphs of one set of 10,000 (DISTINCT), three and six times over: with each word seen
# at least twice in both, both runs have the same vocabulary (min_count 2), so the model, its
# optimiser and the members' (features x classes) tables are the same size, and what differs is
# what the run holds per document. Both validation splits hold over 1,000 documents: one chunk.
DISTINCT = 10_000
SIZES = (30_000, 60_000)
TARGET_DOCS, TARGET_PEAK = 1_000_000, 6e9


def _scale():
    spec = importlib.util.spec_from_file_location("scale", ROOT / "bench" / "scale.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_peak_memory_per_added_document_fits_the_million_document_budget(tmp_path):
    scale = _scale()
    peaks, vocab = {}, {}
    for n in SIZES:
        corpus = tmp_path / f"paragraphs-{n}.jsonl"
        scale.build_corpus(SHARED.parent, n, corpus, distinct=DISTINCT)
        done = subprocess.run([sys.executable, str(ROOT / "bench" / "scale.py"), "--child", "fastnews", str(corpus),
                               str(tmp_path / f"run-{n}")], capture_output=True, text=True,
                              env={**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"})
        assert done.returncode == 0, done.stderr[-2000:]
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        assert figures["test_accuracy"] > 0.5  # a real model, not a run that skipped its work
        peaks[n] = figures["peak_gb"] * 1e9
        vocab[n] = json.loads((tmp_path / f"run-{n}" / "metrics.json").read_text())["vocab_size"]
    assert abs(vocab[SIZES[1]] - vocab[SIZES[0]]) < 0.02 * vocab[SIZES[0]], vocab
    per_doc = (peaks[SIZES[1]] - peaks[SIZES[0]]) / (SIZES[1] - SIZES[0])
    budget = (TARGET_PEAK - peaks[SIZES[0]]) / (TARGET_DOCS - SIZES[0])
    said = f"{per_doc:.0f} bytes per added document at the peak, budget {budget:.0f} ({peaks}, vocabulary {vocab})"
    print(said)
    assert per_doc < budget, said


def test_heap_release_leaves_a_users_threshold_alone():
    """heap.release_freed_memory acts on glibc unless the user fixed the threshold themselves."""
    code = "from fastnews.heap import release_freed_memory; print(release_freed_memory())"
    said = {}
    for name, extra in (("default", {}), ("user's", {"MALLOC_MMAP_THRESHOLD_": "1048576"})):
        env = {k: v for k, v in os.environ.items() if k != "MALLOC_MMAP_THRESHOLD_"} | extra
        said[name] = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                                    check=True).stdout.strip()
    assert said == {"default": "True", "user's": "False"}
