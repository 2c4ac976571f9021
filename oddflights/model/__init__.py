"""The model: the seed's dense autoencoder, honest pixel metrics, training and the registry.

Importing this package does not import TensorFlow; the modules that need Keras import it.
"""
