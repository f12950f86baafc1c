"""fastnews: fast TextCNN text classifiers on pretrained word vectors, shipped as ONNX.

Inference (``Classifier``, ``predict``) needs numpy, numba and onnxruntime only; training
and export live in ``fastnews.train`` and ``fastnews.export`` and import torch.
"""

__version__ = "0.1.0"

__all__ = ["Classifier", "FastnewsError", "predict", "__version__"]


def __getattr__(name):
    # Lazy, so that `import fastnews` stays cheap and never pulls in onnxruntime needlessly.
    if name == "Classifier":
        from fastnews.infer import Classifier
        return Classifier
    if name == "predict":
        from fastnews.batch_predict import predict
        return predict
    if name == "FastnewsError":
        from fastnews.errors import FastnewsError
        return FastnewsError
    raise AttributeError(name)
