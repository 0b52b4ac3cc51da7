"""The network: configurations as data, layers, the switch-pooling op, the model builder.

May import: :mod:`zfnet.backend` (Theano/Lasagne), :mod:`zfnet.errors`; ``configs`` and
``shapes`` import no Theano. Nothing here knows about files, datasets or pictures.
"""
