"""The model: the fitted Detector (numpy) that scoring uses, and the seed's dense autoencoder,
honest pixel metrics and training that make it.

Only training imports TensorFlow (``train``, ``autoencoder``, ``keras_metrics``, ``registry``,
through ``tf_quiet`` first so that a user sees no C++ start-up noise); ``detector``,
``train_config``, ``score``, ``metrics`` and ``threshold`` are numpy.
"""
