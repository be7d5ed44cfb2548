"""`n2g serve`: a local web app over a store, read-only, on either engine.

    backend    the open store (`queries.search.NeuronSearch`, read-only), one lock, caches, exemplars and tokenizers
    api        the JSON API: `/api/search` (every `n2g-search` option as a query parameter, generated from
               `queries.request.SearchRequest`), `/api/neuron/{layer}:{neuron}`, `/api/models`, `/api/model/{name}`
    neuron     what a neuron page shows, gathered once for the page and its JSON
    windows    top windows shaded by real activation with the graph's prediction (exemplars), or the stored example
    pages      the HTML pages: search, neuron, model (Jinja2 templates in `templates/`, CSS and JS in `static/`)
    app        `create_app(db)`: the FastAPI application, its error handling (4xx JSON, never a traceback)
"""
