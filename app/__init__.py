"""kbqa's Streamlit app: a thin client of the ``rag`` API (``kbqa app`` starts it).

``streamlit_app.py`` is the page; ``chat`` and ``library_view`` are its two views, ``sidebar`` the
controls, ``library`` and ``markup`` the plain (Streamlit-free) file and text helpers.
"""
