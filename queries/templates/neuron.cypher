// name: neuron
// description: One neuron's summary: status, scores on held-out and random text, baselines, tokens and its graph as JSON.
// param id: STRING  the neuron's id (model:layer:neuron, model:layer:neuron- for a negative graph)
MATCH (n:Neuron {id: $id})
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.activating_tokens AS activating_tokens,
       n.example AS example, n.reason AS reason, n.a_max AS a_max, n.pearson AS pearson,
       n.ood_precision AS ood_precision, n.ood_recall AS ood_recall, n.token_lookup_f1 AS token_lookup_f1,
       n.ngram_f1 AS ngram_f1, n.n_graph_nodes AS n_graph_nodes, n.n_activating AS n_activating,
       n.n_context AS n_context, n.repeated_tokens AS repeated_tokens, n.repeated_share AS repeated_share,
       n.signature AS signature, n.graph_json AS graph_json
