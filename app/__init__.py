"""kbqa's Streamlit app: a thin client of the ``rag`` API (``kbqa app`` starts it).

``streamlit_app`` is the page; ``chat`` and ``library_view`` its two views; ``sidebar`` the
controls; ``resources`` the models and knowledge bases shared by all sessions; ``ui`` the shared
widgets (errors as one sentence, sources). ``library`` (upload names, files) and ``markup`` (safe
Markdown of document text) are plain functions without Streamlit. Strings live in ``i18n``.
"""
