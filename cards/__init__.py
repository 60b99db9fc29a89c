"""Adaptive Cards for every step of the conversation: pure functions from view models.

Start at :func:`cards.build.build_card` (any view model to its card dict), the view
models in :mod:`cards.views`, the button verbs in :mod:`cards.verbs` and the texts in
:mod:`cards.texts`.
"""
