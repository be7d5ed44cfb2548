// name: neuron_rows
// description: The columns every neuron list shows, for the given neuron ids (in no particular order).
// param ids: LIST<STRING>  neuron ids (model:layer:neuron)
UNWIND $ids AS nid
MATCH (n:Neuron {id: nid})
RETURN n.id AS id, n.model AS model, n.layer AS layer, n.neuron AS neuron, n.sign AS sign, n.status AS status, n.f1 AS f1,
       n.precision AS precision, n.recall AS recall, n.ood_f1 AS ood_f1, n.activating_tokens AS activating_tokens,
       n.example AS example
