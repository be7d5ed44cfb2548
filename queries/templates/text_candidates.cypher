// name: text_candidates
// description: A text search's candidate edges: for each distinct token of the text, the activating-token edges whose root can predict most (the per_token strongest by max_end, the largest end of its patterns) and those whose token alone predicts most (as many by bare_end), ties included, with the root's GraphNode id and evidence; `floor` is the lowest max_end taken (-1: every edge of the token).
// param tokens: LIST<STRING>  the text's distinct token keys (as the graphs key tokens: `n2g.model.token_keys`)
// param per_token: INT  edges to take per token by each of the two orders
// note: only numbers are read along the edges; `text_roots` then reads each root's neuron and patterns by key.
UNWIND $tokens AS x
MATCH (:Token {text: x})<-[a:ACTIVATES_ON]-(:Neuron)
WHERE a.max_end IS NOT NULL
WITH x, a.max_end AS e
ORDER BY e DESC
WITH x, collect(e) AS tops
OPTIONAL MATCH (:Token {text: x})<-[b:ACTIVATES_ON]-(:Neuron)
WHERE b.bare_end IS NOT NULL
WITH x, tops, b.bare_end AS e
ORDER BY e DESC
WITH x, tops, collect(e) AS bares
WITH x, CASE WHEN size(tops) > $per_token THEN tops[$per_token - 1] ELSE -1.0 END AS lowest,
     CASE WHEN size(bares) > $per_token THEN bares[$per_token - 1] ELSE -1.0 END AS lowest_bare
MATCH (:Token {text: x})<-[a:ACTIVATES_ON]-(:Neuron)
WHERE a.max_end IS NOT NULL AND (a.max_end >= lowest OR (a.bare_end IS NOT NULL AND a.bare_end >= lowest_bare))
RETURN x AS token, lowest AS floor, a.root AS root, a.max_end AS max_end, a.bare_end AS bare_end,
       coalesce(a.test_hits, 0) + coalesce(a.random_hits, 0) AS hits,
       coalesce(a.test_predictions, 0) + coalesce(a.random_predictions, 0) AS predictions
