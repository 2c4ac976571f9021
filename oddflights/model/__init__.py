"""The model: the seed's dense autoencoder, honest pixel metrics, training and the registry.

Importing this package does not import TensorFlow; the modules that need Keras import it,
through ``tf_quiet`` first so that a user sees no C++ start-up noise.
"""
