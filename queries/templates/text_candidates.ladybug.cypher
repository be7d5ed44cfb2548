// name: text_candidates
// description: A text search's candidate edges: for each distinct token of the text, the activating-token edges whose root can predict most (the per_token strongest by max_end, the largest end of its patterns) and those whose token alone predicts most (as many by bare_end), ties included, with the root's GraphNode id and evidence; `floor` is the lowest max_end taken (-1: every edge of the token).
// param tokens: LIST<STRING>  the text's distinct token keys (as the graphs key tokens: `n2g.model.token_keys`)
// param per_token: INT  edges to take per token by each of the two orders
// note: LadybugDB variant: its WITH ... ORDER BY needs a LIMIT, so each token's values are sorted with list_sort
// note: (no bare end counting as -1) and read at a guarded 1-based index (CASE evaluates both branches there).
// note: Only numbers are read along the edges: a text property of the neuron reached there costs ~0.1 ms a row,
// note: read by key (`text_roots`) a hundred times less.
UNWIND $tokens AS x
MATCH (:Token {text: x})<-[a:ACTIVATES_ON]-(:Neuron)
WHERE a.max_end IS NOT NULL
WITH x, list_sort(collect(a.max_end), 'DESC') AS tops, list_sort(collect(coalesce(a.bare_end, -1.0)), 'DESC') AS bares
WITH x, tops, bares, CASE WHEN size(tops) > $per_token THEN $per_token ELSE 1 END AS at
WITH x, CASE WHEN size(tops) > $per_token THEN list_extract(tops, at) ELSE -1.0 END AS lowest,
     CASE WHEN size(tops) > $per_token THEN list_extract(bares, at) ELSE -1.0 END AS lowest_bare
MATCH (:Token {text: x})<-[a:ACTIVATES_ON]-(:Neuron)
WHERE a.max_end IS NOT NULL AND (a.max_end >= lowest OR (a.bare_end IS NOT NULL AND a.bare_end >= lowest_bare))
RETURN x AS token, lowest AS floor, a.root AS root, a.max_end AS max_end, a.bare_end AS bare_end,
       coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0) AS hits,
       coalesce(a.test_predictions, 0) + coalesce(a.random_predictions, 0) AS predictions
